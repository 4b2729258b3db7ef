// Reading and writing whole small files safely: never through a symbolic link, never blocking on
// a FIFO, never leaving half a file behind. Synchronous; any thread.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certinbox::base {

struct ReadOptions {
  uint64_t max_bytes = 0;
  // A file with more than one link fails with hard_link: its other name may be anywhere, and
  // what is done to this one (a chmod) reaches it.
  bool refuse_hard_links = false;
  // How a too-large sentence names max_bytes ("max_file_bytes" for an inbox's limit).
  std::string_view limit_name = "the limit";
  // When given, receives what fstat said of the file that was read.
  struct stat* seen = nullptr;
};

// Reads the regular file `name` relative to the folder `dir_fd` (AT_FDCWD: relative to the
// working folder, or an absolute path): opened with O_NOFOLLOW | O_NONBLOCK, then fstat and read
// through that descriptor, so what is checked is what is read. A file that grows past max_bytes
// while it is read is refused, never cut. Fails with symlink, not_regular_file, hard_link,
// file_too_large or unreadable; the sentence names the file (escaped) and the cause.
Result<std::string> ReadRegularFileAt(int dir_fd, const std::filesystem::path& name,
                                      const ReadOptions& options);

// ReadRegularFileAt(AT_FDCWD, path, {max_bytes}).
Result<std::string> ReadRegularFile(const std::filesystem::path& path, uint64_t max_bytes);

struct WriteOptions {
  mode_t mode = 0600;
  // true: an existing file is replaced (atomically, by rename). false: fails with file_exists
  // when `path` exists (the new file is linked into place, which never replaces).
  bool replace = true;
  // true: the final mode is exactly `mode`. false: `mode` less the umask's bits.
  bool exact_mode = false;
  // fsync the folder after the rename, so the new name is durable.
  bool sync_folder = false;
};

// Writes `bytes` to `path` so that a reader sees the old file or the new one, never a part: a
// temporary file in the same folder (".NAME.XXXX.tmp", created with O_EXCL and `mode` from the
// start, so never readable by others even for a moment) is written, fsynced and renamed or linked
// into place, and removed on failure. Fails with file_exists (see WriteOptions::replace) or
// unwritable; the sentence names the file and the cause.
Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes,
                                 const WriteOptions& options);

}  // namespace certinbox::base
