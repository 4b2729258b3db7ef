#include "daemon/import_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/text.h"
#include "base/time.h"
#include "daemon/import_job.h"
#include "pipeline/parse.h"

namespace certinbox::daemon {
namespace {

base::Error ProblemError(const watchers::ReadyFile& file) {
  std::string code(watchers::ReasonCode(file.problem));
  std::string path = file.path.string();
  switch (file.problem) {
    case watchers::FileProblem::kSymlink:
      return {code,
              path + " is a symbolic link; certinbox does not follow links: drop the file itself"};
    case watchers::FileProblem::kNotRegular:
      return {code, path +
                        " is not a regular file (a FIFO, device or socket); only regular files "
                        "are imported"};
    case watchers::FileProblem::kTooLarge:
      return {code, path + " has " + std::to_string(file.size) +
                        " bytes, more than the inbox's max_file_bytes; certificate files are far "
                        "smaller: check it is the right file, or raise the limit"};
    case watchers::FileProblem::kUnreadable:
      return {code, path + " cannot be read: check its permissions"};
    case watchers::FileProblem::kNone:
      break;
  }
  return {base::code::kInternalError, "no problem"};
}

// The size of libuv's thread pool, read as libuv reads it (it is fixed at the first
// uv_queue_work of the process).
size_t ThreadPoolSize() {
  size_t size = 4;
  if (const char* value = std::getenv("UV_THREADPOOL_SIZE")) {
    size = static_cast<size_t>(std::strtoul(value, nullptr, 10));
  }
  return std::clamp<size_t>(size, 1, 1024);
}

}  // namespace

ImportService::ImportService(uv_loop_t* loop, storage::Inventory& inventory, Publisher& publisher,
                             const base::Clock& clock, bool system_trust)
    : loop_(loop),
      inventory_(inventory),
      publisher_(publisher),
      clock_(clock),
      system_trust_(system_trust),
      prefetches_(loop),
      // Two pool threads are always left to quick files, control ops (csr create), WAL
      // checkpoints and the like: slow parses never take them.
      max_slow_parses_(std::max<size_t>(1, ThreadPoolSize() - 2)),
      storage_faults_(loop, clock) {
  auto* check = base::NewUvHandle<uv_check_t>();
  uv_check_init(loop_, check);
  check->data = this;
  flush_check_.reset(check);
  auto* idle = base::NewUvHandle<uv_idle_t>();
  uv_idle_init(loop_, idle);
  flush_soon_.reset(idle);
}

ImportService::~ImportService() = default;

base::Result<void> ImportService::Start() {
  auto cas = inventory_.CaCertificates();
  if (!cas) return std::unexpected(cas.error());
  trust_ = pipeline::TrustContext::Create(*cas, system_trust_);
  // A pass over incomplete chains that a stop cut short (or a CA the system store has gained
  // since) is finished now, in the background like any other.
  RevisitIncompleteChains();
  return {};
}

void ImportService::RefreshTrust() {
  auto cas = inventory_.CaCertificates();
  if (!cas) {
    spdlog::error("cannot reload CA certificates: {}", cas.error().message);
    return;
  }
  trust_ = trust_->WithStoredCas(*cas);  // the system store stays loaded
}

void ImportService::Submit(Inbox& inbox, const watchers::ReadyFile& file) {
  if (draining_) {
    inbox.watcher->Release(file.name);
    return;
  }
  auto job = NewJob(inbox, file);
  if (file.problem != watchers::FileProblem::kNone) {
    // Rejected without being opened: straight to the next flush.
    prefetches_.Forget(inbox, file.name);
    job->error = ProblemError(file);
    completed_.push_back(std::move(job));
    ArmFlush();
    return;
  }
  auto claim = prefetches_.ClaimFor(inbox, file);
  if (claim.claimed) return;  // continued in OnPrefetchDone, with this job's count
  if (claim.done) return ContinueClaimed(std::move(claim.done));
  Enqueue(std::move(job));
}

// Counts in inbox.jobs from here until the file is finished, failed or released (a prefetch:
// until it is done or dropped), so that the inbox outlives every job that uses it.
std::unique_ptr<ImportJob> ImportService::NewJob(Inbox& inbox, const watchers::ReadyFile& file) {
  auto job = std::make_unique<ImportJob>();
  job->service = this;
  job->inbox = &inbox;
  job->file = file;
  ++inbox.jobs;
  return job;
}

void ImportService::Enqueue(std::unique_ptr<ImportJob> job) {
  queue_.push_back(std::move(job));
  StartQueued();
}

void ImportService::StartQueued() {
  while (running_ + prefetches_.running() < kMaxOnPool && completed_.size() < kMaxCompleted &&
         !queue_.empty()) {
    ImportJob* job = queue_.front().release();
    queue_.pop_front();
    ++running_;
    RunOnPool(job, &ImportService::OnJobDone);
  }
}

// Runs job->Run() on the pool with the current trust store and time, then `done` on the loop.
void ImportService::RunOnPool(ImportJob* job, void (ImportService::*done)(ImportJob*)) {
  job->trust = trust_;
  job->now = clock_.Now();
  job->on_done = done;
  job->abandon = abandon_;
  job->slow_parses = slow_parses_;
  job->max_slow_parses = max_slow_parses_;
  job->config = job->inbox->config;
  job->work.data = job;
  on_pool_.insert(job);
  uv_queue_work(
      loop_, &job->work, [](uv_work_t* work) { static_cast<ImportJob*>(work->data)->Run(); },
      [](uv_work_t* work, int) {
        auto* job = static_cast<ImportJob*>(work->data);
        if (job->orphaned) {  // the service is stopping or gone: see OrphanRunning
          delete job;
          return;
        }
        job->service->on_pool_.erase(job);
        (job->service->*job->on_done)(job);
      });
}

void ImportService::OnJobDone(ImportJob* job) {
  --running_;
  completed_.emplace_back(job);
  StartQueued();
  StartPrefetches();
  ArmFlush();
}

// Flush once per loop iteration, after every job that finished in it is collected. A check
// handle alone does not keep the loop from waiting in poll (for the next file event, say) when
// the jobs came from a timer (a settled file whose prefetch is done): the idle handle does.
void ImportService::ArmFlush() {
  uv_check_start(flush_check_.get(),
                 [](uv_check_t* check) { static_cast<ImportService*>(check->data)->Flush(); });
  uv_idle_start(flush_soon_.get(), [](uv_idle_t*) {});
}

// --- Prefetches ------------------------------------------------------------------------------

void ImportService::Prefetch(Inbox& inbox, const watchers::ReadyFile& file) {
  if (draining_ || inbox.retired || file.problem != watchers::FileProblem::kNone) return;
  if (!prefetches_.Wants(inbox, file)) return;
  prefetches_.Add(NewJob(inbox, file));  // counted until it is done or dropped
  StartPrefetches();
}

// Up to kMaxOnPool, with the imports: enough to keep the pool busy while the loop thread is
// taken up by a burst of folder events, but each import of a settled file queues behind them.
void ImportService::StartPrefetches() {
  // Settled files first: a prefetch takes a parse slot only when none is waiting.
  while (running_ + prefetches_.running() < kMaxOnPool && queue_.empty() && !draining_) {
    ImportJob* job = prefetches_.StartNext();
    if (!job) break;
    RunOnPool(job, &ImportService::OnPrefetchDone);
  }
}

void ImportService::OnPrefetchDone(ImportJob* job) {
  if (auto claimed = prefetches_.Finished(job, draining_)) ContinueClaimed(std::move(claimed));
  StartQueued();
  StartPrefetches();
  MaybeDrained();
}

void ImportService::ContinueClaimed(std::unique_ptr<ImportJob> job) {
  const base::UnixTime now = clock_.Now();
  const bool current = prefetches_.Usable(*job, trust_, now);
  job->file = *job->settled;  // off the pool for good: the settled file is the one finished
  if (current) {
    job->prefetch = ImportJob::Prefetch::kNo;
    job->now = now;  // stored as imported now, the time its dates were judged against
    completed_.push_back(std::move(job));
    ArmFlush();
    return;
  }
  Inbox& inbox = *job->inbox;
  watchers::ReadyFile file = job->file;
  --inbox.jobs;  // NewJob counts it again
  if (draining_) {
    inbox.watcher->Release(file.name);
    MaybeDrained();
    return;
  }
  Enqueue(NewJob(inbox, file));
}

// --- Storing ---------------------------------------------------------------------------------

namespace {

// "1 new entry, 1 key", "a renewal", "nothing new: everything in it was already stored".
std::string Summary(const storage::ImportOutcome& outcome) {
  std::vector<std::string> parts;
  auto count = [&parts](int n, const char* one, const char* many) {
    if (n > 0) parts.push_back(std::to_string(n) + " " + (n == 1 ? one : many));
  };
  count(outcome.new_entries, "new entry", "new entries");
  count(outcome.renewals, "renewal", "renewals");
  count(outcome.activated, "CSR entry activated", "CSR entries activated");
  count(outcome.new_keys, "key", "keys");
  if (parts.empty()) return "nothing new: everything in it was already stored";
  count(outcome.duplicates, "object already stored", "objects already stored");
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : ", ") + part;
  return out;
}

}  // namespace

