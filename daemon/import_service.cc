#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "daemon/import_service.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "daemon/drop_reader.h"
#include "pipeline/parse.h"
#include "base/text.h"

namespace certinbox::daemon {
namespace {

base::Error ProblemError(const watchers::ReadyFile& file) {
  std::string code(watchers::ReasonCode(file.problem));
  std::string path = file.path.string();
  switch (file.problem) {
    case watchers::FileProblem::kSymlink:
      return {code, path + " is a symbolic link; certinbox does not follow links: drop the file itself"};
    case watchers::FileProblem::kNotRegular:
      return {code, path + " is not a regular file (a FIFO, device or socket); only regular files "
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

int64_t WallClockNs() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// Pool threads parse at a lower priority than the loop thread, which alone stores, publishes
// and answers requests: with more pool threads than cores, the loop thread would otherwise get
// only its share of a core and every import would queue behind it. Linux applies nice per thread.
constexpr int kPoolThreadNice = 10;

void LowerPoolThreadPriority() {
  static thread_local bool lowered = false;
  if (lowered) return;
  lowered = true;
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kPoolThreadNice) != 0) {
    spdlog::debug("cannot lower the priority of a pool thread: {}", std::strerror(errno));
  }
}

int64_t ThreadCpuNs() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
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

// Key derivations adding up to this many iterations in one file (tens of milliseconds; OpenSSL's
// own default is 2048 per derivation) make its parse a slow one: at most max_slow_parses_ of those
// run at once, so the other pool threads always serve the other files, control ops and WAL
// checkpoints. Counted over the whole file, so many cheap password candidates add up.
constexpr uint64_t kSlowDerivationIterations = 100'000;
// A parse that has used this much CPU time is slow too, whatever it spent it on.
constexpr int64_t kSlowParseCpuNs = 50'000'000;

// The longest a prefetch waits for its file's mtime tick to pass (a file with an mtime further
// in the future is read at once, and its prefetch is not used).
constexpr int64_t kMaxPrefetchWaitNs = 10'000'000;

std::string PrefetchKey(const Inbox& inbox, const std::string& name) {
  return std::to_string(inbox.id) + "/" + name;
}

}  // namespace

struct ImportJob {
  enum class Prefetch { kNo, kQueued, kRunning, kDone };

  uv_work_t work{};
  ImportService* service = nullptr;
  void (ImportService::*on_done)(ImportJob*) = nullptr;  // on the loop thread, after Run
  Inbox* inbox = nullptr;
  watchers::ReadyFile file;
  // Prefetches only: where it is, its key in ImportService::prefetches_, the file as handed over
  // once it settled (set by Submit, which claims the prefetch; `file` stays as it was read, as
  // the pool may still be reading it), and when it finished (loop time, ms).
  Prefetch prefetch = Prefetch::kNo;
  std::string key;
  std::optional<watchers::ReadyFile> settled;
  uint64_t finished_at = 0;
  int64_t read_started_ns = 0;  // wall clock just before the file was opened
  // Prefetches only: a file changed less than one clock tick ago is read only once that tick
  // has passed (a later change could otherwise leave its mtime and ctime as they were: see
  // StillCurrent).
  int64_t read_after_ns = 0;
  std::shared_ptr<const pipeline::TrustContext> trust;
  base::UnixTime now = 0;
  // Set when the daemon stops: the parse gives up at its next step (parse_abandoned) and the
  // file stays in its inbox.
  std::shared_ptr<const std::atomic<bool>> abandon;
  // Parses that reached an expensive key derivation, across the service, and how many may.
  std::shared_ptr<std::atomic<size_t>> slow_parses;
  size_t max_slow_parses = 1;
  // The inbox's config as the job started: the pool thread reads only this copy, never `inbox`,
  // so a job left behind at shutdown (orphaned) outlives its inbox safely.
  InboxConfig config;
  // Loop thread only: the service let go of the job while it was still on the pool (stopping);
  // its completion only frees it.
  bool orphaned = false;
  // Results, written on the pool thread, read on the loop thread after the job is done.
  std::optional<base::Error> error;
  bool looked_for_sidecar = false;
  std::optional<std::filesystem::path> sidecar;  // the one read: the only one Finish/Fail move
  Drop drop;
  pipeline::ParsedFile parsed;
  pipeline::Validation validation;

