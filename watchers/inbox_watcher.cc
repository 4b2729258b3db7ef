#include "watchers/inbox_watcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <utility>

#include "base/error_codes.h"
#include "base/fd.h"
#include "watchers/inbox_watcher_impl.h"

namespace certinbox::watchers {
namespace fs = std::filesystem;

std::string_view ReasonCode(FileProblem problem) {
  switch (problem) {
    case FileProblem::kNone:
      return "";
    case FileProblem::kSymlink:
      return base::code::kSymlink;
    case FileProblem::kNotRegular:
      return base::code::kNotRegularFile;
    case FileProblem::kTooLarge:
      return base::code::kFileTooLarge;
    case FileProblem::kUnreadable:
      return base::code::kUnreadable;
  }
  return "";
}

// --- Start, scans and events ---------------------------------------------------------------

base::Result<void> InboxWatcher::Impl::Start() {
  if (!on_ready_) {
    return base::Fail(base::code::kInboxNotWatched,
                      "inbox " + options_.name + ": no listener for ready files");
  }
  if (auto made = MakeFolders(); !made) return made;
  // The kernel stamps mtime from its coarse clock, up to one tick behind the write itself.
  if (timespec tick; clock_getres(CLOCK_REALTIME_COARSE, &tick) == 0) {
    mtime_slack_ns_ = static_cast<int64_t>(tick.tv_sec) * 1'000'000'000 + tick.tv_nsec;
  }
  mtime_trusted_ = !OnNetworkFilesystem(options_.dir);
  if (!mtime_trusted_) {
    Warn("inbox " + options_.name + ": " + options_.dir.string() +
         " is on a network filesystem, whose mtimes come from another clock: every file waits "
         "settle_ms, however old its mtime");
  }
  settle_timer_ = base::NewUvTimer(loop_, this);
  scan_soon_timer_ = base::NewUvTimer(loop_, this);
  rescan_timer_ = base::NewUvTimer(loop_, this);
  if (auto opened = OpenDir(); !opened) return opened;
  if (auto watching = StartWatch(); !watching) return watching;
  if (options_.rescan_ms > 0) {
    uv_timer_start(rescan_timer_.get(), OnRescanCb, options_.rescan_ms, options_.rescan_ms);
  }
  return Scan();
}

base::Result<void> InboxWatcher::Impl::MakeFolders() const {
  for (const fs::path* dir : {&options_.dir, &failed_dir_, &processed_dir_}) {
    if (dir == &processed_dir_ && !options_.archive) continue;
    if (auto made = MakeDir(*dir, kDirMode); !made) return made;
  }
  return {};
}

base::Result<void> InboxWatcher::Impl::OpenDir() {
  dir_fd_ = base::Fd(open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd_.valid()) {
    return base::Fail(base::code::kInboxNotWatched,
                      "cannot open " + options_.dir.string() + ": " + ErrnoText(errno));
  }
  return {};
}

base::Result<void> InboxWatcher::Impl::StartWatch() {
  fs_event_.reset();
  auto* handle = new uv_fs_event_t;
  if (int rc = uv_fs_event_init(loop_, handle); rc != 0) {
    delete handle;
    return base::Fail(base::code::kInboxNotWatched,
                      "cannot watch " + options_.dir.string() + ": " + uv_strerror(rc));
  }
  handle->data = this;
  fs_event_.reset(handle);
  if (int rc = uv_fs_event_start(handle, OnFsEventCb, options_.dir.c_str(), 0); rc != 0) {
    return base::Fail(base::code::kInboxNotWatched,
                      "cannot watch " + options_.dir.string() + ": " + uv_strerror(rc));
  }
  return {};
}

base::Result<void> InboxWatcher::Impl::Scan() {
  DIR* dir = opendir(options_.dir.c_str());
  if (dir == nullptr) {
    int err = errno;
    return base::Fail(err == ENOENT ? base::code::kNotFound : base::code::kUnreadable,
                      "cannot list the inbox " + options_.dir.string() + ": " + ErrnoText(err));
  }
  std::vector<std::string> sidecars, candidates;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_type == DT_DIR) continue;
    std::string name(entry->d_name);
    if (!IsCandidateName(name)) {
      if (name.front() != '.' && name.ends_with(".toml")) sidecars.push_back(std::move(name));
      continue;
    }
    candidates.push_back(name);
    // Settling names are checked at their deadline and in-flight ones are left alone.
    if (!entries_.contains(name)) Consider(name);
  }
  closedir(dir);
  WarnAboutLoneSidecars(sidecars, candidates);
  return {};
}

