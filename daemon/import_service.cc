#include "daemon/import_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "daemon/drop_reader.h"
#include "pipeline/parse.h"

namespace certinbox::daemon {
namespace {

pipeline::Error ProblemError(const watchers::ReadyFile& file) {
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
  return {"internal_error", "no problem"};
}

}  // namespace

struct ImportJob {
  uv_work_t work{};
  ImportService* service = nullptr;
  Inbox* inbox = nullptr;
  watchers::ReadyFile file;
  std::shared_ptr<const pipeline::TrustContext> trust;
  pipeline::UnixTime now = 0;
  // Results, written on the pool thread, read on the loop thread after the job is done.
  std::optional<pipeline::Error> error;
  bool looked_for_sidecar = false;
  std::optional<std::filesystem::path> sidecar;  // the one read: the only one Finish/Fail move
  Drop drop;
  pipeline::ParsedFile parsed;
  pipeline::Validation validation;

  // Thread pool: everything that may be slow or CPU-bound. Never throws.
  void Run() noexcept {
    try {
      // Looked for here rather than at hand-over: lstat calls off the loop thread, and as
      // close as can be to reading it.
      sidecar = watchers::FindSidecar(file.path.parent_path(), file.name);
      looked_for_sidecar = true;
      auto read = ReadDrop(file.path, sidecar, inbox->config);
      if (!read) {
        error = read.error();
        return;
      }
      drop = std::move(*read);
      pipeline::ParseOptions options;
      options.passwords = drop.passwords;
      auto parsed_file = pipeline::ParseFile(drop.bytes, options);
      if (!parsed_file) {
        error = parsed_file.error();
        return;
      }
      parsed = std::move(*parsed_file);
      if (parsed.certificates.empty() && parsed.keys.empty()) {
        // Only CSRs: nothing here can be stored yet, and a file is never silently dropped.
        error = pipeline::Error{
            "unsupported_object",
            "the file holds only a certificate signing request; certinbox does not store CSRs "
            "made elsewhere: drop the signed certificate (with its key) once the CA has issued it"};
        return;
      }
      pipeline::ValidationOptions validation_options{now, inbox->config.accept_expired};
      auto validated = pipeline::Validate(parsed, *trust, validation_options);
      if (!validated) {
        error = validated.error();
        return;
      }
      validation = std::move(*validated);
      drop.bytes.clear();
      drop.bytes.shrink_to_fit();
      // Storage needs only the DER, the descriptions and the PKCS#8 bytes: the OpenSSL objects
      // are freed here, in parallel, rather than one after another on the loop thread (an EC
      // key's free alone was several microseconds there).
      for (auto& cert : parsed.certificates) cert.x509.reset();
      for (auto& key : parsed.keys) key.pkey.reset();
      for (auto& request : parsed.requests) request.req.reset();
    } catch (const std::exception& e) {
      error = pipeline::Error{"internal_error", std::string("import failed: ") + e.what()};
    }
  }
};

ImportService::ImportService(uv_loop_t* loop, storage::Inventory& inventory, Publisher& publisher,
                             bool system_trust)
    : loop_(loop), inventory_(inventory), publisher_(publisher), system_trust_(system_trust) {
  auto* check = watchers::NewUvHandle<uv_check_t>();
  uv_check_init(loop_, check);
  check->data = this;
  flush_check_.reset(check);
}

ImportService::~ImportService() = default;

pipeline::Result<void> ImportService::Start() {
  auto cas = inventory_.CaCertificates();
  if (!cas) return std::unexpected(cas.error());
  trust_ = pipeline::TrustContext::Create(*cas, system_trust_);
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
  auto job = std::make_unique<ImportJob>();
  job->service = this;
  job->inbox = &inbox;
  ++inbox.jobs;
  job->file = file;
  if (file.problem != watchers::FileProblem::kNone) {
    // Rejected without being opened: straight to the next flush.
    job->error = ProblemError(file);
    completed_.push_back(std::move(job));
    uv_check_start(flush_check_.get(), [](uv_check_t* check) {
      static_cast<ImportService*>(check->data)->Flush();
    });
    return;
  }
  queue_.push_back(std::move(job));
  StartQueued();
}

void ImportService::StartQueued() {
  while (running_ < kMaxRunning && !queue_.empty()) {
    ImportJob* job = queue_.front().release();
    queue_.pop_front();
    job->trust = trust_;
    job->now = pipeline::UnixNow();
    job->work.data = job;
    ++running_;
    uv_queue_work(
        loop_, &job->work, [](uv_work_t* work) { static_cast<ImportJob*>(work->data)->Run(); },
        [](uv_work_t* work, int status) {
          auto* job = static_cast<ImportJob*>(work->data);
          job->service->OnJobDone(job);
        });
  }
}

void ImportService::OnJobDone(ImportJob* job) {
  --running_;
  completed_.emplace_back(job);
  // Flush once per loop iteration, after every job that finished in it is collected.
  uv_check_start(flush_check_.get(), [](uv_check_t* check) {
    static_cast<ImportService*>(check->data)->Flush();
  });
}

void ImportService::Flush() {
  uv_check_stop(flush_check_.get());
  if (completed_.empty()) {
    MaybeDrained();
    return;
  }
  std::vector<std::unique_ptr<ImportJob>> jobs;
  jobs.swap(completed_);

  struct Outcome {
    bool stored = false;
    std::optional<pipeline::Error> rejection;
  };
  std::vector<Outcome> outcomes(jobs.size());
  std::vector<storage::Event> events;
  bool stored_ca = false;

  auto began = inventory_.Begin();
  if (began) (void)inventory_.SetPublishedSeq(publisher_.last_published_seq());
  for (size_t i = 0; began && i < jobs.size(); ++i) {
    ImportJob& job = *jobs[i];
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
      job.error = imported.error();
    }
    auto recorded = inventory_.RecordRejection(job.inbox->config.name, job.file.name, *job.error, pipeline::UnixNow());
    if (recorded) {
      outcomes[i].rejection = job.error;
      events.push_back(std::move(*recorded));
    } else {
      spdlog::error("cannot record the rejection of {}: {}", job.file.path.string(),
                    recorded.error().message);
    }
  }
  auto committed = began ? inventory_.Commit() : pipeline::Result<void>(std::unexpected(began.error()));
  if (!committed) {
    // Nothing was stored: the files stay in their inboxes and are offered again.
    spdlog::error("storing {} imports failed, will retry: {}", jobs.size(), committed.error().message);
    inventory_.Rollback();
    for (auto& job : jobs) {
      job->inbox->watcher->Release(job->file.name);
      --job->inbox->jobs;
    }
    MaybeDrained();
    return;
  }
  // Only now, with the import committed, may a file leave its inbox.
  for (size_t i = 0; i < jobs.size(); ++i) {
    ImportJob& job = *jobs[i];
    auto& watcher = *job.inbox->watcher;
    std::string problem;
    if (outcomes[i].stored) {
      if (spdlog::should_log(spdlog::level::debug)) {
        spdlog::debug("imported {}", job.file.path.string());
      }
      problem = job.looked_for_sidecar ? watcher.Finish(job.file.name, job.sidecar)
                                       : watcher.Finish(job.file.name);
    } else if (outcomes[i].rejection) {
      spdlog::info("rejected {}: {} ({})", job.file.path.string(), outcomes[i].rejection->code,
                   outcomes[i].rejection->message);
      const auto& rejection = *outcomes[i].rejection;
      problem = job.looked_for_sidecar
                    ? watcher.Fail(job.file.name, rejection.code, rejection.message, job.sidecar)
                    : watcher.Fail(job.file.name, rejection.code, rejection.message);
    } else {
      watcher.Release(job.file.name);
    }
    if (!problem.empty()) spdlog::error("{}: {}", job.file.path.string(), problem);
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

// A CA certificate arrived: leaves stored with an incomplete chain may be complete now.
void ImportService::RevisitIncompleteChains() {
  auto pending = inventory_.IncompleteChains();
  if (!pending) {
    spdlog::error("cannot list incomplete chains: {}", pending.error().message);
    return;
  }
  if (pending->empty()) return;
  std::vector<storage::Event> events;
  if (auto began = inventory_.Begin(); !began) {
    spdlog::error("cannot revisit chains: {}", began.error().message);
    return;
  }
  pipeline::UnixTime now = pipeline::UnixNow();
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
    return;
  }
  for (const auto& event : events) publisher_.Publish(event);
}

void ImportService::Drain(std::function<void()> done) {
  draining_ = true;
  drained_ = std::move(done);
  for (auto& job : queue_) {
    job->inbox->watcher->Release(job->file.name);
    --job->inbox->jobs;
  }
  queue_.clear();
  MaybeDrained();
}

void ImportService::MaybeDrained() {
  if (!draining_ || running_ > 0 || !completed_.empty() || !drained_) return;
  auto done = std::move(drained_);
  drained_ = nullptr;
  done();
}

}  // namespace certinbox::daemon
