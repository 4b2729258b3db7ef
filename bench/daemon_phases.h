// The daemon phases of the ingest benchmark, against a started DaemonRunner: importing the
// issuing CA, the burst, and the steady drop rate. Failures throw Fatal with a diagnosis (the
// daemon's status, what is left in the inbox, the tail of its log).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bench/corpus.h"
#include "bench/daemon_runner.h"
#include "bench/stats.h"

namespace certinbox::bench {

// A failure the run cannot continue past: reported, the work folder kept, exit code 1.
struct Fatal {
  std::string message;
};

// Renames `from` to `to`; throws Fatal on failure.
void RenameInto(const std::filesystem::path& from, const std::filesystem::path& to);

// Imports the issuing CA before anything is timed (stage/bench-ca.pem renamed into the inbox),
// so leaves get complete chains, as in a deployment where the CA is known. Waits up to 60 s.
void ImportCa(DaemonRunner& daemon, const testing::Issued& ca, const std::filesystem::path& stage);

struct BurstResult {
  double rename_seconds = 0;             // renaming every file into the inbox
  double first_event_seconds = 0;        // first rename to the first cert.imported of the corpus
  double last_event_seconds = 0;         // first rename to the N-th distinct fingerprint
  double files_per_second = 0;           // N / last_event_seconds
  std::optional<uint64_t> peak_rss_kib;  // VmHWM right after the last event
  std::optional<DaemonCpu> cpu;  // used by the daemon from the first rename to the last event
  double bench_cpu_seconds = 0;  // used by this process (renames, receiving events) meanwhile
  long ls_matching = -1;         // `ls` entries whose fingerprint is in the corpus (-1: ls failed)
  // status.prefetches after the burst: files read ahead while they settled whose read-ahead
  // was stored, and those imported again because something changed (-1: status failed)
  long prefetches_used = -1;
  long prefetches_redone = -1;
  long wal_checkpoints = -1;  // status.wal_checkpoints.completed: run on the pool meanwhile
};

// Sets every staged file's mtime to now (just written: each waits settle_ms), renames them all
// (same filesystem as the inbox) into the inbox at once, then waits
// (at most 10 minutes) for a cert.imported of each fingerprint. A rejection is a failure.
BurstResult RunBurst(DaemonRunner& daemon, const std::vector<CorpusFile>& staged);

struct SteadyResult {
  // Drop (rename) to cert.imported received, per file, for two kinds of drop that alternate:
  // `written`: the file's mtime is set to now just before its rename, as for a file written a
  // moment ago, so it waits settle_ms; `moved`: written long before (the corpus was staged ahead),
  // so its mtime is already settle_ms old and the daemon takes it at once.
  LatencySummary written_ms;
  LatencySummary moved_ms;
  double schedule_lag_max_ms = 0;  // how late the latest drop left, against its schedule
  int late_drops = 0;              // drops more than 5 ms behind schedule
  double seconds = 0;              // from the first drop's due time to the last drop
};

// Drops file i at start + i/rate (receiving events while it waits, so they are stamped when
// they arrive), then waits up to settle_ms + 60 s for the rest. Even-numbered files are dropped
// as `written`, odd-numbered ones as `moved`. Events are matched to drops by source.file, and
// their fingerprint checked.
SteadyResult RunSteady(DaemonRunner& daemon, const std::vector<CorpusFile>& staged, double rate,
                       int settle_ms);

}  // namespace certinbox::bench