// The files of one Flush, what became of each, and the events to publish once they are where
// the events say.
struct ImportService::Batch {
  struct Outcome {
    bool stored = false;
    std::string summary;  // what the stored file brought, for the log
    std::optional<base::Error> rejection;
  };
  std::vector<std::unique_ptr<ImportJob>> jobs;
  std::vector<Outcome> outcomes;  // one per job
  std::vector<storage::Event> events;
  // A storage fault (a full disk, a read-only database) says nothing about the file: it and
  // the rest of the batch stay in their inboxes, to be tried again after a pause.
  std::optional<base::Error> fault;
  bool stored_ca = false;
};

void ImportService::Flush() {
  uv_check_stop(flush_check_.get());
  uv_idle_stop(flush_soon_.get());
  prefetches_.DropStale();
  if (completed_.empty()) {
    MaybeDrained();
    return;
  }
  Batch batch = TakeBatch();
  if (auto committed = StoreBatch(batch); !committed) {
    // Nothing was stored: the files stay in their inboxes and are offered again after a pause.
    inventory_.Rollback();
    for (auto& job : batch.jobs) {
      storage_faults_.Hold(committed.error(), *job->inbox, job->file.name);
    }
    MaybeDrained();
    return;
  }
  // Only now, with the import committed and on disk, may a file leave its inbox: one sync for
  // the whole batch (group commit). A failed sync keeps every file where it is, to be offered
  // again; the events are in the outbox and go out as usual.
  if (auto synced = inventory_.SyncToDisk(); !synced) {
    batch.fault = synced.error();
    for (auto& outcome : batch.outcomes) outcome = Batch::Outcome{};
  }
  if (!batch.fault) storage_faults_.Cleared();
  for (size_t i = 0; i < batch.jobs.size(); ++i) FinishJob(batch, i);
  // Published once the files are where the events say: removed, archived or in failed/. The
  // events are already in the outbox, so a crash before this line loses none of them.
  for (const auto& event : batch.events) publisher_.Publish(event);
  if (after_store_ && std::any_of(batch.outcomes.begin(), batch.outcomes.end(),
                                  [](const Batch::Outcome& o) { return o.stored; })) {
    after_store_();
  }

  if (batch.stored_ca) {
    RefreshTrust();
    RevisitIncompleteChains();
  }
  StartQueued();
  MaybeDrained();
}

