// Internals of InboxWatcher shared by inbox_watcher.cc (watching, settling, handing over) and
// inbox_outcomes.cc (Finish, Fail, Release, sidecars). Not part of the watchers' contract.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "base/uv_handle.h"
#include "watchers/fs_util.h"
#include "watchers/inbox_watcher.h"

namespace certinbox::watchers {
namespace detail {
namespace fs = std::filesystem;

inline constexpr mode_t kDirMode = 0750;
inline constexpr mode_t kArchivedMode = 0600;
inline constexpr mode_t kErrorJsonMode = 0640;
// Events without a file name (and watch errors) are coalesced into one scan this much later.
inline constexpr uint64_t kScanSoonDelayMs = 20;
inline constexpr uint64_t kMaxSidecarBytes = 1 << 20;
inline constexpr uint64_t kNotArmed = std::numeric_limits<uint64_t>::max();
// A sidecar this old (by its mtime) with no file to describe is said in a warning: one put in
// place first waits only moments for its file.
inline constexpr int64_t kLoneSidecarAgeNs = 60'000'000'000;

inline bool IsCandidateName(std::string_view name) {
  if (name.empty() || name.front() == '.') return false;
  for (std::string_view suffix : {".tmp", ".part", ".swp", "~", ".toml"}) {
    if (name.ends_with(suffix)) return false;
  }
  return true;
}

// What the public methods accept: a file name with no folder part.
inline bool IsPlainName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

// "web" for "web.pem": the STEM.toml sidecar rule. Empty when the name has no extension.
inline std::string StemOf(std::string_view name) {
  size_t dot = name.rfind('.');
  return dot == std::string_view::npos || dot == 0 ? std::string()
                                                   : std::string(name.substr(0, dot));
}

// What lstat said about a path, reduced to what settling compares.
struct FileStat {
  int error = 0;  // errno of lstat; 0 when it worked
  mode_t type = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;  // not compared for settling (a rename into the inbox sets it)
  ino_t ino = 0;
  dev_t dev = 0;

  bool operator==(const FileStat& other) const {
    return error == other.error && type == other.type && size == other.size &&
           mtime_ns == other.mtime_ns && ino == other.ino && dev == other.dev;
  }
  bool missing() const { return error == ENOENT || error == ENOTDIR; }
  bool is_dir() const { return error == 0 && S_ISDIR(type); }
  bool is_regular() const { return error == 0 && S_ISREG(type); }
};

inline FileStat Lstat(const fs::path& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return FileStat{.error = errno};
  return FileStat{
      .type = static_cast<mode_t>(st.st_mode & S_IFMT),
      .size = static_cast<uint64_t>(st.st_size),
      .mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
      .ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec,
      .ino = st.st_ino,
      .dev = st.st_dev,
  };
}

}  // namespace detail

using namespace detail;  // NOLINT: the Impl below and its .cc files use these throughout

class InboxWatcher::Impl {
 public:
  Impl(uv_loop_t* loop, InboxOptions options, ReadyCallback on_ready)
      : loop_(loop),
        options_(std::move(options)),
        on_ready_(std::move(on_ready)),
        failed_dir_(options_.dir / "failed"),
        processed_dir_(options_.dir / "processed") {}
  ~Impl() { *alive_ = false; }  // the handles close through the loop as members go

  base::Result<void> Start();
  base::Result<void> Finish(const std::string& name, std::optional<fs::path> sidecar);
  base::Result<void> Fail(const std::string& name, std::string_view reason,
                          std::string_view message, std::optional<fs::path> sidecar);
  void Release(const std::string& name);
  base::Result<std::vector<InboxWatcher::FailedFile>> ListFailed(size_t max, bool& more) const;
  base::Result<void> Retry(const std::string& name);
  std::optional<fs::path> SidecarFor(const std::string& name) const;
  size_t Backlog() const { return entries_.size(); }
  const InboxOptions& options() const { return options_; }

