#include "bench/daemon_phases.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "base/wire.h"
#include "bench/stats.h"
#include "plugins/sdk/limits.h"

namespace certinbox::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Seconds = std::chrono::duration<double>;
using Millis = std::chrono::duration<double, std::milli>;

constexpr auto kBurstDeadline = std::chrono::minutes(10);

double ProcessCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + 1e-6 * static_cast<double>(tv.tv_usec);
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::string DaemonDiagnosis(DaemonRunner& daemon) {
  std::string out;
  if (!daemon.Alive()) {
    out += "  certinboxd is no longer running\n";
  } else if (auto status = daemon.Control("status", {}, milliseconds(5000))) {
    out += "  status: " + status->dump() + "\n";
  } else {
    out += "  status request failed: " + status.error() + "\n";
  }
  size_t in_inbox = 0, in_failed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(daemon.inbox(), ec))
    in_inbox += entry.is_regular_file();
  for (const auto& entry : fs::directory_iterator(daemon.inbox() / "failed", ec))
    in_failed += entry.is_regular_file();
  out += "  files still in the inbox: " + std::to_string(in_inbox) +
         ", in failed/: " + std::to_string(in_failed) + "\n";
  out += "  daemon.log (last lines):\n" + daemon.LogTail(40);
  return out;
}

}  // namespace

void RenameInto(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    throw Fatal{"rename " + from.string() + " -> " + to.string() + ": " + std::strerror(errno)};
  }
}

void ImportCa(DaemonRunner& daemon, const testing::Issued& ca, const fs::path& stage) {
  fs::create_directories(stage);
  WriteFileBytes(stage / "bench-ca.pem", ca.CertPem());
  RenameInto(stage / "bench-ca.pem", daemon.inbox() / "bench-ca.pem");
  std::vector<ReceivedEvent> events;
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    daemon.Pump(milliseconds(100), events);
    for (const auto& event : events) {
      if (event.fingerprint == ca.Fingerprint()) return;
      if (event.type == base::topic::kImportRejected)
        throw Fatal{"the CA was rejected: " + event.reason};
    }
    if (!daemon.Alive()) break;
  }
  throw Fatal{"no cert.imported for the CA within 60 s\n" + DaemonDiagnosis(daemon)};
}