void InboxWatcher::Impl::WarnAboutLoneSidecars(const std::vector<std::string>& sidecars,
                                               const std::vector<std::string>& candidates) {
  std::set<std::string> used;  // the STEMs of X.toml that a file here would read
  for (const auto& name : candidates) {
    used.insert(name);
    if (std::string stem = StemOf(name); !stem.empty()) used.insert(std::move(stem));
  }
  std::set<std::string> lone;
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  for (const auto& sidecar : sidecars) {
    if (used.contains(sidecar.substr(0, sidecar.size() - 5))) continue;
    const FileStat stat = Lstat(PathOf(sidecar));
    if (stat.error != 0 || now_ns - stat.mtime_ns < kLoneSidecarAgeNs) continue;
    if (!lone_sidecars_.contains(sidecar)) {
      Warn("the sidecar " + sidecar +
           " has no file to describe here (its file was taken before it arrived?): it stays as "
           "it is; put a sidecar in place before its file, then drop the file again, or remove "
           "the sidecar");
    }
    lone.insert(sidecar);
  }
  lone_sidecars_ = std::move(lone);
}

void InboxWatcher::Impl::Rescan() {
  auto scanned = Scan();
  if (!scanned && scanned.error().code == base::code::kNotFound) {
    // The inbox was removed: make it again and watch the new folder (the old watch is dead).
    scanned = MakeFolders();
    if (scanned) scanned = StartWatch();
    if (scanned) scanned = Scan();
  }
  if (!scanned) Warn(scanned.error().message);
}

void InboxWatcher::Impl::OnFsEvent(const char* filename, int status) {
  if (status < 0) {
    Warn(std::string("watch error, rescanning: ") + uv_strerror(status));
    ScheduleScanSoon();
    return;
  }
  if (filename == nullptr || *filename == '\0') {
    ScheduleScanSoon();
    return;
  }
  if (IsCandidateName(filename)) Consider(filename);
}

void InboxWatcher::Impl::ScheduleScanSoon() {
  if (scan_soon_pending_) return;
  scan_soon_pending_ = true;
  uv_timer_start(scan_soon_timer_.get(), OnScanSoonCb, kScanSoonDelayMs, 0);
}

void InboxWatcher::Impl::Consider(const std::string& name) {
  auto it = entries_.find(name);
  if (it != entries_.end() && it->second.state == State::kInFlight) return;
  FileStat stat = Lstat(PathOf(name));
  bool gone = stat.missing() || stat.is_dir();  // directories are not dropped files
  if (it == entries_.end()) {
    if (!gone) Track(name, stat, /*first_sight=*/true);
  } else if (gone) {
    Forget(it);
  } else if (stat != it->second.stat) {
    it->second.stat = stat;
    it->second.deadline = NewDeadline();
  }
}

void InboxWatcher::Impl::Track(const std::string& name, const FileStat& stat, bool first_sight) {
  auto [it, inserted] = entries_.try_emplace(name);
  if (inserted) {
    if (std::string stem = StemOf(name); !stem.empty()) ++stem_counts_[stem];
  }
  Entry& entry = it->second;
  entry.state = State::kSettling;
  entry.stat = stat;
  entry.generation = ++next_generation_;
  // Due now: handed over from the settle timer on the next loop iteration, after one more lstat,
  // together with every other file found settled meanwhile.
  const bool settled = first_sight && SettledByMtime(stat);
  entry.deadline = settled ? uv_now(loop_) : NewDeadline();
  deadlines_.push(Pending{entry.deadline, entry.generation, name});
  ArmSettleTimer();
  // Reading ahead relies on a changed file getting a later mtime or ctime: not so where
  // mtimes come from another clock or keep whole seconds only.
  const bool fine_times = mtime_trusted_ && stat.mtime_ns % 1'000'000'000 != 0;
  if (first_sight && !settled && options_.on_settling && fine_times && stat.is_regular() &&
      stat.size > 0 && stat.size <= options_.max_file_bytes) {
    try {
      options_.on_settling(ReadyOf(name, stat, FileProblem::kNone));
    } catch (...) {
      Warn("the listener failed on " + name + " while it settles");
    }
  }
}