 private:
  enum class State { kSettling, kInFlight };
  struct Entry {
    State state = State::kSettling;
    FileStat stat;          // settling: as last seen; in flight: as handed over
    uint64_t deadline = 0;  // loop time (ms) at which a settling file is checked again
    uint64_t generation = 0;
  };
  // One per settling entry in the deadline heap. An event that changes a file only moves
  // Entry::deadline; the stale item re-queues itself when it comes up (no heap search).
  struct Pending {
    uint64_t deadline;
    uint64_t generation;
    std::string name;
    bool operator>(const Pending& other) const { return deadline > other.deadline; }
  };
  using EntryMap = std::unordered_map<std::string, Entry>;

  static void OnFsEventCb(uv_fs_event_t* handle, const char* filename, int events,
                          int status) noexcept;
  static void OnSettleTimerCb(uv_timer_t* timer) noexcept;
  static void OnScanSoonCb(uv_timer_t* timer) noexcept;
  static void OnRescanCb(uv_timer_t* timer) noexcept;

  base::Result<void> MakeFolders() const;
  base::Result<void> StartWatch();
  // Fails with not_found when the inbox folder is gone.
  base::Result<void> Scan();
  // After a scan: warns once about each sidecar older than kLoneSidecarAge that no file in
  // the inbox would use (its file was probably taken before it arrived).
  void WarnAboutLoneSidecars(const std::vector<std::string>& sidecars,
                             const std::vector<std::string>& candidates);
  void Rescan();
  void OnFsEvent(const char* filename, int status);
  void ScheduleScanSoon();
  void Consider(const std::string& name);
  // `first_sight`: the file was not tracked before (not a Release or a file changed in flight),
  // so an mtime already settle_ms old lets it go at once.
  void Track(const std::string& name, const FileStat& stat, bool first_sight = false);
  void Forget(EntryMap::iterator it);
  void OnSettleTimer();
  void ArmSettleTimer();
  std::optional<FileProblem> ProblemOf(const FileStat& stat, const fs::path& path) const;
  base::Result<void> CheckUnchanged(const std::string& name, const FileStat& now);
  bool SidecarShared(const fs::path& sidecar, const std::string& owner) const;
  uint64_t NewDeadline();
  bool SettledByMtime(const FileStat& stat) const;
  ReadyFile ReadyOf(const std::string& name, const FileStat& stat, FileProblem problem) const;
  void Warn(const std::string& message) const noexcept;
  fs::path PathOf(const std::string& name) const { return options_.dir / name; }

  // The inbox, failed/ and processed/ (opened without following a link), for the *at calls.
  base::Result<void> OpenDir();
  base::Result<base::Fd> OpenOutcomeDir(const char* name) const;
  // Makes `name` in the inbox private (0600) through a descriptor opened with O_NOFOLLOW, only
  // when it is a regular file with one link (`expect`: the dev and ino it must still have).
  base::Result<void> MakePrivate(const std::string& name, const FileStat* expect) const;

  uv_loop_t* loop_;
  InboxOptions options_;
  base::Fd dir_fd_;
  ReadyCallback on_ready_;
  fs::path failed_dir_;
  fs::path processed_dir_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed

  EntryMap entries_;                                  // settling and in flight
  std::unordered_map<std::string, int> stem_counts_;  // tracked names per StemOf, for sidecars
  std::set<std::string> lone_sidecars_;  // warned about, and still there at the last scan
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> deadlines_;
  uint64_t next_generation_ = 0;
  uint64_t armed_deadline_ = kNotArmed;
  int64_t mtime_slack_ns_ = 0;  // how far a file's mtime may lag its last write (coarse clock)
  bool mtime_trusted_ = true;   // false on network filesystems: no taking files by mtime age
  bool scan_soon_pending_ = false;

  base::UvHandlePtr<uv_fs_event_t> fs_event_;
  base::UvHandlePtr<uv_timer_t> settle_timer_;
  base::UvHandlePtr<uv_timer_t> scan_soon_timer_;
  base::UvHandlePtr<uv_timer_t> rescan_timer_;
};

}  // namespace certinbox::watchers