// Up to kMaxBatch completed jobs.
ImportService::Batch ImportService::TakeBatch() {
  Batch batch;
  if (completed_.size() <= kMaxBatch) {
    batch.jobs.swap(completed_);
  } else {
    // The rest waits for the next loop turn, so finished pool work is collected in between.
    auto split = completed_.begin() + static_cast<std::ptrdiff_t>(kMaxBatch);
    batch.jobs.assign(std::make_move_iterator(completed_.begin()), std::make_move_iterator(split));
    completed_.erase(completed_.begin(), split);
    ArmFlush();
  }
  batch.outcomes.resize(batch.jobs.size());
  return batch;
}

// One transaction: each job stored or its rejection recorded, until a storage fault. Returns
// what Commit (or Begin) returned; the caller rolls back when it failed.
base::Result<void> ImportService::StoreBatch(Batch& batch) {
  auto began = inventory_.Begin();
  if (!began) return std::unexpected(began.error());
  (void)inventory_.SetPublishedSeq(publisher_.last_published_seq());
  for (size_t i = 0; !batch.fault && i < batch.jobs.size(); ++i) StoreJob(batch, i);
  return inventory_.Commit();
}

void ImportService::StoreJob(Batch& batch, size_t i) {
  ImportJob& job = *batch.jobs[i];
  // Released in FinishJob, to be offered again: the daemon is stopping, or the file waits for a
  // slow parse slot (it settles again first).
  if (job.error && (job.error->code == base::code::kParseAbandoned ||
                    job.error->code == base::code::kParseDeferred)) {
    return;
  }
  if (!job.error) {
    storage::ImportRequest request;
    request.inbox = job.inbox->config.name;
    request.file = job.file.name;
    request.file_sha256 = job.drop.sha256;
    request.meta = job.drop.meta;
    request.parsed = &job.parsed;
    request.validation = &job.validation;
    request.now = job.now;
    auto imported = inventory_.Import(request);
    if (imported) {
      batch.outcomes[i].stored = true;
      batch.outcomes[i].summary = Summary(*imported);
      batch.stored_ca = batch.stored_ca || imported->stored_ca;
      for (auto& event : imported->events) batch.events.push_back(std::move(event));
      return;
    }
    if (StorageFaults::IsStorageFault(imported.error())) {
      batch.fault = imported.error();
      return;
    }
    job.error = imported.error();
  }
  auto recorded =
      inventory_.RecordRejection(job.inbox->config.name, job.file.name, *job.error, clock_.Now());
  if (!recorded && StorageFaults::IsStorageFault(recorded.error())) {
    batch.fault = recorded.error();
  } else if (recorded) {
    batch.outcomes[i].rejection = job.error;
    batch.events.push_back(std::move(*recorded));
  } else {
    spdlog::error("cannot record the rejection of {}: {}", base::Escape(job.file.path.native()),
                  recorded.error().message);
  }
}