ReadyFile InboxWatcher::Impl::ReadyOf(const std::string& name, const FileStat& stat,
                                      FileProblem problem) const {
  return ReadyFile{
      .name = name,
      .path = PathOf(name),
      .size = stat.size,
      .problem = problem,
      .dev = static_cast<uint64_t>(stat.dev),
      .ino = static_cast<uint64_t>(stat.ino),
      .mtime_ns = stat.mtime_ns,
      .ctime_ns = stat.ctime_ns,
  };
}

void InboxWatcher::Impl::Forget(EntryMap::iterator it) {
  if (std::string stem = StemOf(it->first); !stem.empty()) {
    auto count = stem_counts_.find(stem);
    if (count != stem_counts_.end() && --count->second <= 0) stem_counts_.erase(count);
  }
  entries_.erase(it);  // a pending heap item for it is dropped when it comes up
}

uint64_t InboxWatcher::Impl::NewDeadline() {
  // Loop time is whole milliseconds, truncated: one more keeps the wait at least settle_ms.
  uv_update_time(loop_);
  return uv_now(loop_) + options_.settle_ms + 1;
}

// A file first seen with an mtime at least settle_ms (plus the coarse clock's tick) in the past
// has not changed for settle_ms: typically written elsewhere and renamed into the inbox, since a
// rename leaves mtime alone. An mtime in the future or more recent than that waits out settle_ms
// as usual. The wall clock is compared with mtime, so this trusts both to come from clocks that
// agree (a network filesystem's server clock included).
//
// Not trusted: an empty file (more often just created than finished), and a folder on a network
// filesystem (its server's clock). An mtime in whole seconds may come from a filesystem that
// keeps only seconds (or FAT's 2 s steps), so up to 2 s more is added for it.
bool InboxWatcher::Impl::SettledByMtime(const FileStat& stat) const {
  if (stat.error != 0 || stat.size == 0 || !mtime_trusted_) return false;
  timespec now;
  if (clock_gettime(CLOCK_REALTIME, &now) != 0) return false;
  const int64_t now_ns = static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  const int64_t settle_ns = static_cast<int64_t>(options_.settle_ms) * 1'000'000;
  const int64_t coarse_ns = stat.mtime_ns % 1'000'000'000 == 0 ? 2'000'000'000 : 0;
  return stat.mtime_ns <= now_ns &&
         now_ns - stat.mtime_ns >= settle_ns + mtime_slack_ns_ + coarse_ns;
}

// --- Settling and handing over ---------------------------------------------------------------

void InboxWatcher::Impl::OnSettleTimer() {
  armed_deadline_ = kNotArmed;
  std::shared_ptr<bool> alive = alive_;
  const uint64_t now = uv_now(loop_);
  while (!deadlines_.empty() && deadlines_.top().deadline <= now) {
    Pending pending = deadlines_.top();
    deadlines_.pop();
    auto it = entries_.find(pending.name);
    if (it == entries_.end() || it->second.generation != pending.generation ||
        it->second.state != State::kSettling) {
      continue;
    }
    Entry& entry = it->second;
    if (entry.deadline > now) {  // changed since this item was queued
      deadlines_.push(Pending{entry.deadline, entry.generation, std::move(pending.name)});
      continue;
    }
    fs::path path = PathOf(pending.name);
    FileStat stat = Lstat(path);
    if (stat.missing() || stat.is_dir()) {
      Forget(it);
      continue;
    }
    if (stat != entry.stat) {
      entry.stat = stat;
      entry.deadline = NewDeadline();
      deadlines_.push(Pending{entry.deadline, entry.generation, std::move(pending.name)});
      continue;
    }
    std::optional<FileProblem> problem = ProblemOf(stat, path);
    if (!problem) {
      Forget(it);
      continue;
    }
    entry.state = State::kInFlight;
    ReadyFile ready = ReadyOf(pending.name, stat, *problem);
    ready.ready_ns = uv_hrtime();
    try {
      on_ready_(ready);
    } catch (...) {
      if (!*alive) return;
      Warn("the listener failed on " + ready.name + "; it will be offered again");
      Release(ready.name);
    }
    if (!*alive) return;  // the listener destroyed this watcher
  }
  ArmSettleTimer();
}

void InboxWatcher::Impl::ArmSettleTimer() {
  if (deadlines_.empty()) {
    if (armed_deadline_ != kNotArmed) uv_timer_stop(settle_timer_.get());
    armed_deadline_ = kNotArmed;
    return;
  }
  uint64_t deadline = deadlines_.top().deadline;
  if (deadline == armed_deadline_) return;
  uint64_t now = uv_now(loop_);
  uv_timer_start(settle_timer_.get(), OnSettleTimerCb, deadline > now ? deadline - now : 0, 0);
  armed_deadline_ = deadline;
}

