// Reads one dropped file and its sidecar, safely: never follows a symlink, never blocks on a
// FIFO, never reads more than the inbox allows. Runs on libuv's thread pool.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "daemon/config.h"
#include "pipeline/error.h"
#include "pipeline/ossl.h"
#include "storage/inventory.h"

namespace certinbox::daemon {

// A regular file as stat saw it: the same five later mean it was not replaced, written or
// touched since (to within the tick of the clock that stamps mtime and ctime).
struct FileIdentity {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;

  bool operator==(const FileIdentity&) const = default;
};

// lstat of `path`: std::nullopt when it is missing or not a regular file.
std::optional<FileIdentity> IdentityOf(const std::filesystem::path& path);

struct Drop {
  std::string bytes;
  std::string sha256;                            // lowercase hex of the file's bytes
  storage::DropMetadata meta;                    // from the sidecar, with the inbox's defaults
  std::vector<pipeline::SecretBytes> passwords;  // sidecar, sidecar's password_file, inbox's
  FileIdentity file;                             // the file as it was read
  std::optional<FileIdentity> sidecar;           // the sidecar as it was read, if there was one
};

// The file, its sidecar and a sidecar's password_file are opened relative to the inbox's folder
// (the file's parent) with O_NOFOLLOW and read through their descriptors; a sidecar's
// password_file may only name a hidden file (".NAME") in that folder, and a sidecar's name, group
// and labels follow pipeline::CheckName. A sidecar's group must be one of the inbox's `groups`
// when it has them.
// Reason codes: symlink, not_regular_file, hard_link (the file or its sidecar has another link),
// file_too_large, unreadable, bad_sidecar, group_not_allowed.
base::Result<Drop> ReadDrop(const std::filesystem::path& file,
                            const std::optional<std::filesystem::path>& sidecar,
                            const InboxConfig& inbox);

}  // namespace certinbox::daemon