// After the commit: the file leaves its inbox (stored, or to failed/), goes back to it (released
// to be offered again), or is held for a storage fault.
void ImportService::FinishJob(Batch& batch, size_t i) {
  ImportJob& job = *batch.jobs[i];
  const Batch::Outcome& outcome = batch.outcomes[i];
  auto& watcher = *job.inbox->watcher;
  base::Result<void> moved;
  if (batch.fault && !outcome.stored && !outcome.rejection) {
    storage_faults_.Hold(*batch.fault, *job.inbox, job.file.name);
    return;  // still counted in inbox.jobs until it is handed back
  }
  if (outcome.stored) {
    spdlog::info("imported {}: {}", base::Escape(job.file.path.native()), outcome.summary);
    moved = job.looked_for_sidecar ? watcher.Finish(job.file.name, job.sidecar)
                                   : watcher.Finish(job.file.name);
  } else if (outcome.rejection) {
    spdlog::info("rejected {}: {} ({})", base::Escape(job.file.path.native()),
                 outcome.rejection->code, base::Escape(outcome.rejection->message));
    const auto& rejection = *outcome.rejection;
    moved = job.looked_for_sidecar
                ? watcher.Fail(job.file.name, rejection.code, rejection.message, job.sidecar)
                : watcher.Fail(job.file.name, rejection.code, rejection.message);
  } else {
    watcher.Release(job.file.name);
  }
  if (!moved) {
    spdlog::error("{}: {}", base::Escape(job.file.path.native()),
                  base::Escape(moved.error().message));
  } else if (job.file.ready_ns != 0 && (outcome.stored || outcome.rejection)) {
    import_seconds_.Observe(static_cast<double>(uv_hrtime() - job.file.ready_ns) / 1e9);
  }
  --job.inbox->jobs;
}

// A CA certificate arrived: leaves stored with an incomplete chain may be complete now. They are
// looked at again from the first, kRevisitSlice at a time, one slice per turn of the loop, so
// requests, other inboxes and a stop are never held behind a large inventory. A CA arriving
// meanwhile starts the pass over.
void ImportService::RevisitIncompleteChains() {
  revisit_after_ = 0;
  if (!revisit_idle_) {
    auto* idle = base::NewUvHandle<uv_idle_t>();
    uv_idle_init(loop_, idle);
    idle->data = this;
    revisit_idle_.reset(idle);
  }
  // An idle handle runs once per turn of the loop, after its I/O (a 0 ms timer started from its
  // own callback would run again in the same turn with libuv before 1.45).
  uv_idle_start(revisit_idle_.get(),
                [](uv_idle_t* idle) { static_cast<ImportService*>(idle->data)->RevisitSlice(); });
}

