// Turns settled inbox files into inventory entries: reads and parses them on libuv's thread
// pool, stores the results on the loop thread (several files per transaction), publishes the
// events, and only then removes each file from its inbox (or moves it to failed/).
//
// A file that has to wait settle_ms is read, parsed and validated while it waits (a prefetch):
// once it has settled, that work is used if the file, its sidecar, the trust store and the
// verdict on its dates are still what they were, and done again otherwise (prefetch_cache.h).
// What a job does on the pool is import_job.h.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/error.h"
#include "base/time.h"
#include "base/uv_handle.h"
#include "daemon/config.h"
#include "daemon/inbox.h"
#include "daemon/prefetch_cache.h"
#include "daemon/publisher.h"
#include "daemon/storage_faults.h"
#include "http/exposition.h"
#include "pipeline/validate.h"
#include "storage/inventory.h"
#include "watchers/inbox_watcher.h"

namespace certinbox::daemon {

struct ImportJob;

class ImportService {
 public:
  // Imports are stored, and their dates judged, at clock.Now(); `clock` must outlive the
  // service. Batching, prefetch ageing and the drain's grace are timed by the loop.
  ImportService(uv_loop_t* loop, storage::Inventory& inventory, Publisher& publisher,
                const base::Clock& clock, bool system_trust);
  ~ImportService();

  // Loads the trust context (system store + stored CAs). Call once before Submit.
  base::Result<void> Start();

  // A watcher handed over a settled file (loop thread).
  void Submit(Inbox& inbox, const watchers::ReadyFile& file);

  // A watcher saw a file start to settle (loop thread): read, parse and validate it now, on the
  // pool, so that once it has settled only storing is left. Does nothing when
  // PrefetchCache::kMaxPrefetches files (or kMaxPrefetchBytes) are already read ahead.
  void Prefetch(Inbox& inbox, const watchers::ReadyFile& file);

  // Stops taking new files; calls `done` once every job in flight is stored and published.
  // Files not started are released back to their inboxes; parses in flight give up at their
  // next step (each object, password candidate and key derivation) and release theirs too.
  void Drain(std::function<void()> done);

  // Called after a batch that stored at least one drop has committed and been published (the
  // daemon asks for an expiry scan there).
  void set_after_store(std::function<void()> callback) { after_store_ = std::move(callback); }

  // Reloads the stored CA certificates into the trust context (after CAs were deleted).
  void RefreshTrust();

  size_t in_flight() const { return running_ + completed_.size() + storage_faults_.held(); }
  // Parses Drain left behind on the pool (inside a key derivation past the grace): the daemon
  // must then exit without waiting for the pool, and without tearing OpenSSL down under them.
  size_t orphaned() const { return orphaned_; }
  // For `status`: null, or the storage fault that keeps files in their inboxes (storage_faults.h).
  nlohmann::json storage_fault() const { return storage_faults_.StatusJson(); }
  size_t queued() const { return queue_.size(); }
  // Seconds from each settled file's hand-over to its outcome stored and the file out of its
  // inbox, since the service started.
  const http::Histogram& import_seconds() const { return import_seconds_; }
  // Prefetches whose work was stored as it was, and those done again once their file settled
  // (it, its sidecar or the trust store changed meanwhile, or the prefetch failed).
  uint64_t prefetches_used() const { return prefetches_.used(); }
  uint64_t prefetches_redone() const { return prefetches_.redone(); }

 private:
  static constexpr size_t kMaxCompleted = 4096;  // done, waiting to be stored (bounds memory)
  static constexpr size_t kMaxBatch = 256;       // files stored in one transaction at most
  // Imports and prefetches on the pool at once. Deep enough that the pool keeps working while
  // the loop thread stores a batch (and batches stay large: a few files per transaction cost a
  // WAL checkpoint every few hundred imports), shallow enough that a control op queued behind
  // them waits at most for 64 quick parses (a slow one holds one of max_slow_parses_ threads).
  static constexpr size_t kMaxOnPool = 64;
  // Versions with an incomplete chain looked at again per turn of the loop once a CA arrived
  // (each a parse and a validation on the loop thread: ~10 ms a slice).
  static constexpr int64_t kRevisitSlice = 32;
  static constexpr uint64_t kAbandonGraceMs =
      300;  // parses still running this long after Drain are left

  std::unique_ptr<ImportJob> NewJob(Inbox& inbox, const watchers::ReadyFile& file);
  void Enqueue(std::unique_ptr<ImportJob> job);
  void StartQueued();
  void RunOnPool(ImportJob* job, void (ImportService::*done)(ImportJob*));
  void OnJobDone(ImportJob* job);
  void ArmFlush();
  void Flush();  // stores up to kMaxBatch completed jobs in one transaction, publishes, finishes
  struct Batch;  // import_service.cc
  Batch TakeBatch();
  base::Result<void> StoreBatch(Batch& batch);
  void StoreJob(Batch& batch, size_t i);
  void FinishJob(Batch& batch, size_t i);
  void RevisitIncompleteChains();  // starts (or starts over) the pass below
  void RevisitSlice();             // the next kRevisitSlice versions with an incomplete chain
  void MaybeDrained();
  void OrphanRunning();

  void StartPrefetches();
  void OnPrefetchDone(ImportJob* job);
  // A settled file whose prefetch is done: stored as it is, or imported again when it is stale.
  void ContinueClaimed(std::unique_ptr<ImportJob> job);

  uv_loop_t* loop_;
  storage::Inventory& inventory_;
  Publisher& publisher_;
  const base::Clock& clock_;
  bool system_trust_;
  std::shared_ptr<const pipeline::TrustContext> trust_;
  std::deque<std::unique_ptr<ImportJob>> queue_;
  std::vector<std::unique_ptr<ImportJob>> completed_;
  size_t running_ = 0;
  PrefetchCache prefetches_;  // queued and running ones count in inbox.jobs
  // Parses past kSlowDerivationIterations at once: two fewer than the pool's threads.
  const size_t max_slow_parses_;
  std::shared_ptr<std::atomic<bool>> abandon_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<size_t>> slow_parses_ = std::make_shared<std::atomic<size_t>>(0);
  std::unordered_set<ImportJob*> on_pool_;  // queued to the pool, completion not yet run
  base::UvHandlePtr<uv_timer_t> orphan_timer_;
  size_t orphaned_ = 0;
  http::Histogram import_seconds_{
      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}};
  base::UvHandlePtr<uv_check_t> flush_check_;
  base::UvHandlePtr<uv_idle_t> flush_soon_;  // keeps poll from waiting while a flush is due
  StorageFaults storage_faults_;
  base::UvHandlePtr<uv_idle_t> revisit_idle_;
  int64_t revisit_after_ = -1;  // the pass over incomplete chains: the last id done; -1: none
  bool draining_ = false;
  std::function<void()> drained_;
  std::function<void()> after_store_;
};

}  // namespace certinbox::daemon
