// Durable before the file leaves: a dropped file is unlinked (or archived) only after the commit
// that holds its import is synced to disk, with one sync per batch, not per file. Shown with a
// syscall trace of the real daemon: strace, attached to every thread, logs the writes and syncs
// of the WAL and the unlinks and renames of the dropped files in the order they happened.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// `strace -f -p PID` with its trace in a file, detached (SIGTERM) when this object goes.
class Strace {
 public:
  Strace(pid_t traced, const fs::path& trace) : err_(trace.string() + ".err") {
    for (const char* candidate : {"/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"}) {
      if (::access(candidate, X_OK) == 0) {
        binary_ = candidate;
        break;
      }
    }
    if (binary_.empty()) return;
    // -y: descriptors with their paths, so the WAL's writes and syncs can be told apart.
    process_.emplace(
        std::vector<std::string>{
            binary_, "-f", "-y", "-e",
            "trace=fsync,fdatasync,unlink,unlinkat,rename,renameat,renameat2,write,pwrite64", "-o",
            trace.string(), "-p", std::to_string(traced)},
        SpawnOptions{.stderr_file = err_.string()});
  }
  ~Strace() { Detach(); }

  bool found() const { return !binary_.empty(); }
  // Waits (bounded) until strace says it attached to the process and its threads.
  bool WaitAttached(std::chrono::milliseconds limit) const {
    return WaitUntil([&] { return Contains(ReadFile(err_), "attached"); }, limit, milliseconds(20));
  }
  // Detaches from the daemon (which goes on running) and waits for strace to end.
  void Detach() {
    if (process_) process_->Stop(SIGTERM);
    process_.reset();
  }
  std::string Stderr() const { return ReadFile(err_); }

 private:
  std::string binary_;
  fs::path err_;
  std::optional<ChildProcess> process_;
};

struct TraceCheck {
  int files_left = 0;     // unlinks and renames of dropped files
  int left_unsynced = 0;  // ... with a WAL write since the last completed WAL sync
  int wal_writes = 0;
  int wal_syncs = 0;
  std::string first_unsynced;  // the line that showed it
};

// Reads strace -f output in order. A call split by another thread's ("<unfinished ...>" then
// "<... NAME resumed>") counts as started at its first line and done at its last: a sync
// covers the writes done before it started and counts from when it is done.
TraceCheck CheckTrace(const std::string& trace, const std::regex& dropped_file) {
  static const std::regex call(R"(^(\d+)\s+(\w+)\((.*)$)");
  static const std::regex resumed(R"(^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$)");
  TraceCheck check;
  int64_t line_no = 0;
  int64_t last_wal_write = -1;                  // the line a WAL write completed
  int64_t synced_from = -2;                     // the start of the last completed WAL sync
  std::map<std::string, int64_t> sync_started;  // tid -> line its unfinished WAL sync began
  std::set<std::string> writing;                // tids with an unfinished WAL write
  std::istringstream in(trace);
  std::string line;
  auto is_wal = [](const std::string& args) {
    auto first_arg = args.substr(0, args.find(','));
    return first_arg.find("-wal>") != std::string::npos ||
           first_arg.find("-wal (deleted)>") != std::string::npos;
  };
  auto is_sync = [](const std::string& name) { return name == "fsync" || name == "fdatasync"; };
  // strace pads the " = " of a resumed call to a column.
  static const std::regex succeeded(R"(\)\s+= 0$)");
  auto ok = [](const std::string& text) { return std::regex_search(text, succeeded); };
  while (std::getline(in, line)) {
    ++line_no;
    std::smatch m;
    if (std::regex_match(line, m, resumed)) {
      const std::string tid = m[1], name = m[2];
      if (is_sync(name) && sync_started.contains(tid)) {
        if (ok(line)) synced_from = sync_started[tid];
        sync_started.erase(tid);
      } else if ((name == "pwrite64" || name == "write") && writing.erase(tid) > 0) {
        last_wal_write = line_no;
      }
      continue;
    }
    if (!std::regex_match(line, m, call)) continue;
    const std::string tid = m[1], name = m[2], args = m[3];
    const bool unfinished = args.find("<unfinished ...>") != std::string::npos;
    if ((name == "pwrite64" || name == "write") && is_wal(args)) {
      ++check.wal_writes;
      if (unfinished) writing.insert(tid);
      last_wal_write = line_no;  // and again when it is done
    } else if (is_sync(name) && is_wal(args)) {
      ++check.wal_syncs;
      if (unfinished) {
        sync_started[tid] = line_no;
      } else if (ok(line)) {
        synced_from = line_no;
      }
    } else if (name.starts_with("unlink") || name.starts_with("rename")) {
      if (!std::regex_search(args, dropped_file)) continue;
      ++check.files_left;
      if (synced_from <= last_wal_write) {
        if (check.left_unsynced++ == 0) check.first_unsynced = line;
      }
    }
  }
  return check;
}