void ImportService::RevisitSlice() {
  auto finished = [this] {
    revisit_after_ = -1;
    uv_idle_stop(revisit_idle_.get());
  };
  if (draining_ || revisit_after_ < 0) return finished();
  auto pending = inventory_.IncompleteChains(revisit_after_, kRevisitSlice);
  if (!pending) {
    spdlog::error("cannot list incomplete chains: {}", pending.error().message);
    return finished();
  }
  if (pending->empty()) return finished();
  std::vector<storage::Event> events;
  if (auto began = inventory_.Begin(); !began) {
    spdlog::error("cannot revisit chains: {}", began.error().message);
    return finished();
  }
  base::UnixTime now = clock_.Now();
  for (const auto& [version_id, der] : *pending) {
    auto parsed = pipeline::ParseFile(der, {});
    if (!parsed || parsed->certificates.size() != 1) continue;
    // Dates were judged at import; here only the chain and its findings are looked at again.
    auto validated = pipeline::Validate(*parsed, *trust_, {now, /*accept_expired=*/true});
    if (!validated || validated->certificates.empty()) continue;
    auto& result = validated->certificates.front();
    std::erase(result.findings, std::string(pipeline::kExpiredFinding));
    auto updated = inventory_.UpdateChain(version_id, result.chain, result.findings, now);
    if (!updated) {
      spdlog::error("cannot store the chain of version {}: {}", version_id,
                    updated.error().message);
    } else if (*updated) {
      events.push_back(std::move(**updated));
    }
  }
  if (auto committed = inventory_.Commit(); !committed) {
    inventory_.Rollback();
    spdlog::error("cannot store revisited chains: {}", committed.error().message);
    return finished();
  }
  for (const auto& event : events) publisher_.Publish(event);
  if (pending->size() < static_cast<size_t>(kRevisitSlice)) return finished();
  revisit_after_ = pending->back().first;  // the idle handle calls again next turn
}

void ImportService::Drain(std::function<void()> done) {
  draining_ = true;
  abandon_->store(true);  // parses in flight give up at their next step
  drained_ = std::move(done);
  for (auto& job : queue_) {
    job->inbox->watcher->Release(job->file.name);
    --job->inbox->jobs;
  }
  queue_.clear();
  // Prefetches not running are dropped; running ones are waited for (they use their inbox).
  prefetches_.DropAllNotRunning();
  // Parses give up at their next step; one inside a key derivation finishes it first (up to
  // seconds at the caps). Those still running after a short grace are left behind.
  if (running_ + prefetches_.running() > 0) {
    auto* timer = base::NewUvHandle<uv_timer_t>();
    uv_timer_init(loop_, timer);
    timer->data = this;
    orphan_timer_.reset(timer);
    uv_timer_start(
        timer, [](uv_timer_t* t) { static_cast<ImportService*>(t->data)->OrphanRunning(); },
        kAbandonGraceMs, 0);
  }
  MaybeDrained();
}

// Lets go of every job still on the pool: its file is released (it stays in its inbox and is
// imported on the next start), its count given back, and the job frees itself when the pool is
// done with it. The daemon then exits without waiting for the pool (Daemon::Run).
void ImportService::OrphanRunning() {
  for (ImportJob* job : on_pool_) {
    job->orphaned = true;
    Inbox& inbox = *job->inbox;
    if (job->prefetch == ImportJob::Prefetch::kRunning) {
      prefetches_.Orphan(job);
      --inbox.jobs;
      if (job->settled) {  // claimed by its settled file, whose count it carries
        inbox.watcher->Release(job->settled->name);
        --inbox.jobs;
      }
    } else {
      --running_;
      inbox.watcher->Release(job->file.name);
      --inbox.jobs;
    }
    spdlog::info("stopping: left the parse of {} behind; the file stays in the inbox",
                 job->file.path.string());
  }
  orphaned_ += on_pool_.size();
  on_pool_.clear();
  MaybeDrained();
}

void ImportService::MaybeDrained() {
  // Stopping: files held for a storage fault go back now, not after the pause.
  if (draining_) storage_faults_.ReleaseAll();
  if (!draining_ || running_ > 0 || prefetches_.running() > 0 || !completed_.empty() || !drained_) {
    return;
  }
  orphan_timer_.reset();
  auto done = std::move(drained_);
  drained_ = nullptr;
  done();
}

}  // namespace certinbox::daemon
