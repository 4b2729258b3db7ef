// Small POSIX file helpers for the inbox watcher: folders, no-replace renames, atomic writes,
// and the hand-written JSON string escaping used by NAME.error.json. Synchronous; any thread.
// A failure is a base::Error with code unwritable (a folder or file that could not be made,
// written or moved) and a sentence naming the path and the cause.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/fd.h"
#include "base/time.h"

namespace certinbox::watchers {

// strerror_r as a std::string.
std::string ErrnoText(int err);

// An unwritable error: `what`, or `what` and the cause `err` (an errno).
std::unexpected<base::Error> Unwritable(std::string what);
std::unexpected<base::Error> Unwritable(int err, const std::string& what);

// The folder `name` directly in `dir_fd`, created (mode `mode`) when missing, opened without
// following a symlink: a folder someone replaced with a link elsewhere is an error (ENOTDIR or
// ELOOP), never a way out of `dir_fd`.
base::Result<base::Fd> OpenSubdir(int dir_fd, const std::string& name, mode_t mode);

// `name` directly in `dir_fd`, opened read-only with O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC (never
// a symlink's target, never blocking on a FIFO). Returns the descriptor or errno.
std::expected<base::Fd, int> OpenInDir(int dir_fd, const std::string& name);

// renameat2(RENAME_NOREPLACE) between two folders given by descriptors: 0, EEXIST or errno.
// Falls back to fstatat + renameat where the filesystem lacks RENAME_NOREPLACE.
int RenameNoReplaceAt(int from_dir, const std::string& from, int to_dir, const std::string& to);

// Moves `from` in `from_dir` to `to_dir` as `base`, or base.1, base.2, ... when taken (never
// replacing a file), each shortened as OutcomeName says when it would leave less than `room`
// bytes below kMaxNameBytes. Returns the name used. `shown` names the file in the error sentence.
base::Result<std::string> MoveToUniqueNameAt(int from_dir, const std::string& from, int to_dir,
                                             std::string_view base, std::string_view shown,
                                             size_t room = 0);

// Writes `content` to a new hidden temporary file in the folder `dir_fd` (mode `mode`, fsynced)
// and returns its name there; the caller renames it into place or removes it.
base::Result<std::string> WriteTempFileAt(int dir_fd, std::string_view content, mode_t mode);

// Creates the folder `dir` with `mode` (the umask applies) when it is missing, but never its
// parents: an inbox path with a typo must not become a tree of folders made by root. An
// existing folder is left as it is; an existing non-folder, or a missing parent, is an error.
base::Result<void> MakeDir(const std::filesystem::path& dir, mode_t mode);

// "base" for n == 0, else "base.N".
std::string Suffixed(std::string_view base, int n);

// Probes at most this many suffixes before giving up.
inline constexpr int kMaxSuffix = 10000;

// The longest file name Linux filesystems take (NAME_MAX).
inline constexpr size_t kMaxNameBytes = 255;
// The longest name ShortenedName makes: room left for a suffix ".9999" and ".error.json".
inline constexpr size_t kMaxShortenedBytes = kMaxNameBytes - 5 - 11;

// A name of at most kMaxShortenedBytes standing for `name`: a prefix of it cut on a UTF-8
// character boundary, "~", the first 8 hex digits of the SHA-256 of all of `name`, and its
// extension (from its last '.') when that is at most 16 bytes. `name` itself when it is not
// longer than kMaxShortenedBytes.
std::string ShortenedName(std::string_view name);

// The n-th name tried for `base` in an outcome folder (failed/, processed/): Suffixed(base, n)
// when `room` more bytes (what goes after it there: ".error.json", ".toml") still fit within
// kMaxNameBytes, else Suffixed(ShortenedName(base), n). `room` is at most 11 (".error.json"),
// which a shortened name always leaves.
std::string OutcomeName(std::string_view base, int n, size_t room);

// fsync on a folder, so renames into it are durable. Returns 0 or errno.
int SyncDir(const std::filesystem::path& dir);

// True when `dir` is on NFS, SMB/CIFS, FUSE (sshfs and the like), 9p or AFS: filesystems whose
// timestamps come from another machine's clock. False when statfs fails.
bool OnNetworkFilesystem(const std::filesystem::path& dir);

// `text` as a quoted JSON string: quotes, backslashes and control characters escaped; bytes
// that are not valid UTF-8 become U+FFFD so the result is always valid JSON.
std::string JsonString(std::string_view text);

}  // namespace certinbox::watchers
