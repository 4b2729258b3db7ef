// One file's way through the import service: what is read, parsed and validated on libuv's
// thread pool (Run), and what the loop thread needs to store it or to say why not. The service
// (import_service.h) owns the jobs; a prefetch (prefetch_cache.h) is a job run before its file
// has settled.
//
// Threads: the fields above "Results" are set on the loop thread before the job goes to the
// pool; Run writes the results on a pool thread; the loop thread reads them after the job came
// back. The pool thread reads only the job's own copies (config, trust), never `inbox`, so a job
// left behind at shutdown (orphaned) outlives its inbox safely.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "base/error.h"
#include "base/time.h"
#include "daemon/config.h"
#include "daemon/drop_reader.h"
#include "daemon/inbox.h"
#include "pipeline/error.h"
#include "pipeline/parse.h"
#include "pipeline/validate.h"
#include "watchers/inbox_watcher.h"

namespace certinbox::daemon {

class ImportService;
class ParseBudget;  // import_job.cc

struct ImportJob {
  enum class Prefetch { kNo, kQueued, kRunning, kDone };

  uv_work_t work{};
  ImportService* service = nullptr;
  void (ImportService::*on_done)(ImportJob*) = nullptr;  // on the loop thread, after Run
  Inbox* inbox = nullptr;
  watchers::ReadyFile file;
  // Prefetches only: where it is, its key in the PrefetchCache, the file as handed over once it
  // settled (set by Submit, which claims the prefetch; `file` stays as it was read, as the pool
  // may still be reading it), and when it finished (loop time, ms).
  Prefetch prefetch = Prefetch::kNo;
  std::string key;
  std::optional<watchers::ReadyFile> settled;
  uint64_t finished_at = 0;
  int64_t read_started_ns = 0;  // wall clock just before the file was opened
  // Prefetches only: a file changed less than one clock tick ago is read only once that tick
  // has passed (a later change could otherwise leave its mtime and ctime as they were: see
  // PrefetchCache::Usable).
  int64_t read_after_ns = 0;
  std::shared_ptr<const pipeline::TrustContext> trust;
  base::UnixTime now = 0;
  // Set when the daemon stops: the parse gives up at its next step (parse_abandoned) and the
  // file stays in its inbox.
  std::shared_ptr<const std::atomic<bool>> abandon;
  // Parses that reached an expensive key derivation, across the service, and how many may.
  std::shared_ptr<std::atomic<size_t>> slow_parses;
  size_t max_slow_parses = 1;
  // The inbox's config as the job started: the pool thread reads only this copy.
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

  // Thread pool: reads, parses and validates the file into the results above (or `error`), and
  // keeps only the results (a prefetch may wait a while): not the bytes, not the passwords.
  // Never throws.
  void Run() noexcept;

 private:
  void ReadParseValidate() noexcept;
  // The steps of ReadParseValidate; each returns false once `error` is set.
  bool Read();
  bool Parse(ParseBudget& budget);
  bool ValidateParsed();
};

}  // namespace certinbox::daemon
