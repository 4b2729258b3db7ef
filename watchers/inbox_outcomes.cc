#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "base/error_codes.h"
#include "base/fd.h"
#include "base/file.h"
#include "base/hex.h"
#include "base/time.h"
#include "watchers/inbox_watcher_impl.h"

namespace certinbox::watchers {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kErrorJsonSuffix = ".error.json";
// What an archived file's sidecar adds to its name in processed/: ".toml", and ".N" when taken.
constexpr size_t kSidecarSuffixBytes = std::string_view(".toml.9999").size();

// A failed file's sidecar into failed/ as `base` (or a free name beside it): moved, or copied
// when another file in the inbox still needs it. Returns the name it got.
base::Result<std::string> SidecarToFailed(int inbox, int failed, const fs::path& sidecar,
                                          const std::string& base, bool copy_sidecar) {
  const std::string sidecar_name = sidecar.filename().string();
  if (!copy_sidecar) {
    return MoveToUniqueNameAt(inbox, sidecar_name, failed, base, sidecar.string());
  }
  auto content = base::ReadRegularFileAt(inbox, sidecar_name, {.max_bytes = kMaxSidecarBytes});
  if (!content) return std::unexpected(std::move(content.error()));
  auto copy = WriteTempFileAt(failed, *content, 0600);
  if (!copy) return copy;
  auto placed = MoveToUniqueNameAt(failed, *copy, failed, base, sidecar.string());
  if (!placed) unlinkat(failed, copy->c_str(), 0);
  return placed;
}

}  // namespace

// Succeeds when `name` in flight is still the file that was handed over. If someone replaced or
// rewrote it meanwhile, the new content has not been imported: it is tracked again (offered
// after it settles) and the error (file_changed) says so.
base::Result<void> InboxWatcher::Impl::CheckUnchanged(const std::string& name,
                                                      const FileStat& now) {
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.state != State::kInFlight || it->second.stat == now) {
    return {};
  }
  Track(name, now);
  return base::Fail(
      base::code::kFileChanged,
      PathOf(name).string() +
          " changed while it was being imported; it stays in the inbox and will be offered again");
}

bool InboxWatcher::Impl::SidecarShared(const fs::path& sidecar, const std::string& owner) const {
  // X.toml is the sidecar of X and of every X.EXT: keep it while another of them is tracked.
  std::string base = sidecar.stem().string();
  int others = 0;
  if (auto count = stem_counts_.find(base); count != stem_counts_.end()) others += count->second;
  if (entries_.contains(owner) && StemOf(owner) == base) --others;
  if (base != owner && entries_.contains(base)) ++others;
  return others > 0;
}

base::Result<base::Fd> InboxWatcher::Impl::OpenOutcomeDir(const char* name) const {
  auto dir = OpenSubdir(dir_fd_.get(), name, kDirMode);
  if (!dir) dir.error().message = options_.dir.string() + ": " + dir.error().message;
  return dir;
}

base::Result<void> InboxWatcher::Impl::MakePrivate(const std::string& name,
                                                   const FileStat* expect) const {
  auto fd = OpenInDir(dir_fd_.get(), name);
  if (!fd) {
    // ELOOP: the name is a symbolic link now; ENXIO: a FIFO or socket. Neither is changed.
    if (fd.error() == ELOOP || fd.error() == ENXIO || fd.error() == ENOENT) return {};
    return Unwritable("cannot open " + name + " in " + options_.dir.string() + ": " +
                      ErrnoText(fd.error()));
  }
  struct stat st;
  if (fstat(fd->get(), &st) != 0) {
    return Unwritable("cannot look at " + name + ": " + ErrnoText(errno));
  }
  if (expect != nullptr && (st.st_ino != expect->ino || st.st_dev != expect->dev)) return {};
  if (options_.on_archiving) options_.on_archiving(name);
  // Another link may be anywhere (a file outside the inbox): its mode must not change.
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1) return {};
  if (fchmod(fd->get(), kArchivedMode) != 0) {
    return Unwritable("cannot make " + name + " private: " + ErrnoText(errno));
  }
  return {};
}