BurstResult RunBurst(DaemonRunner& daemon, const std::vector<CorpusFile>& staged) {
  std::set<std::string> wanted;
  for (const auto& file : staged) wanted.insert(file.fingerprint);
  BurstResult result;

  // As if every file had just been written: each one waits settle_ms, whatever the time the
  // staging copy took (a file with an older mtime would be taken at once; see RunSteady).
  for (const auto& file : staged) {
    if (::utimensat(AT_FDCWD, file.path.c_str(), nullptr, 0) != 0) {
      throw Fatal{"utimensat " + file.path.string() + ": " + std::strerror(errno)};
    }
  }
  auto cpu_before = daemon.Cpu();
  double bench_cpu_before = ProcessCpuSeconds();
  auto t0 = Clock::now();
  for (const auto& file : staged) RenameInto(file.path, daemon.inbox() / file.name);
  result.rename_seconds = Since(t0, Clock::now());

  std::vector<ReceivedEvent> events;
  std::set<std::string> seen;
  std::vector<std::string> rejected;
  std::optional<Clock::time_point> first, last;
  auto deadline = t0 + kBurstDeadline;
  auto next_progress = t0 + std::chrono::seconds(10);
  size_t examined = 0;
  while (seen.size() + rejected.size() < staged.size()) {
    if (Clock::now() > deadline || !daemon.Alive()) {
      throw Fatal{"burst: " + std::to_string(seen.size()) + " of " + std::to_string(staged.size()) +
                  " cert.imported events after " + std::to_string(Since(t0, Clock::now())) +
                  " s\n" + DaemonDiagnosis(daemon)};
    }
    daemon.Pump(milliseconds(100), events);
    for (; examined < events.size(); ++examined) {
      const auto& event = events[examined];
      if (event.type == base::topic::kImportRejected) {
        rejected.push_back(event.file + ": " + event.reason);
      } else if (wanted.contains(event.fingerprint) && seen.insert(event.fingerprint).second) {
        if (!first) first = event.at;
        last = event.at;
      }
    }
    if (Clock::now() > next_progress) {
      std::printf("  ... %zu/%zu events after %.0f s\n", seen.size(), staged.size(),
                  Since(t0, Clock::now()));
      std::fflush(stdout);
      next_progress += std::chrono::seconds(10);
    }
  }
  if (!rejected.empty()) {
    throw Fatal{"burst: " + std::to_string(rejected.size()) +
                " files rejected, first: " + rejected.front() + "\n" + DaemonDiagnosis(daemon)};
  }
  result.first_event_seconds = Since(t0, *first);
  result.last_event_seconds = Since(t0, *last);
  result.files_per_second = static_cast<double>(staged.size()) / result.last_event_seconds;
  result.peak_rss_kib = daemon.PeakRssKib();
  result.bench_cpu_seconds = ProcessCpuSeconds() - bench_cpu_before;
  if (auto cpu_after = daemon.Cpu(); cpu_before && cpu_after) {
    result.cpu = DaemonCpu{cpu_after->loop - cpu_before->loop, cpu_after->pool - cpu_before->pool,
                           cpu_after->zmq - cpu_before->zmq};
  }

  if (auto status = daemon.Control("status", {}, milliseconds(5000))) {
    const auto& prefetches = (*status)["prefetches"];
    result.prefetches_used = prefetches.value("used", -1L);
    result.prefetches_redone = prefetches.value("redone", -1L);
    result.wal_checkpoints = (*status)["wal_checkpoints"].value("completed", -1L);
  }
  long matching = 0;
  nlohmann::json args = {{base::reply::kLimit, sdk::kMaxLsRowsPerReply}};
  // Bounded: every page but the last holds at least one entry of the burst's.
  for (size_t page = 0; page <= staged.size() + 1; ++page) {
    auto ls = daemon.Control("ls", args, milliseconds(120'000));
    if (!ls) {
      std::printf("  WARNING: ls failed: %s\n", ls.error().c_str());
      break;
    }
    for (const auto& entry : (*ls)[base::reply::kEntries]) {
      matching += wanted.contains(entry.value(base::field::kFingerprintSha256, ""));
    }
    const auto& next = (*ls)[base::reply::kNext];
    if (!next.is_string()) {
      result.ls_matching = matching;
      break;
    }
    args[base::reply::kAfter] = next;
  }
  return result;
}

SteadyResult RunSteady(DaemonRunner& daemon, const std::vector<CorpusFile>& staged, double rate,
                       int settle_ms) {
  SteadyResult result;
  struct Dropped {
    Clock::time_point at;
    std::string fingerprint;
    bool written = false;
  };
  std::map<std::string, Dropped> dropped;  // by file name
  std::vector<ReceivedEvent> events;
  const auto period = std::chrono::duration_cast<Clock::duration>(Seconds(1.0 / rate));
  // The files "written long before" get an mtime an hour back: they were generated just now,
  // and the first of them would otherwise still be younger than settle_ms when dropped.
  for (size_t i = 1; i < staged.size(); i += 2) {
    timespec times[2];
    if (::clock_gettime(CLOCK_REALTIME, &times[0]) != 0) throw Fatal{"clock_gettime failed"};
    times[0].tv_sec -= 3600;
    times[1] = times[0];
    if (::utimensat(AT_FDCWD, staged[i].path.c_str(), times, 0) != 0) {
      throw Fatal{"utimensat " + staged[i].path.string() + ": " + std::strerror(errno)};
    }
  }
  const auto start = Clock::now() + milliseconds(100);
  size_t next = 0;
  while (next < staged.size()) {
    auto due = start + static_cast<int64_t>(next) * period;
    auto now = Clock::now();
    if (now >= due) {
      const auto& file = staged[next];
      bool written = next % 2 == 0;
      if (written && ::utimensat(AT_FDCWD, file.path.c_str(), nullptr, 0) != 0) {
        throw Fatal{"utimensat " + file.path.string() + ": " + std::strerror(errno)};
      }
      now = Clock::now();
      dropped[file.name] = {now, file.fingerprint, written};
      RenameInto(file.path, daemon.inbox() / file.name);
      double lag_ms = Millis(now - due).count();
      result.schedule_lag_max_ms = std::max(result.schedule_lag_max_ms, lag_ms);
      result.late_drops += lag_ms > 5.0;
      ++next;
      continue;
    }
    // Receive while waiting, so events are stamped when they arrive, not after the schedule.
    auto wait = std::chrono::duration_cast<milliseconds>(due - now);
    if (wait.count() >= 1) {
      daemon.Pump(wait, events);
    } else {
      std::this_thread::sleep_until(due);
    }
  }
  result.seconds = Since(start, Clock::now());

  auto deadline = Clock::now() + milliseconds(settle_ms) + std::chrono::seconds(60);
  std::vector<double> written_latencies, moved_latencies;
  std::set<std::string> matched;
  size_t examined = 0;
  std::vector<std::string> problems;
  for (;;) {
    for (; examined < events.size(); ++examined) {
      const auto& event = events[examined];
      auto it = dropped.find(event.file);
      if (it == dropped.end() || matched.contains(event.file)) continue;
      if (event.type == base::topic::kImportRejected) {
        problems.push_back(event.file + " rejected: " + event.reason);
      } else if (event.fingerprint != it->second.fingerprint) {
        problems.push_back(event.file + ": event fingerprint " + event.fingerprint +
                           " is not the file's");
      } else {
        (it->second.written ? written_latencies : moved_latencies)
            .push_back(Millis(event.at - it->second.at).count());
      }
      matched.insert(event.file);
    }
    if (matched.size() == staged.size() || Clock::now() > deadline || !daemon.Alive()) break;
    daemon.Pump(milliseconds(100), events);
  }
  if (!problems.empty() || matched.size() != staged.size()) {
    std::string first = problems.empty() ? "" : "first problem: " + problems.front() + "\n";
    throw Fatal{"steady: " + std::to_string(written_latencies.size() + moved_latencies.size()) +
                " of " + std::to_string(staged.size()) + " files imported\n" + first +
                DaemonDiagnosis(daemon)};
  }
  result.written_ms = Summarize(std::move(written_latencies));
  result.moved_ms = Summarize(std::move(moved_latencies));
  return result;
}

}  // namespace certinbox::bench
