// The files read ahead: a file that has to wait settle_ms is read, parsed and validated while it
// waits (a prefetch), so that once it has settled only storing is left. This holds the
// prefetches by inbox and file name, queued, running or done, within a bound in count and in
// bytes; decides which to start next; hands a done one to its settled file; and says whether it
// is still what importing that file now would give. The import service (import_service.h) makes
// the jobs, runs them on the pool and keeps the inbox counts: a queued or running prefetch
// counts in its inbox's `jobs` (given back here when a queued one is dropped). Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/time.h"
#include "daemon/import_job.h"
#include "daemon/inbox.h"
#include "pipeline/validate.h"
#include "watchers/inbox_watcher.h"

namespace certinbox::daemon {

class PrefetchCache {
 public:
  static constexpr size_t kMaxPrefetches = 2048;  // files read ahead and kept (bounds memory)
  // and their sizes together (a parsed file can take four times its size: 16 MiB is ~64 MiB)
  static constexpr uint64_t kMaxPrefetchBytes = 16 << 20;
  static constexpr uint64_t kPrefetchKeepMs = 60'000;  // an unclaimed prefetch is dropped after

  explicit PrefetchCache(uv_loop_t* loop);
  ~PrefetchCache();

  // Whether `file` of `inbox` is to be read ahead now: no prefetch of its name is running (an
  // older one not running is dropped), and the bounds leave room. Drops the stale ones first.
  bool Wants(const Inbox& inbox, const watchers::ReadyFile& file);
  // Keeps `job` (a new job of the file Wants accepted) queued for the pool.
  void Add(std::unique_ptr<ImportJob> job);
  // The next queued prefetch, marked running (it stays here); null when none is queued. Those
  // of a retired inbox are dropped on the way.
  ImportJob* StartNext();
  // A running prefetch came back from the pool: kept as done, or, when its settled file claimed
  // it meanwhile, taken out and returned. While `draining`, an unclaimed one is dropped.
  std::unique_ptr<ImportJob> Finished(ImportJob* job, bool draining);

  // A settled file and its prefetch: `claimed` when it is running (it comes back from
  // Finished), or the done one, taken out; a queued one is dropped (imported the usual way).
  struct Claim {
    bool claimed = false;
    std::unique_ptr<ImportJob> done;
  };
  Claim ClaimFor(const Inbox& inbox, const watchers::ReadyFile& file);
  // The settled file was rejected without being read: a prefetch of what the name was before is
  // of no use now.
  void Forget(const Inbox& inbox, const std::string& name);

  // Whether a claimed prefetch is what importing its settled file now, with `trust`, would give;
  // counted as used or redone. Only successes are used: a failure (a half-written file, a
  // password file changed meanwhile) is tried again.
  bool Usable(const ImportJob& job, const std::shared_ptr<const pipeline::TrustContext>& trust,
              base::UnixTime now);

  // Drops the done prefetches of files that never settled (removed meanwhile), at most once a
  // second.
  void DropStale();
  // Stopping: drops every prefetch that is not running (running ones use their inbox).
  void DropAllNotRunning();
  // The service let go of a running prefetch (OrphanRunning): no longer running nor kept here,
  // its completion owns it.
  void Orphan(ImportJob* job);

  size_t running() const { return running_; }
  // Prefetches whose work was stored as it was, and those done again once their file settled.
  uint64_t used() const { return used_; }
  uint64_t redone() const { return redone_; }

 private:
  using Map = std::unordered_map<std::string, std::unique_ptr<ImportJob>>;
  void Drop(Map::iterator it);
  bool StillCurrent(const ImportJob& job,
                    const std::shared_ptr<const pipeline::TrustContext>& trust,
                    base::UnixTime now) const;

  uv_loop_t* loop_;
  // By inbox id and file name: queued, running or done. A running one that its file's Submit
  // claimed stays here until it is done.
  Map prefetches_;
  std::deque<std::string> queue_;  // keys of prefetches not started yet
  size_t running_ = 0;
  uint64_t last_sweep_ = 0;
  uint64_t used_ = 0;
  uint64_t redone_ = 0;
  int64_t mtime_tick_ns_ = 0;  // how far an mtime may lag its write (the coarse clock's tick)
};

}  // namespace certinbox::daemon