base::Result<void> InboxWatcher::Impl::Finish(const std::string& name,
                                              std::optional<fs::path> sidecar) {
  if (!IsPlainName(name))
    return base::Fail(base::code::kBadName, "not a file name in the inbox: " + name);
  fs::path path = PathOf(name);
  FileStat stat = Lstat(path);
  if (stat.error != 0 && !stat.missing()) {
    return Unwritable("cannot look at " + path.string() + ": " + ErrnoText(stat.error));
  }
  if (!stat.missing()) {
    if (auto unchanged = CheckUnchanged(name, stat); !unchanged) return unchanged;
  }
  if (sidecar && !Lstat(*sidecar).is_regular()) sidecar.reset();  // gone, or replaced oddly
  bool keep_sidecar = sidecar && SidecarShared(*sidecar, name);
  std::string final_name = name;
  base::Fd processed;
  if (options_.archive && (!stat.missing() || (sidecar && !keep_sidecar))) {
    auto dir = OpenOutcomeDir("processed");
    if (!dir) return std::unexpected(std::move(dir.error()));
    processed = std::move(*dir);
  }
  if (!stat.missing()) {
    if (options_.archive) {
      // Private before it moves, so it is never in processed/ with its old mode.
      if (stat.is_regular()) {
        if (auto made = MakePrivate(name, &stat); !made) return made;
      }
      auto moved = MoveToUniqueNameAt(dir_fd_.get(), name, processed.get(), name, path.string(),
                                      kSidecarSuffixBytes);
      if (!moved) return std::unexpected(std::move(moved.error()));
      final_name = *moved;
    } else if (unlinkat(dir_fd_.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      return Unwritable("cannot remove " + path.string() + ": " + ErrnoText(errno));
    }
  }
  if (auto it = entries_.find(name); it != entries_.end()) Forget(it);
  if (!sidecar || keep_sidecar) return {};
  const std::string sidecar_name = sidecar->filename().string();
  if (options_.archive) {
    MakePrivate(sidecar_name, nullptr);
    auto moved = MoveToUniqueNameAt(dir_fd_.get(), sidecar_name, processed.get(),
                                    final_name + ".toml", sidecar->string());
    if (!moved) {
      return Unwritable(
          name + " was imported, but its sidecar was not archived: " + moved.error().message);
    }
  } else if (unlinkat(dir_fd_.get(), sidecar_name.c_str(), 0) != 0 && errno != ENOENT) {
    return Unwritable(name + " was imported, but its sidecar " + sidecar->string() +
                      " could not be removed: " + ErrnoText(errno));
  }
  return {};
}

base::Result<void> InboxWatcher::Impl::Fail(const std::string& name, std::string_view reason,
                                            std::string_view message,
                                            std::optional<fs::path> sidecar) {
  if (!IsPlainName(name))
    return base::Fail(base::code::kBadName, "not a file name in the inbox: " + name);
  fs::path path = PathOf(name);
  FileStat stat = Lstat(path);
  if (stat.missing()) {
    if (auto it = entries_.find(name); it != entries_.end()) Forget(it);
    return base::Fail(base::code::kNotFound,
                      path.string() + " disappeared before it could be moved to failed/");
  }
  if (stat.error != 0) {
    return Unwritable("cannot look at " + path.string() + ": " + ErrnoText(stat.error));
  }
  if (auto unchanged = CheckUnchanged(name, stat); !unchanged) return unchanged;
  auto failed_dir = OpenOutcomeDir("failed");
  if (!failed_dir) return std::unexpected(std::move(failed_dir.error()));
  const int failed = failed_dir->get();
  const int inbox = dir_fd_.get();
  if (sidecar && !Lstat(*sidecar).is_regular()) sidecar.reset();
  bool copy_sidecar = sidecar && SidecarShared(*sidecar, name);

  // A hard link is moved like any file: a rename within the inbox's filesystem changes neither
  // the other link nor its mode, and nothing here writes through it.
  std::string json =
      "{\"file\": " + JsonString(name) + ", \"file_hex\": " + JsonString(base::HexLower(name)) +
      ", \"reason\": " + JsonString(reason) + ", \"message\": " + JsonString(message) +
      ", \"time\": " + JsonString(base::FormatRfc3339(std::chrono::system_clock::now())) + "}\n";
  auto temp = WriteTempFileAt(failed, json, kErrorJsonMode);
  if (!temp) return Unwritable(failed_dir_.string() + ": " + temp.error().message);
  // The reason is in failed/ (durably) before the file moves: a crash in between leaves the
  // file in the inbox to be retried, never a file in failed/ without its reason.
  std::string failed_name;
  std::string error;
  for (int n = 0; n < kMaxSuffix && failed_name.empty() && error.empty(); ++n) {
    // A name too long to take ".error.json" goes under a shortened one; the reason's `file`
    // and `file_hex` keep the name it had.
    std::string candidate = OutcomeName(name, n, kErrorJsonSuffix.size());
    struct stat taken;
    if (fstatat(failed, candidate.c_str(), &taken, AT_SYMLINK_NOFOLLOW) == 0) continue;
    if (errno != ENOENT) {
      error = "cannot look into " + failed_dir_.string() + ": " + ErrnoText(errno);
      break;
    }
    std::string json_name = candidate + std::string(kErrorJsonSuffix);
    int err = RenameNoReplaceAt(failed, *temp, failed, json_name);
    if (err == EEXIST) continue;
    if (err == 0) {
      fsync(failed);
      err = RenameNoReplaceAt(inbox, name, failed, candidate);
      if (err == 0) {
        failed_name = candidate;
      } else if (renameat(failed, json_name.c_str(), failed, temp->c_str()) != 0) {
        unlinkat(failed, json_name.c_str(), 0);
        error = "cannot move " + path.string() + " to failed/: " + ErrnoText(err);
      }
    }
    if (err != 0 && err != EEXIST && error.empty()) {
      error = "cannot move " + path.string() + " to failed/: " + ErrnoText(err);
    }
  }
  if (failed_name.empty()) {
    unlinkat(failed, temp->c_str(), 0);
    return Unwritable(error.empty() ? "cannot move " + path.string() +
                                          " to failed/: too many files named " + name
                                    : error);
  }
  if (auto it = entries_.find(name); it != entries_.end()) Forget(it);
  if (!sidecar) return {};
  auto placed = SidecarToFailed(inbox, failed, *sidecar, failed_name + ".toml", copy_sidecar);
  if (!placed) {
    return Unwritable(name +
                      " was moved to failed/, but its sidecar was not: " + placed.error().message);
  }
  return {};
}

void InboxWatcher::Impl::Release(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.state != State::kInFlight) return;
  FileStat stat = Lstat(PathOf(name));
  if (stat.missing() || stat.is_dir()) {
    Forget(it);
  } else {
    Track(name, stat);
  }
}

std::optional<fs::path> InboxWatcher::Impl::SidecarFor(const std::string& name) const {
  return FindSidecar(options_.dir, name);
}

std::optional<fs::path> FindSidecar(const fs::path& dir, const std::string& name) {
  if (!IsPlainName(name)) return std::nullopt;
  auto regular = [&](const std::string& candidate) { return Lstat(dir / candidate).is_regular(); };
  if (std::string own = name + ".toml"; regular(own)) return dir / own;
  if (std::string stem = StemOf(name); !stem.empty()) {
    if (std::string shared = stem + ".toml"; shared != name && regular(shared)) {
      return dir / shared;
    }
  }
  return std::nullopt;
}

}  // namespace certinbox::watchers
