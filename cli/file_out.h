// Writing files the way key material needs: created with their final mode (never chmod after
// writing), through a temporary name in the same folder and a link/rename, so a reader never
// sees half a file and an existing file is replaced only when asked.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace certinbox::cli {

// Writes `bytes` to `path` with `mode` (e.g. 0600). overwrite=false fails when `path` exists.
// Returns "" on success, else a sentence saying what went wrong.
std::string WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes,
                                unsigned mode, bool overwrite);

}  // namespace certinbox::cli
