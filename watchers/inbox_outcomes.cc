#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "watchers/inbox_watcher_impl.h"

namespace certinbox::watchers {
namespace fs = std::filesystem;

// Returns "" when `name` in flight is still the file that was handed over. If someone replaced
// or rewrote it meanwhile, the new content has not been imported: it is tracked again (offered
// after it settles) and the sentence says so.
std::string InboxWatcher::Impl::CheckUnchanged(const std::string& name, const FileStat& now) {
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.state != State::kInFlight || it->second.stat == now) {
    return "";
  }
  Track(name, now);
  return PathOf(name).string() +
         " changed while it was being imported; it stays in the inbox and will be offered again";
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

std::string InboxWatcher::Impl::Finish(const std::string& name, std::optional<fs::path> sidecar) {
  if (!IsPlainName(name)) return "not a file name in the inbox: " + name;
  fs::path path = PathOf(name);
  FileStat stat = Lstat(path);
  if (stat.error != 0 && !stat.missing()) {
    return "cannot look at " + path.string() + ": " + ErrnoText(stat.error);
  }
  if (!stat.missing()) {
    if (std::string changed = CheckUnchanged(name, stat); !changed.empty()) return changed;
  }
  if (sidecar && !Lstat(*sidecar).is_regular()) sidecar.reset();  // gone, or replaced oddly
  bool keep_sidecar = sidecar && SidecarShared(*sidecar, name);
  std::string final_name = name;
  if (!stat.missing()) {
    if (options_.archive) {
      if (auto made = MakeDirs(processed_dir_, kDirMode); !made) return made.error().message;
      // Private before it moves, so it is never in processed/ with its old mode.
      if (stat.is_regular() && chmod(path.c_str(), kArchivedMode) != 0) {
        return "cannot make " + path.string() + " private: " + ErrnoText(errno);
      }
      auto moved = MoveToUniqueName(path, processed_dir_, name);
      if (!moved) return moved.error().message;
      final_name = *moved;
    } else if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return "cannot remove " + path.string() + ": " + ErrnoText(errno);
    }
  }
  if (auto it = entries_.find(name); it != entries_.end()) Forget(it);
  if (!sidecar || keep_sidecar) return "";
  if (options_.archive) {
    chmod(sidecar->c_str(), kArchivedMode);  // SidecarFor checked it is a regular file
    auto moved = MoveToUniqueName(*sidecar, processed_dir_, final_name + ".toml");
    if (!moved)
      return name + " was imported, but its sidecar was not archived: " + moved.error().message;
  } else if (unlink(sidecar->c_str()) != 0 && errno != ENOENT) {
    return name + " was imported, but its sidecar " + sidecar->string() +
           " could not be removed: " + ErrnoText(errno);
  }
  return "";
}

std::string InboxWatcher::Impl::Fail(const std::string& name, std::string_view reason,
                                     std::string_view message, std::optional<fs::path> sidecar) {
  if (!IsPlainName(name)) return "not a file name in the inbox: " + name;
  fs::path path = PathOf(name);
  FileStat stat = Lstat(path);
  if (stat.missing()) {
    if (auto it = entries_.find(name); it != entries_.end()) Forget(it);
    return path.string() + " disappeared before it could be moved to failed/";
  }
  if (stat.error != 0) return "cannot look at " + path.string() + ": " + ErrnoText(stat.error);
  if (std::string changed = CheckUnchanged(name, stat); !changed.empty()) return changed;
  if (auto made = MakeDirs(failed_dir_, kDirMode); !made) return made.error().message;
  if (sidecar && !Lstat(*sidecar).is_regular()) sidecar.reset();
  bool copy_sidecar = sidecar && SidecarShared(*sidecar, name);

  std::string json = "{\"file\": " + JsonString(name) + ", \"reason\": " + JsonString(reason) +
                     ", \"message\": " + JsonString(message) +
                     ", \"time\": " + JsonString(Rfc3339Utc(std::chrono::system_clock::now())) +
                     "}\n";
  auto temp = WriteTempFile(failed_dir_, json, kErrorJsonMode);
  if (!temp) return temp.error().message;
  // The reason is in failed/ (durably) before the file moves: a crash in between leaves the
  // file in the inbox to be retried, never a file in failed/ without its reason.
  std::string failed_name;
  std::string error;
  for (int n = 0; n < kMaxSuffix && failed_name.empty() && error.empty(); ++n) {
    std::string candidate = Suffixed(name, n);
    FileStat taken = Lstat(failed_dir_ / candidate);
    if (taken.error != 0 && !taken.missing()) {
      error = "cannot look into " + failed_dir_.string() + ": " + ErrnoText(taken.error);
      break;
    }
    if (!taken.missing()) continue;
    fs::path json_path = failed_dir_ / (candidate + ".error.json");
    int err = RenameNoReplace(*temp, json_path);
    if (err == EEXIST) continue;
    if (err == 0) {
      SyncDir(failed_dir_);
      err = RenameNoReplace(path, failed_dir_ / candidate);
      if (err == 0) {
        failed_name = candidate;
      } else if (rename(json_path.c_str(), temp->c_str()) != 0) {
        unlink(json_path.c_str());
        error = "cannot move " + path.string() + " to failed/: " + ErrnoText(err);
      }
    }
    if (err != 0 && err != EEXIST && error.empty()) {
      error = "cannot move " + path.string() + " to failed/: " + ErrnoText(err);
    }
  }
  if (failed_name.empty()) {
    unlink(temp->c_str());
    return error.empty()
               ? "cannot move " + path.string() + " to failed/: too many files named " + name
               : error;
  }
  if (auto it = entries_.find(name); it != entries_.end()) Forget(it);
  if (!sidecar) return "";
  std::string sidecar_base = failed_name + ".toml";
  std::expected<std::string, FsError> placed;
  if (copy_sidecar) {  // another file still needs it: a copy goes beside this one
    auto content = ReadSmallFile(*sidecar, kMaxSidecarBytes);
    auto copy = content ? WriteTempFile(failed_dir_, *content, 0600)
                        : std::expected<fs::path, FsError>(std::unexpected(content.error()));
    placed = copy ? MoveToUniqueName(*copy, failed_dir_, sidecar_base)
                  : std::expected<std::string, FsError>(std::unexpected(copy.error()));
    if (copy && !placed) unlink(copy->c_str());
  } else {
    placed = MoveToUniqueName(*sidecar, failed_dir_, sidecar_base);
  }
  if (!placed) {
    return name + " was moved to failed/, but its sidecar was not: " + placed.error().message;
  }
  return "";
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