// Drops 60 files into a traced daemon and checks the trace: with `archive` they are renamed
// into processed/, without it they are unlinked.
void DropTracedAndCheck(bool archive) {
  constexpr int kFiles = 60;
  std::vector<std::string> files;
  for (int i = 0; i < kFiles; ++i) {
    Issued leaf = Issue(LeafSpec("d" + std::to_string(i) + ".durable.test"));
    files.push_back(leaf.CertPem() + leaf.KeyPem());
  }
  DaemonHarness daemon({.settle_ms = 20, .archive = archive});
  ASSERT_TRUE(daemon.Start());
  const fs::path trace = daemon.root() / "strace.txt";
  Strace strace(daemon.pid(), trace);
  ASSERT_TRUE(strace.found()) << "strace is needed for this test (scripts/install-deps.sh)";
  ASSERT_TRUE(strace.WaitAttached(seconds(20))) << strace.Stderr();

  // Dropped while the daemon is stopped, the files are all there when it goes on: batches of
  // many files, as in a burst.
  daemon.Signal(SIGSTOP);
  for (int i = 0; i < kFiles; ++i) daemon.Drop("durable-" + std::to_string(i) + ".pem", files[i]);
  daemon.Signal(SIGCONT);
  daemon.WaitForEvents(HasEvents("cert.imported", kFiles), seconds(60));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), static_cast<size_t>(kFiles))
      << daemon.log();
  strace.Detach();

  const TraceCheck check = CheckTrace(ReadFile(trace), std::regex(R"([/"]durable-\d+\.pem")"));
  EXPECT_EQ(check.files_left, kFiles) << "every imported file left the inbox, traced";
  EXPECT_GT(check.wal_writes, 0) << "the trace shows the WAL's writes (strace -y)";
  EXPECT_EQ(check.left_unsynced, 0)
      << check.left_unsynced << " of " << check.files_left
      << " files left the inbox with their commit not yet synced; first: " << check.first_unsynced;
  // Group commit: a sync per batch, not per file. How many files a batch gets depends on how
  // the pool's results come back (2-3 batches here, up to ~16 on a busy machine), so only a
  // sync per file fails this.
  EXPECT_GT(check.wal_syncs, 0);
  EXPECT_LT(check.wal_syncs, kFiles) << "a sync per file, not per batch";
  std::cout << kFiles << " files, " << check.wal_writes << " WAL writes, " << check.wal_syncs
            << " WAL syncs\n";
  EXPECT_EQ(daemon.Stop(), 0) << daemon.log();
}

TEST(DurabilityTest, DroppedFilesAreUnlinkedOnlyAfterTheWalIsSyncedOncePerBatch) {
  DropTracedAndCheck(/*archive=*/false);
}

TEST(DurabilityTest, DroppedFilesAreArchivedOnlyAfterTheWalIsSyncedOncePerBatch) {
  DropTracedAndCheck(/*archive=*/true);
}

}  // namespace
}  // namespace certinbox::testing