std::optional<FileProblem> InboxWatcher::Impl::ProblemOf(const FileStat& stat,
                                                         const fs::path& path) const {
  if (stat.error != 0) return FileProblem::kUnreadable;
  if (S_ISLNK(stat.type)) return FileProblem::kSymlink;
  if (!S_ISREG(stat.type)) return FileProblem::kNotRegular;
  if (stat.size > options_.max_file_bytes) return FileProblem::kTooLarge;
  if (faccessat(AT_FDCWD, path.c_str(), R_OK, AT_EACCESS) != 0) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == EACCES || errno == EPERM) return FileProblem::kUnreadable;
  }
  return FileProblem::kNone;
}

void InboxWatcher::Impl::Warn(const std::string& message) const noexcept {
  if (!options_.on_warning) return;
  try {
    options_.on_warning(message);
  } catch (...) {
  }
}

// --- libuv callbacks: nothing escapes them ---------------------------------------------------

void InboxWatcher::Impl::OnFsEventCb(uv_fs_event_t* handle, const char* filename, int events,
                                     int status) noexcept {
  auto* self = static_cast<Impl*>(handle->data);
  try {
    self->OnFsEvent(filename, status);
  } catch (...) {
    self->Warn("could not handle a folder event; a rescan will catch up");
  }
}

void InboxWatcher::Impl::OnSettleTimerCb(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Impl*>(timer->data);
  std::shared_ptr<bool> alive = self->alive_;
  try {
    self->OnSettleTimer();
  } catch (...) {
    if (!*alive) return;
    self->Warn("could not check settling files; retrying");
    try {
      self->ArmSettleTimer();
    } catch (...) {
    }
  }
}

void InboxWatcher::Impl::OnScanSoonCb(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Impl*>(timer->data);
  self->scan_soon_pending_ = false;
  try {
    if (auto scanned = self->Scan(); !scanned) self->Warn(scanned.error().message);
  } catch (...) {
    self->Warn("could not scan the inbox; the periodic rescan will catch up");
  }
}

void InboxWatcher::Impl::OnRescanCb(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Impl*>(timer->data);
  try {
    self->Rescan();
  } catch (...) {
    self->Warn("could not rescan the inbox");
  }
}

// --- InboxWatcher ----------------------------------------------------------------------------

base::Result<std::unique_ptr<InboxWatcher>> InboxWatcher::Start(uv_loop_t* loop,
                                                                InboxOptions options,
                                                                ReadyCallback on_ready) {
  auto impl = std::make_unique<Impl>(loop, std::move(options), std::move(on_ready));
  if (auto started = impl->Start(); !started) {
    return base::Fail(base::code::kInboxNotWatched, std::move(started.error().message));
  }
  return std::unique_ptr<InboxWatcher>(new InboxWatcher(std::move(impl)));
}

InboxWatcher::InboxWatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
InboxWatcher::~InboxWatcher() = default;

base::Result<void> InboxWatcher::Finish(const std::string& name) {
  return impl_->Finish(name, impl_->SidecarFor(name));
}
base::Result<void> InboxWatcher::Finish(const std::string& name,
                                        const std::optional<fs::path>& sidecar) {
  return impl_->Finish(name, sidecar);
}

base::Result<void> InboxWatcher::Fail(const std::string& name, std::string_view reason,
                                      std::string_view message) {
  return impl_->Fail(name, reason, message, impl_->SidecarFor(name));
}
base::Result<void> InboxWatcher::Fail(const std::string& name, std::string_view reason,
                                      std::string_view message,
                                      const std::optional<fs::path>& sidecar) {
  return impl_->Fail(name, reason, message, sidecar);
}

void InboxWatcher::Release(const std::string& name) { impl_->Release(name); }

std::optional<fs::path> InboxWatcher::SidecarFor(const std::string& name) const {
  return impl_->SidecarFor(name);
}

size_t InboxWatcher::Backlog() const { return impl_->Backlog(); }

base::Result<std::vector<InboxWatcher::FailedFile>> InboxWatcher::ListFailed(size_t max,
                                                                             bool& more) const {
  return impl_->ListFailed(max, more);
}

base::Result<void> InboxWatcher::Retry(const std::string& name) { return impl_->Retry(name); }
const InboxOptions& InboxWatcher::options() const { return impl_->options(); }

}  // namespace certinbox::watchers
