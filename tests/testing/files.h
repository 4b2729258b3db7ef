// Reading and writing the small files a test makes or looks into.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace certinbox::testing {

// The whole file as bytes; "" when it is missing or unreadable.
std::string ReadFile(const std::filesystem::path& file);

// Writes `bytes` in place (created or truncated); the folder must exist.
void WriteFile(const std::filesystem::path& file, std::string_view bytes);

// Writes `bytes` beside `file` under a temporary name and renames it over `file`, so that a
// reader (the daemon on SIGHUP, a watcher) sees the old file or the new one, never half of it.
void ReplaceFile(const std::filesystem::path& file, std::string_view bytes);

inline bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace certinbox::testing
