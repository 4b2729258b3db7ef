// Watches one inbox folder with libuv and hands over files that have settled.
// Lives on the loop thread; every method must be called there.
#pragma once

#include <uv.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace certinbox::watchers {

// What the watcher learned of a file before handing it over. A file with a problem is still
// handed over (never silently skipped): the listener rejects it and calls Fail().
enum class FileProblem {
  kNone,
  kSymlink,     // reason code "symlink": not followed
  kNotRegular,  // reason code "not_regular_file": FIFO, device, socket, directory
  kTooLarge,    // reason code "file_too_large": not read
  kUnreadable,  // reason code "unreadable"
};

struct ReadyFile {
  std::string name;            // file name in the inbox (no directory part)
  std::filesystem::path path;  // dir / name
  uint64_t size = 0;
  FileProblem problem = FileProblem::kNone;
  // The file's identity as lstat saw it when it was handed over (or first seen, for
  // on_settling): a file with the same dev, ino, size, mtime and ctime was not replaced, written
  // or touched since (to within the clock tick that stamps them; ctime cannot be set by hand).
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  // uv_hrtime() when it was handed over settled (0 for on_settling): where an import's
  // latency is counted from.
  uint64_t ready_ns = 0;
};

struct InboxOptions {
  std::string name;           // the inbox's name, for logs
  std::filesystem::path dir;  // created (with failed/, and processed/ when archive) if missing
  // Size and mtime unchanged this long before a file is handed over. A file whose mtime is
  // already this old when it is first seen (renamed in from elsewhere) is handed over at once.
  uint64_t settle_ms = 500;
  uint64_t rescan_ms = 30000;  // periodic full scan, catches events the kernel dropped
  uint64_t max_file_bytes = 1 << 20;
  bool archive = false;  // success moves the file to processed/ (mode 0600), else removes it
  // Optional: called on the loop thread with a sentence when something went wrong that no
  // method can return (a failed rescan, a watch error, on_ready throwing). The sentence does not
  // name the inbox (the caller knows which one it set this for). Must not throw.
  std::function<void(std::string)> on_warning;
  // Optional: called on the loop thread when a regular, non-empty file within max_file_bytes is
  // first seen and has to wait settle_ms, in an inbox whose mtimes are trusted (not a network
  // filesystem) and fine-grained (not whole seconds, as FAT's or old ext4 inodes' are). The
  // listener may read it ahead of time (the daemon parses it then, while it settles); it is still
  // handed over only once settled, with the identity (ReadyFile::dev, ino, size, mtime_ns) it had
  // then, so the listener can tell whether what it read is still the file. Must not throw.
  std::function<void(const ReadyFile&)> on_settling;
  // Optional, for tests: called on the loop thread by Finish with each name it archives (the
  // file, then its sidecar) once that file is open and checked, before its chmod and move, so a
  // test can swap the name for a symbolic link at the worst moment. Must not throw.
  std::function<void(const std::string&)> on_archiving;
};

// Stable reason code for a problem ("" for kNone).
std::string_view ReasonCode(FileProblem problem);

// The sidecar of `name` in `dir`, if one exists as a regular file: NAME.toml, else STEM.toml
// for STEM.EXT. std::nullopt for a name with a folder part. Only lstat: safe on any thread
// (the daemon looks on its thread pool, beside reading the file).
std::optional<std::filesystem::path> FindSidecar(const std::filesystem::path& dir,
                                                 const std::string& name);

class InboxWatcher {
 public:
  using ReadyCallback = std::function<void(const ReadyFile&)>;

  // Creates the folders, starts the fs event watch and the rescan timer, and scans once at start.
  // Each settled file is handed to `on_ready` once, and not again until Finish/Fail/Release.
  // A file first seen with an mtime at least settle_ms in the past has settled already: it is
  // handed over on the next loop iteration. A released or rewritten file always waits settle_ms.
  // Names starting with "." or ending in .tmp, .part, .swp, ~ and sidecars (*.toml) are left alone.
  // Fails with inbox_not_watched when the folder cannot be created or watched.
  // on_ready runs on the loop thread and may call Finish/Fail/Release, or destroy the watcher.
  static base::Result<std::unique_ptr<InboxWatcher>> Start(uv_loop_t* loop, InboxOptions options,
                                                           ReadyCallback on_ready);
  ~InboxWatcher();  // stops watching; handles are closed through the loop

  // The import committed: remove the file and its sidecar, or move them to processed/ (0600).
  // Every step works relative to the inbox's descriptor: the chmod goes through a descriptor
  // opened with O_NOFOLLOW, and only to a regular file with one link (a name swapped for a
  // symbolic link, or a file that gained a hard link, is moved without the chmod); failed/ and
  // processed/ are never a symbolic link's target.
  // Returns "" or an error sentence.
  // For Finish and Fail: on an error the file stays in the inbox and stays handed over (Release
  // offers it again). A file replaced or rewritten since it was handed over is left in place and
  // offered again (an error sentence says so). A sidecar STEM.toml that another file in the inbox
  // still uses stays in the inbox (Fail puts a copy beside the failed file). The sidecar lands
  // beside the file as <final name>.toml.
  // `sidecar` is the sidecar the import read (FindSidecar when it read the file), the only one
  // moved or removed: a sidecar that appeared since was never read and stays in the inbox. The
  // overloads without it look the sidecar up now.
  base::Result<void> Finish(const std::string& name);
  base::Result<void> Finish(const std::string& name,
                            const std::optional<std::filesystem::path>& sidecar);

  // Moves the file (untouched) and its sidecar to failed/ beside NAME.error.json
  // {"file", "file_hex", "reason", "message", "time"}: "file" is the name as a JSON string
  // (bytes that are not UTF-8 become U+FFFD), "file_hex" its exact bytes in hex. A name already
  // taken in failed/ gets a ".N" suffix; one too long to take its suffixes (".N", ".error.json")
  // is shortened (fs_util.h, ShortenedName), here and in processed/.
  base::Result<void> Fail(const std::string& name, std::string_view reason,
                          std::string_view message);
  base::Result<void> Fail(const std::string& name, std::string_view reason,
                          std::string_view message,
                          const std::optional<std::filesystem::path>& sidecar);

  // Hands the file back without an outcome: it is offered again after it settles.
  void Release(const std::string& name);

  // The files in failed/ (not their NAME.error.json nor their NAME.toml sidecars), by name, at
  // most `max`; `more` is set when there were more. Each with its NAME.error.json as written
  // (at most kMaxErrorJsonBytes; "" when missing).
  struct FailedFile {
    std::string name;
    uint64_t size = 0;
    std::string error_json;
  };
  static constexpr size_t kMaxErrorJsonBytes = 64 * 1024;
  base::Result<std::vector<FailedFile>> ListFailed(size_t max, bool& more) const;
  // Moves failed/NAME back into the inbox (its sidecar failed/NAME.toml first, as NAME.toml)
  // and removes failed/NAME.error.json: the file is taken again as a new drop. not_found when
  // failed/ has no regular file NAME; name_taken when the inbox already has a NAME (or NAME.toml
  // for its sidecar). Relative to the inbox's descriptors; never follows a symbolic link.
  base::Result<void> Retry(const std::string& name);

  // The sidecar of a file, if one exists: FindSidecar in this inbox.
  std::optional<std::filesystem::path> SidecarFor(const std::string& name) const;

  // Files seen in the inbox and not yet finished or failed (settling or handed over).
  size_t Backlog() const;
  const InboxOptions& options() const;

 private:
  class Impl;
  explicit InboxWatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace certinbox::watchers
