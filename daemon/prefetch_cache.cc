#include "daemon/prefetch_cache.h"

#include <algorithm>
#include <ctime>

#include "base/time.h"
#include "daemon/drop_reader.h"

namespace certinbox::daemon {
namespace {

std::string PrefetchKey(const Inbox& inbox, const std::string& name) {
  return std::to_string(inbox.id) + "/" + name;
}

}  // namespace

PrefetchCache::PrefetchCache(uv_loop_t* loop) : loop_(loop) {
  // The kernel stamps mtime from its coarse clock, up to one tick behind the write itself.
  if (timespec tick{}; clock_getres(CLOCK_REALTIME_COARSE, &tick) == 0) {
    mtime_tick_ns_ = static_cast<int64_t>(tick.tv_sec) * 1'000'000'000 + tick.tv_nsec;
  } else {
    mtime_tick_ns_ = 10'000'000;
  }
}

PrefetchCache::~PrefetchCache() = default;

bool PrefetchCache::Wants(const Inbox& inbox, const watchers::ReadyFile& file) {
  DropStale();
  if (auto it = prefetches_.find(PrefetchKey(inbox, file.name)); it != prefetches_.end()) {
    // Seen for the first time again: the file was removed and dropped anew since. A running
    // prefetch is compared with it when it settles; an older one is replaced.
    if (it->second->prefetch == ImportJob::Prefetch::kRunning) return false;
    Drop(it);
  }
  if (prefetches_.size() >= kMaxPrefetches) return false;
  // Bytes too: files of the largest size allowed would otherwise keep gigabytes read ahead.
  uint64_t kept = file.size;
  for (const auto& [_, other] : prefetches_) kept += other->file.size;
  return kept <= kMaxPrefetchBytes;
}

void PrefetchCache::Add(std::unique_ptr<ImportJob> job) {
  std::string key = PrefetchKey(*job->inbox, job->file.name);
  job->prefetch = ImportJob::Prefetch::kQueued;
  job->key = key;
  prefetches_.emplace(key, std::move(job));
  queue_.push_back(std::move(key));
}

// Removes a prefetch that is not running, giving back its count if it still holds one.
void PrefetchCache::Drop(Map::iterator it) {
  if (it->second->prefetch == ImportJob::Prefetch::kQueued) --it->second->inbox->jobs;
  prefetches_.erase(it);  // a queued key left in queue_ is skipped when it comes up
}

ImportJob* PrefetchCache::StartNext() {
  while (!queue_.empty()) {
    auto it = prefetches_.find(queue_.front());
    queue_.pop_front();
    if (it == prefetches_.end() || it->second->prefetch != ImportJob::Prefetch::kQueued) continue;
    ImportJob* job = it->second.get();
    if (job->inbox->retired) {  // a reload replaced the inbox: its files are not taken
      Drop(it);
      continue;
    }
    job->prefetch = ImportJob::Prefetch::kRunning;
    job->read_after_ns = std::max(job->file.mtime_ns, job->file.ctime_ns) + mtime_tick_ns_;
    ++running_;
    return job;
  }
  return nullptr;
}

std::unique_ptr<ImportJob> PrefetchCache::Finished(ImportJob* job, bool draining) {
  --running_;
  --job->inbox->jobs;
  job->prefetch = ImportJob::Prefetch::kDone;
  job->finished_at = uv_now(loop_);
  if (job->settled) {
    auto it = prefetches_.find(job->key);
    auto claimed = std::move(it->second);
    prefetches_.erase(it);
    return claimed;
  }
  if (draining) prefetches_.erase(job->key);
  return nullptr;
}

PrefetchCache::Claim PrefetchCache::ClaimFor(const Inbox& inbox, const watchers::ReadyFile& file) {
  Claim claim;
  auto it = prefetches_.find(PrefetchKey(inbox, file.name));
  if (it == prefetches_.end()) return claim;
  ImportJob& prefetch = *it->second;
  switch (prefetch.prefetch) {
    case ImportJob::Prefetch::kQueued:  // not started: imported the usual way
      Drop(it);
      break;
    case ImportJob::Prefetch::kRunning:  // continued in Finished, with the settled file's count
      prefetch.settled = file;
      claim.claimed = true;
      break;
    case ImportJob::Prefetch::kDone:
      claim.done = std::move(it->second);
      prefetches_.erase(it);
      claim.done->settled = file;
      break;
    case ImportJob::Prefetch::kNo:
      break;
  }
  return claim;
}

void PrefetchCache::Forget(const Inbox& inbox, const std::string& name) {
  auto it = prefetches_.find(PrefetchKey(inbox, name));
  // A read-ahead still on the pool is not freed under its thread: it finishes, and its result,
  // which no claim will use, is swept as stale like any other.
  if (it != prefetches_.end() && it->second->prefetch != ImportJob::Prefetch::kRunning) Drop(it);
}

bool PrefetchCache::Usable(const ImportJob& job,
                           const std::shared_ptr<const pipeline::TrustContext>& trust,
                           base::UnixTime now) {
  const bool current = StillCurrent(job, trust, now);
  ++(current ? used_ : redone_);
  return current;
}

bool PrefetchCache::StillCurrent(const ImportJob& job,
                                 const std::shared_ptr<const pipeline::TrustContext>& trust,
                                 base::UnixTime now) const {
  if (job.error || job.trust != trust || !job.settled) return false;
  const watchers::ReadyFile& file = *job.settled;
  const FileIdentity settled{file.dev, file.ino, file.size, file.mtime_ns, file.ctime_ns};
  // An mtime and ctime at least one clock tick before the read began: a write (or a touch that
  // puts the mtime back) during or after the read would have stamped a later ctime, so the same
  // identity means the same bytes.
  auto unchanged_since_read = [&](const FileIdentity& read, const FileIdentity& seen) {
    return read == seen &&
           std::max(read.mtime_ns, read.ctime_ns) + mtime_tick_ns_ <= job.read_started_ns;
  };
  if (!unchanged_since_read(job.drop.file, settled)) return false;
  auto sidecar = watchers::FindSidecar(file.path.parent_path(), file.name);
  if (sidecar != job.sidecar) return false;
  if (sidecar) {
    auto now = IdentityOf(*sidecar);
    if (!now || !job.drop.sidecar || !unchanged_since_read(*job.drop.sidecar, *now)) return false;
  }
  // Validation judged the dates at job.now: the verdict must be the same now.
  for (const auto& cert : job.parsed.certificates) {
    if ((job.now > cert.info.not_after) != (now > cert.info.not_after) ||
        (job.now < cert.info.not_before) != (now < cert.info.not_before)) {
      return false;
    }
  }
  return true;
}

void PrefetchCache::DropStale() {
  const uint64_t now = uv_now(loop_);
  if (now - last_sweep_ < 1000) return;
  last_sweep_ = now;
  std::erase_if(prefetches_, [&](const auto& item) {
    const ImportJob& job = *item.second;
    return job.prefetch == ImportJob::Prefetch::kDone && now - job.finished_at > kPrefetchKeepMs;
  });
}

void PrefetchCache::DropAllNotRunning() {
  queue_.clear();
  for (auto it = prefetches_.begin(); it != prefetches_.end();) {
    auto next = std::next(it);
    if (it->second->prefetch != ImportJob::Prefetch::kRunning) Drop(it);
    it = next;
  }
}

void PrefetchCache::Orphan(ImportJob* job) {
  --running_;
  auto it = prefetches_.find(job->key);
  if (it != prefetches_.end()) {
    (void)it->second.release();  // owned by its completion now
    prefetches_.erase(it);
  }
}

}  // namespace certinbox::daemon
