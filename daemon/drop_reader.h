// Reads one dropped file and its sidecar, safely: never follows a symlink, never blocks on a
// FIFO, never reads more than the inbox allows. Runs on libuv's thread pool.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "pipeline/error.h"
#include "pipeline/ossl.h"
#include "storage/inventory.h"

namespace certinbox::daemon {

struct Drop {
  std::string bytes;
  std::string sha256;                            // lowercase hex of the file's bytes
  storage::DropMetadata meta;                    // from the sidecar, with the inbox's defaults
  std::vector<pipeline::SecretBytes> passwords;  // sidecar, sidecar's password_file, inbox's
};

// Reason codes: symlink, not_regular_file, file_too_large, unreadable, bad_sidecar.
pipeline::Result<Drop> ReadDrop(const std::filesystem::path& file,
                                const std::optional<std::filesystem::path>& sidecar,
                                const InboxConfig& inbox);

// Reads at most `max_bytes` of a regular file without following symlinks or blocking.
pipeline::Result<std::string> ReadRegularFile(const std::filesystem::path& file, uint64_t max_bytes);

}  // namespace certinbox::daemon