  // Thread pool: everything that may be slow or CPU-bound. Never throws.
  void Run() noexcept {
    LowerPoolThreadPriority();
    ReadParseValidate();
    // Only the results are kept (a prefetch may wait a while): not the bytes, not the passwords.
    drop.bytes.clear();
    drop.bytes.shrink_to_fit();
    drop.passwords.clear();
  }

  void ReadParseValidate() noexcept {
    try {
      // Looked for here rather than at hand-over: lstat calls off the loop thread, and as
      // close as can be to reading it.
      sidecar = watchers::FindSidecar(file.path.parent_path(), file.name);
      looked_for_sidecar = true;
      read_started_ns = WallClockNs();
      if (int64_t wait = read_after_ns - read_started_ns; wait > 0 && wait <= kMaxPrefetchWaitNs) {
        timespec pause{0, static_cast<long>(wait)};
        nanosleep(&pause, nullptr);
        read_started_ns = WallClockNs();
      }
      auto read = ReadDrop(file.path, sidecar, config);
      if (!read) {
        error = read.error();
        return;
      }
      drop = std::move(*read);
      pipeline::ParseOptions options;
      options.passwords = drop.passwords;
      options.kdf = {config.max_kdf_iterations, config.max_scrypt_n,
                     config.max_file_kdf_iterations};
      // The deadline is this thread's CPU time, so a loaded host does not fail files that
      // merely waited; a pool thread runs one job at a time.
      const int64_t cpu_deadline = ThreadCpuNs() + static_cast<int64_t>(config.parse_timeout_s) *
                                                       1'000'000'000;
      const uint64_t timeout_s = config.parse_timeout_s;
      // Held from the moment the parse becomes slow to its end.
      struct SlowSlot {
        std::atomic<size_t>* count = nullptr;
        ~SlowSlot() {
          if (count != nullptr) count->fetch_sub(1);
        }
      } slow_slot;
      // Takes a slow slot, or hands the file back to be offered again once it settles.
      auto become_slow = [&]() -> std::optional<base::Error> {
        if (slow_slot.count != nullptr || !slow_parses) return std::nullopt;
        size_t n = slow_parses->load();
        while (n < max_slow_parses) {
          if (slow_parses->compare_exchange_weak(n, n + 1)) {
            slow_slot.count = slow_parses.get();
            return std::nullopt;
          }
        }
        return base::Error{base::code::kParseDeferred,
                               "other expensive files are being read: tried again later"};
      };
      const int64_t slow_after = ThreadCpuNs() + kSlowParseCpuNs;
      bool parsing = true;  // a parse that is done is not handed back for being slow
      options.interrupt = [&, cpu_deadline, timeout_s]() -> std::optional<base::Error> {
        if (abandon && abandon->load(std::memory_order_relaxed)) {
          return base::Error{base::code::kParseAbandoned,
                                 "certinboxd is stopping: the file stays in the inbox and is "
                                 "imported on the next start"};
        }
        const int64_t cpu = ThreadCpuNs();
        if (cpu > cpu_deadline) {
          return base::Error{
              base::code::kParseTimeout,
              "reading the file took more than the inbox's parse_timeout (" +
                  std::to_string(timeout_s) +
                  " s of CPU time): it holds too many objects or password candidates that "
                  "are expensive to try; split it, give the right password in its sidecar, or "
                  "raise parse_timeout if the file is trusted"};
        }
        // Work that is slow without any expensive derivation (many candidates, each a MAC
        // over a large file) is slow all the same.
        if (parsing && cpu > slow_after) return become_slow();
        return std::nullopt;
      };
      uint64_t derived = 0;  // iterations of the derivations allowed so far
      options.before_derivation = [&](uint64_t cost) -> std::optional<base::Error> {
        if (slow_slot.count == nullptr && derived + cost < kSlowDerivationIterations) {
          derived += cost;
          return std::nullopt;
        }
        return become_slow();
      };
      auto parsed_file = pipeline::ParseFile(drop.bytes, options);
      parsing = false;
      if (parsed_file) {
        if (auto stop = options.interrupt()) parsed_file = std::unexpected(std::move(*stop));
      }
      if (!parsed_file) {
        error = parsed_file.error();
        return;
      }
      parsed = std::move(*parsed_file);
      if (parsed.certificates.empty() && parsed.keys.empty()) {
        // Only CSRs: nothing here can be stored yet, and a file is never silently dropped.
        error = base::Error{
            base::code::kUnsupportedObject,
            "the file holds only a certificate signing request; certinbox does not store CSRs "
            "made elsewhere: drop the signed certificate (with its key) once the CA has issued it"};
        return;
      }
      pipeline::ValidationOptions validation_options{now, config.accept_expired};
      auto validated = pipeline::Validate(parsed, *trust, validation_options);
      if (!validated) {
        error = validated.error();
        return;
      }
      validation = std::move(*validated);
      // Storage needs only the DER, the descriptions and the PKCS#8 bytes: the OpenSSL objects
      // are freed here, in parallel, rather than one after another on the loop thread (an EC
      // key's free alone was several microseconds there).
      for (auto& cert : parsed.certificates) cert.x509.reset();
      for (auto& key : parsed.keys) key.pkey.reset();
      for (auto& request : parsed.requests) request.req.reset();
    } catch (const std::exception& e) {
      error = base::Error{base::code::kInternalError, std::string("import failed: ") + e.what()};
    }
  }
};

ImportService::ImportService(uv_loop_t* loop, storage::Inventory& inventory, Publisher& publisher,
                             bool system_trust)
    : loop_(loop),
      inventory_(inventory),
      publisher_(publisher),
      system_trust_(system_trust),
      // Two pool threads are always left to quick files, control ops (csr create), WAL
      // checkpoints and the like: slow parses never take them.
      max_slow_parses_(std::max<size_t>(1, ThreadPoolSize() - 2)),
      storage_faults_(loop) {
  auto* check = base::NewUvHandle<uv_check_t>();
  uv_check_init(loop_, check);
  check->data = this;
  flush_check_.reset(check);
  auto* idle = base::NewUvHandle<uv_idle_t>();
  uv_idle_init(loop_, idle);
  flush_soon_.reset(idle);
  // The kernel stamps mtime from its coarse clock, up to one tick behind the write itself.
  if (timespec tick{}; clock_getres(CLOCK_REALTIME_COARSE, &tick) == 0) {
    mtime_tick_ns_ = static_cast<int64_t>(tick.tv_sec) * 1'000'000'000 + tick.tv_nsec;
  } else {
    mtime_tick_ns_ = 10'000'000;
  }
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
  auto it = prefetches_.find(PrefetchKey(inbox, file.name));
  if (file.problem != watchers::FileProblem::kNone) {
    // Rejected without being opened: straight to the next flush. A prefetch of what the name
    // was before is of no use now.
    if (it != prefetches_.end()) DropPrefetch(it);
    job->error = ProblemError(file);
    completed_.push_back(std::move(job));
    ArmFlush();
    return;
  }
  if (it != prefetches_.end()) {
    ImportJob& prefetch = *it->second;
    switch (prefetch.prefetch) {
      case ImportJob::Prefetch::kQueued:  // not started: imported the usual way
        DropPrefetch(it);
        break;
      case ImportJob::Prefetch::kRunning:  // continued in OnPrefetchDone, with this job's count
        prefetch.settled = file;
        return;
      case ImportJob::Prefetch::kDone: {
        auto done = std::move(it->second);
        prefetches_.erase(it);
        done->settled = file;
        ContinueClaimed(std::move(done));
        return;
      }
      case ImportJob::Prefetch::kNo:
        break;
    }
  }
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
  while (running_ + prefetch_running_ < kMaxOnPool &&
         completed_.size() < kMaxCompleted && !queue_.empty()) {
    ImportJob* job = queue_.front().release();
    queue_.pop_front();
    ++running_;
    RunOnPool(job, &ImportService::OnJobDone);
  }
}

// Runs job->Run() on the pool with the current trust store and time, then `done` on the loop.
void ImportService::RunOnPool(ImportJob* job, void (ImportService::*done)(ImportJob*)) {
  job->trust = trust_;
  job->now = base::UnixNow();
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
  uv_check_start(flush_check_.get(), [](uv_check_t* check) {
    static_cast<ImportService*>(check->data)->Flush();
  });
  uv_idle_start(flush_soon_.get(), [](uv_idle_t*) {});
}

// --- Prefetches ------------------------------------------------------------------------------

void ImportService::Prefetch(Inbox& inbox, const watchers::ReadyFile& file) {
  if (draining_ || inbox.retired || file.problem != watchers::FileProblem::kNone) return;
  DropStalePrefetches();
  std::string key = PrefetchKey(inbox, file.name);
  if (auto it = prefetches_.find(key); it != prefetches_.end()) {
    // Seen for the first time again: the file was removed and dropped anew since. A running
    // prefetch is compared with it when it settles; an older one is replaced.
    if (it->second->prefetch == ImportJob::Prefetch::kRunning) return;
    DropPrefetch(it);
  }
  if (prefetches_.size() >= kMaxPrefetches) return;
  // Bytes too: files of the largest size allowed would otherwise keep gigabytes read ahead.
  uint64_t kept = file.size;
  for (const auto& [_, other] : prefetches_) kept += other->file.size;
  if (kept > kMaxPrefetchBytes) return;
  auto job = NewJob(inbox, file);  // counted until it is done or dropped
  job->prefetch = ImportJob::Prefetch::kQueued;
  job->key = key;
  prefetches_.emplace(key, std::move(job));
  prefetch_queue_.push_back(std::move(key));
  StartPrefetches();
}

// Removes a prefetch that is not running, giving back its count if it still holds one.
void ImportService::DropPrefetch(PrefetchMap::iterator it) {
  if (it->second->prefetch == ImportJob::Prefetch::kQueued) --it->second->inbox->jobs;
  prefetches_.erase(it);  // a queued key left in prefetch_queue_ is skipped when it comes up
}

// Up to kMaxOnPool, with the imports: enough to keep the pool busy while the loop thread is
// taken up by a burst of folder events, but each import of a settled file queues behind them.
void ImportService::StartPrefetches() {
  // Settled files first: a prefetch takes a parse slot only when none is waiting.
  while (running_ + prefetch_running_ < kMaxOnPool &&
         queue_.empty() && !prefetch_queue_.empty() && !draining_) {
    auto it = prefetches_.find(prefetch_queue_.front());
    prefetch_queue_.pop_front();
    if (it == prefetches_.end() || it->second->prefetch != ImportJob::Prefetch::kQueued) continue;
    ImportJob* job = it->second.get();
    if (job->inbox->retired) {  // a reload replaced the inbox: its files are not taken
      DropPrefetch(it);
      continue;
    }
    job->prefetch = ImportJob::Prefetch::kRunning;
    job->read_after_ns = std::max(job->file.mtime_ns, job->file.ctime_ns) + mtime_tick_ns_;
    ++prefetch_running_;
    RunOnPool(job, &ImportService::OnPrefetchDone);
  }
}

void ImportService::OnPrefetchDone(ImportJob* job) {
  --prefetch_running_;
  --job->inbox->jobs;
  job->prefetch = ImportJob::Prefetch::kDone;
  job->finished_at = uv_now(loop_);
  if (job->settled) {
    auto it = prefetches_.find(job->key);
    auto claimed = std::move(it->second);
    prefetches_.erase(it);
    ContinueClaimed(std::move(claimed));
  } else if (draining_) {
    prefetches_.erase(job->key);
  }
  StartQueued();
  StartPrefetches();
  MaybeDrained();
}

void ImportService::ContinueClaimed(std::unique_ptr<ImportJob> job) {
  const base::UnixTime now = base::UnixNow();
  const bool current = StillCurrent(*job, now);
  job->file = *job->settled;  // off the pool for good: the settled file is the one finished
  if (current) {
    ++prefetches_used_;
    job->prefetch = ImportJob::Prefetch::kNo;
    job->now = now;  // stored as imported now, the time its dates were judged against
    completed_.push_back(std::move(job));
    ArmFlush();
    return;
  }
  ++prefetches_redone_;
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

// Whether a prefetch is what importing the settled file now would give. Only successes are
// used: a failure (a half-written file, a password file changed meanwhile) is tried again.
bool ImportService::StillCurrent(const ImportJob& job, base::UnixTime now) const {
  if (job.error || job.trust != trust_ || !job.settled) return false;
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

// Prefetches of files that never settled (removed meanwhile), at most once a second.
void ImportService::DropStalePrefetches() {
  const uint64_t now = uv_now(loop_);
  if (now - last_prefetch_sweep_ < 1000) return;
  last_prefetch_sweep_ = now;
  std::erase_if(prefetches_, [&](const auto& item) {
    const ImportJob& job = *item.second;
    return job.prefetch == ImportJob::Prefetch::kDone && now - job.finished_at > kPrefetchKeepMs;
  });
}

// --- Storing ---------------------------------------------------------------------------------

void ImportService::Flush() {
  uv_check_stop(flush_check_.get());
  uv_idle_stop(flush_soon_.get());
  DropStalePrefetches();
  if (completed_.empty()) {
    MaybeDrained();
    return;
  }
  std::vector<std::unique_ptr<ImportJob>> jobs;
  if (completed_.size() <= kMaxBatch) {
    jobs.swap(completed_);
  } else {
    // The rest waits for the next loop turn, so finished pool work is collected in between.
    auto split = completed_.begin() + static_cast<std::ptrdiff_t>(kMaxBatch);
    jobs.assign(std::make_move_iterator(completed_.begin()), std::make_move_iterator(split));
    completed_.erase(completed_.begin(), split);
    ArmFlush();
  }

  struct Outcome {
    bool stored = false;
    std::optional<base::Error> rejection;
  };
  // A storage fault (a full disk, a read-only database) says nothing about the file: it and
  // the rest of the batch stay in their inboxes, to be tried again after a pause.
  std::optional<base::Error> fault;
  std::vector<Outcome> outcomes(jobs.size());
  std::vector<storage::Event> events;
  bool stored_ca = false;

  auto began = inventory_.Begin();
  if (began) (void)inventory_.SetPublishedSeq(publisher_.last_published_seq());
  for (size_t i = 0; began && !fault && i < jobs.size(); ++i) {
    ImportJob& job = *jobs[i];
    // Released below, to be offered again: the daemon is stopping, or the file waits for a
    // slow parse slot (it settles again first).
    if (job.error && (job.error->code == base::code::kParseAbandoned || job.error->code == base::code::kParseDeferred)) {
      continue;
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
        outcomes[i].stored = true;
        stored_ca = stored_ca || imported->stored_ca;
        for (auto& event : imported->events) events.push_back(std::move(event));
        continue;
      }
      if (StorageFaults::IsStorageFault(imported.error())) {
        fault = imported.error();
        break;
      }
      job.error = imported.error();
    }
    auto recorded = inventory_.RecordRejection(job.inbox->config.name, job.file.name, *job.error, base::UnixNow());
    if (!recorded && StorageFaults::IsStorageFault(recorded.error())) {
      fault = recorded.error();
    } else if (recorded) {
      outcomes[i].rejection = job.error;
      events.push_back(std::move(*recorded));
    } else {
      spdlog::error("cannot record the rejection of {}: {}",
                    base::Escape(job.file.path.native()), recorded.error().message);
    }
  }
  auto committed = began ? inventory_.Commit() : base::Result<void>(std::unexpected(began.error()));
  if (!committed) {
    // Nothing was stored: the files stay in their inboxes and are offered again after a pause.
    inventory_.Rollback();
    for (auto& job : jobs) storage_faults_.Hold(committed.error(), *job->inbox, job->file.name);
    MaybeDrained();
    return;
  }
  // Only now, with the import committed and on disk, may a file leave its inbox: one sync for
  // the whole batch (group commit). A failed sync keeps every file where it is, to be offered
  // again; the events are in the outbox and go out as usual.
  if (auto synced = inventory_.SyncToDisk(); !synced) {
    fault = synced.error();
    for (auto& outcome : outcomes) outcome = Outcome{};
  }
  if (!fault) storage_faults_.Cleared();
  for (size_t i = 0; i < jobs.size(); ++i) {
    ImportJob& job = *jobs[i];
    auto& watcher = *job.inbox->watcher;
    std::string problem;
    if (fault && !outcomes[i].stored && !outcomes[i].rejection) {
      storage_faults_.Hold(*fault, *job.inbox, job.file.name);
      continue;  // still counted in inbox.jobs until it is handed back
    }
    if (outcomes[i].stored) {
      if (spdlog::should_log(spdlog::level::debug)) {
        spdlog::debug("imported {}", base::Escape(job.file.path.native()));
      }
      problem = job.looked_for_sidecar ? watcher.Finish(job.file.name, job.sidecar)
                                       : watcher.Finish(job.file.name);
    } else if (outcomes[i].rejection) {
      spdlog::info("rejected {}: {} ({})", base::Escape(job.file.path.native()),
                   outcomes[i].rejection->code, base::Escape(outcomes[i].rejection->message));
      const auto& rejection = *outcomes[i].rejection;
      problem = job.looked_for_sidecar
                    ? watcher.Fail(job.file.name, rejection.code, rejection.message, job.sidecar)
                    : watcher.Fail(job.file.name, rejection.code, rejection.message);
    } else {
      watcher.Release(job.file.name);
    }
    if (!problem.empty()) {
      spdlog::error("{}: {}", base::Escape(job.file.path.native()), base::Escape(problem));
    }
    --job.inbox->jobs;
  }
  // Published once the files are where the events say: removed, archived or in failed/. The
  // events are already in the outbox, so a crash before this line loses none of them.
  for (const auto& event : events) publisher_.Publish(event);
  if (after_store_ &&
      std::any_of(outcomes.begin(), outcomes.end(), [](const Outcome& o) { return o.stored; })) {
    after_store_();
  }

  if (stored_ca) {
    RefreshTrust();
    RevisitIncompleteChains();
  }
  StartQueued();
  MaybeDrained();
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
  base::UnixTime now = base::UnixNow();
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
      spdlog::error("cannot store the chain of version {}: {}", version_id, updated.error().message);
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
  prefetch_queue_.clear();
  for (auto it = prefetches_.begin(); it != prefetches_.end();) {
    auto next = std::next(it);
    if (it->second->prefetch != ImportJob::Prefetch::kRunning) DropPrefetch(it);
    it = next;
  }
  // Parses give up at their next step; one inside a key derivation finishes it first (up to
  // seconds at the caps). Those still running after a short grace are left behind.
  if (running_ + prefetch_running_ > 0) {
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
      --prefetch_running_;
      --inbox.jobs;
      if (job->settled) {  // claimed by its settled file, whose count it carries
        inbox.watcher->Release(job->settled->name);
        --inbox.jobs;
      }
      auto it = prefetches_.find(job->key);
      if (it != prefetches_.end()) {
        (void)it->second.release();  // owned by its completion now
        prefetches_.erase(it);
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
  if (!draining_ || running_ > 0 || prefetch_running_ > 0 || !completed_.empty() || !drained_) {
    return;
  }
  orphan_timer_.reset();
  auto done = std::move(drained_);
  drained_ = nullptr;
  done();
}

}  // namespace certinbox::daemon
