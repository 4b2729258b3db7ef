// A budget for every dropped file: key derivations above the caps are refused at once, slow
// parses never take every pool thread, and SIGTERM stops the daemon with parses in flight.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/kdf_files.h"
#include "tests/testing/scale.h"
#include "tests/testing/test_ca.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kHostile = 0x7fffffff;  // 2^31-1 iterations: hours each

std::string RejectedReason(const std::vector<json>& events, const std::string& file) {
  for (const json& event : events) {
    if (event.value("type", "") == "import.rejected" && event["source"]["file"] == file) {
      return event.value("reason", "");
    }
  }
  return "";
}

bool Imported(const std::vector<json>& events, const std::string& file) {
  for (const json& event : events) {
    if (event.value("type", "") == "cert.imported" && event["source"]["file"] == file) return true;
  }
  return false;
}

json ErrorJson(const DaemonHarness& daemon, const std::string& file) {
  std::ifstream in(daemon.failed() / (file + ".error.json"));
  return json::parse(in, nullptr, /*allow_exceptions=*/false);
}

// Issue 12, finding 1: four 1 KB PKCS#12 files with their MAC count patched to 2^31-1 and an
// encrypted PKCS#8 key with its PBKDF2 count patched (and a sidecar password) no longer stall
// the daemon: they are refused before any derivation, and a certificate dropped after them is
// imported at once.
TEST(BudgetTest, OverCapKeyDerivationsAreRefusedAndTheNextFileImportsAtOnce) {
  TestPki pki = TestPki::Make();
  Issued other = Issue(LeafSpec("after.test"));
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());

  std::vector<std::string> hostile;
  for (int i = 0; i < 4; ++i) {
    std::string name = "hostile-" + std::to_string(i) + ".pfx";
    std::string pfx = WithMacCount(MakePkcs12(pki.leaf, {}, "pw"), kHostile);
    ASSERT_LT(pfx.size(), 2048u);
    daemon.Drop(name, pfx);
    hostile.push_back(name);
  }
  daemon.Drop("hostile-key.toml", "password = \"pw\"\n");
  daemon.Drop("hostile-key.pem",
              PemOfDer("ENCRYPTED PRIVATE KEY",
                       WithPkcs8Count(KeyEncryptedPkcs8Der(pki.leaf.key.get(), "pw"), kHostile)));
  hostile.push_back("hostile-key.pem");

  const auto dropped = Clock::now();
  daemon.Drop("after.pem", other.CertPem());
  const auto& events = daemon.WaitForEvents(
      [&](const std::vector<json>& seen) { return Imported(seen, "after.pem"); },
      std::chrono::seconds(20));
  ASSERT_TRUE(Imported(events, "after.pem"));
  EXPECT_LT(Clock::now() - dropped, std::chrono::seconds(3));

  daemon.WaitForEvents(
      [&](const std::vector<json>& seen) {
        for (const std::string& name : hostile) {
          if (RejectedReason(seen, name).empty()) return false;
        }
        return true;
      },
      std::chrono::seconds(10));
  for (const std::string& name : hostile) {
    SCOPED_TRACE(name);
    EXPECT_EQ(RejectedReason(daemon.WaitForEvents([](auto&) { return true; }, {}), name),
              "kdf_too_expensive");
    EXPECT_TRUE(fs::exists(daemon.failed() / name));
    EXPECT_EQ(ErrorJson(daemon, name).value("reason", ""), "kdf_too_expensive");
  }

  const auto stopping = Clock::now();
  EXPECT_EQ(daemon.Stop(SIGTERM), 0);
  EXPECT_LT(Clock::now() - stopping, std::chrono::seconds(5));
}

// Per-thread CPU seconds the daemon has used (utime + stime of /proc/PID/stat).
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t end = stat.rfind(')');
  if (end == std::string::npos) return 0;
  std::istringstream fields(stat.substr(end + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

pid_t DaemonPid(const DaemonHarness& daemon) {
  std::ifstream in(daemon.state() / "certinboxd.lock");
  pid_t pid = 0;
  in >> pid;
  return pid;
}

// The daemon's resident memory in KiB (VmRSS of /proc/PID/status).
long RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// The end of the daemon's log, for a failure's message.
std::string LogTail(const DaemonHarness& daemon) {
  std::string log = daemon.log();
  return log.substr(log.size() > 5000 ? log.size() - 5000 : 0);
}

// SIGTERM with slow but allowed parses in flight (encrypted keys at 200,000 PBKDF2 iterations
// and a password_file of 150 wrong candidates: ~15 s of derivations each) stops the daemon in
// well under 5 s; the files stay in the inbox, not in failed/, to be imported on the next start.
TEST(BudgetTest, SigtermStopsWithSlowParsesInFlight) {
  TestPki pki = TestPki::Make();
  HarnessOptions options;
  options.extra_inbox_toml = "password_file = \"passwords.txt\"\n";  // beside the config
  DaemonHarness daemon(options);
  {
    std::ofstream out(daemon.root() / "passwords.txt");
    for (int i = 0; i < 150; ++i) out << "wrong-" << i << "\n";
  }
  DaemonHarness& d = daemon;
  ASSERT_TRUE(d.Start());

  std::string slow = KeyPbkdf2Pkcs8Der(pki.leaf.key.get(), "right", 200'000);
  d.Drop("slow-1.der", slow);
  d.Drop("slow-2.der", slow);
  // The loop and the pool still serve other files while both parse.
  Issued other = Issue(LeafSpec("during.test"));
  d.Drop("during.pem", other.CertPem());
  const auto& events =
      d.WaitForEvents([&](const std::vector<json>& seen) { return Imported(seen, "during.pem"); },
                      std::chrono::seconds(20));
  ASSERT_TRUE(Imported(events, "during.pem"));

  // Wait (bounded) until the daemon has spent a CPU second on the slow parses.
  pid_t pid = DaemonPid(d);
  ASSERT_GT(pid, 0);
  const double cpu_before = CpuSeconds(pid);
  const auto until = Clock::now() + std::chrono::seconds(20);
  while (CpuSeconds(pid) < cpu_before + 1.0 && Clock::now() < until) {
    d.WaitForEvents([](auto&) { return false; }, std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(RejectedReason(d.WaitForEvents([](auto&) { return true; }, {}), "slow-1.der").empty())
      << "the slow parse ended before SIGTERM: make it slower";

  const auto stopping = Clock::now();
  EXPECT_EQ(d.Stop(SIGTERM), 0);
  EXPECT_LT(Clock::now() - stopping, std::chrono::seconds(5));
  for (const char* name : {"slow-1.der", "slow-2.der"}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(fs::exists(d.inbox() / name));
    EXPECT_FALSE(fs::exists(d.failed() / name));
  }
}

// A parse that runs past the inbox's parse_timeout (CPU time) ends in failed/ with
// parse_timeout, and the daemon goes on with the next file.
TEST(BudgetTest, ParsesPastTheirTimeoutFail) {
  TestPki pki = TestPki::Make();
  HarnessOptions options;
  options.extra_inbox_toml =
      "password_file = \"passwords.txt\"\nparse_timeout = \"1s\"\n";  // beside the config
  DaemonHarness daemon(options);
  {
    std::ofstream out(daemon.root() / "passwords.txt");
    for (int i = 0; i < 150; ++i) out << "wrong-" << i << "\n";
  }
  ASSERT_TRUE(daemon.Start());
  // ~15 s of derivations in all (150 candidates x 200,000 iterations), each well under 1 s.
  daemon.Drop("slow.der", KeyPbkdf2Pkcs8Der(pki.leaf.key.get(), "right", 200'000));
  const auto& events = daemon.WaitForEvents(
      [&](const std::vector<json>& seen) { return !RejectedReason(seen, "slow.der").empty(); },
      std::chrono::seconds(60));  // 1 s of the parse's CPU time: longer on a loaded machine
  EXPECT_EQ(RejectedReason(events, "slow.der"), "parse_timeout");
  EXPECT_TRUE(fs::exists(daemon.failed() / "slow.der"));
  EXPECT_EQ(ErrorJson(daemon, "slow.der").value("reason", ""), "parse_timeout");
  EXPECT_EQ(daemon.Stop(SIGTERM), 0);
}

// SIGTERM while a parse is inside one long key derivation (10,000,000 iterations, within the
// cap: seconds of CPU) does not wait for it: the parse is left behind, the daemon exits at
// once and cleanly, and the file stays in the inbox.
TEST(BudgetTest, SigtermDoesNotWaitForADerivationInFlight) {
  TestPki pki = TestPki::Make();
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  // Made cheaply: the count is rewritten after encryption (the password then no longer fits,
  // but trying it costs the full 10,000,000 iterations).
  daemon.Drop("long.der", WithPkcs8Count(KeyEncryptedPkcs8Der(pki.leaf.key.get(), ""), 10'000'000));
  pid_t pid = DaemonPid(daemon);
  ASSERT_GT(pid, 0);
  const double cpu_before = CpuSeconds(pid);
  const auto until = Clock::now() + std::chrono::seconds(20);
  while (CpuSeconds(pid) < cpu_before + 0.3 && Clock::now() < until) {
    daemon.WaitForEvents([](auto&) { return false; }, std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(
      RejectedReason(daemon.WaitForEvents([](auto&) { return true; }, {}), "long.der").empty());
  const auto stopping = Clock::now();
  EXPECT_EQ(daemon.Stop(SIGTERM), 0);
  EXPECT_LT(Clock::now() - stopping, std::chrono::seconds(2));  // the derivation: ~3 s
  EXPECT_TRUE(fs::exists(daemon.inbox() / "long.der"));
  EXPECT_FALSE(fs::exists(daemon.failed() / "long.der"));
}

// Drops eight copies of `slow` (a file that tries each of `candidates` wrong candidate passwords
// from the inbox's password file), waits until the daemon has spent a second of CPU on them,
// then checks that a certificate dropped after them is imported at once and that SIGTERM stops
// the daemon at once, leaving the slow files in the inbox.
void SlowFilesLeaveThreadsForOthers(const TestPki& pki, const std::string& slow, int candidates) {
  HarnessOptions options;
  options.extra_inbox_toml = "password_file = \"passwords.txt\"\n";  // beside the config
  DaemonHarness daemon(options);
  {
    std::ofstream out(daemon.root() / "passwords.txt");
    for (int i = 0; i < candidates; ++i) out << i % 10 << "\n";  // 2 bytes a line: 64 KiB at most
  }
  ASSERT_TRUE(daemon.Start());
  for (int i = 0; i < 8; ++i) daemon.Drop("slow-" + std::to_string(i) + ".der", slow);
  pid_t pid = DaemonPid(daemon);
  ASSERT_GT(pid, 0);
  const double cpu_before = CpuSeconds(pid);
  const auto until = Clock::now() + std::chrono::seconds(20);
  while (CpuSeconds(pid) < cpu_before + 1.0 && Clock::now() < until) {
    daemon.WaitForEvents([](auto&) { return false; }, std::chrono::milliseconds(100));
  }

  Issued other = Issue(LeafSpec("after-slow.test"));
  const auto dropped = Clock::now();
  daemon.Drop("after-slow.pem", other.CertPem());
  const auto& events = daemon.WaitForEvents(
      [&](const std::vector<json>& seen) { return Imported(seen, "after-slow.pem"); },
      std::chrono::seconds(30));
  ASSERT_TRUE(Imported(events, "after-slow.pem")) << LogTail(daemon);
  EXPECT_LT(Clock::now() - dropped, std::chrono::seconds(3));
  for (const json& event : events) EXPECT_NE(event.value("type", ""), "import.rejected") << event;

  const auto stopping = Clock::now();
  EXPECT_EQ(daemon.Stop(SIGTERM), 0);
  EXPECT_LT(Clock::now() - stopping, std::chrono::seconds(2));
  for (int i = 0; i < 8; ++i)
    EXPECT_TRUE(fs::exists(daemon.inbox() / ("slow-" + std::to_string(i) + ".der")));
}

// Many slow but allowed files (more than the pool has threads) never take every pool thread:
// at most all but two parses reach expensive key derivations at once, the others wait in the
// inbox, and a certificate dropped after them is imported at once.
TEST(BudgetTest, SlowFilesLeaveThreadsForOthers) {
  TestPki pki = TestPki::Make();
  SlowFilesLeaveThreadsForOthers(pki, KeyPbkdf2Pkcs8Der(pki.leaf.key.get(), "right", 200'000), 150);
}

// The same with each derivation just under the slow mark: a parse is slow by the iterations of
// all its candidates together, so 150 cheap ones count like one expensive one.
TEST(BudgetTest, ManyCheapDerivationsCountAsASlowParse) {
  TestPki pki = TestPki::Make();
  SlowFilesLeaveThreadsForOthers(pki, KeyPbkdf2Pkcs8Der(pki.leaf.key.get(), "right", 99'999), 150);
}

// The same with no expensive derivation at all: a PKCS#12 whose MAC takes one iteration but
// covers ~700 KB, against 30,000 candidates (a MAC over the whole file each, ~1 ms). A parse
// is slow by the CPU time it has used too (hostile test: five such files held every pool thread
// for 50 s).
TEST(BudgetTest, ParsesThatUseMuchCpuCountAsSlow) {
  TestPki pki = TestPki::Make();
  CertList filler(Scaled(1500, 600), &pki.intermediate);
  std::string pfx = WithMacCount(MakePkcs12(pki.leaf, filler, "right"), 1);
  ASSERT_LT(pfx.size(), 1'000'000u);
  SlowFilesLeaveThreadsForOthers(pki, pfx, 30'000);
}

// A CA arriving after thousands of leaves stored with an incomplete chain: they are looked at
// again in slices, so SIGTERM right then stops the daemon at once (the whole pass used to run
// in one go on the loop thread: seconds per 10,000 leaves, holding requests and the stop), and
// the next start finishes the pass.
TEST(BudgetTest, ACaArrivingDoesNotHoldTheLoopForItsLeaves) {
  TestPki pki = TestPki::Make();
  const int files = static_cast<int>(Scaled(16, 3));
  const int per_file = 500;
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  // Leaves of an intermediate that is not stored yet (one key for all: quick to issue).
  for (int f = 0; f < files; ++f) {
    std::string pem;
    for (int i = 0; i < per_file; ++i) {
      std::string cn = "f" + std::to_string(f) + "-" + std::to_string(i) + ".test";
      pem += Issue(LeafSpec(cn), &pki.intermediate, pki.leaf.key.get()).CertPem();
    }
    daemon.Drop("leaves-" + std::to_string(f) + ".pem", pem);
  }
  const size_t expected = static_cast<size_t>(files * per_file);
  auto imported = [&](const std::vector<json>& seen) {
    size_t n = 0;
    for (const json& e : seen) n += e.value("type", "") == "cert.imported";
    return n >= expected;
  };
  ASSERT_TRUE(imported(daemon.WaitForEvents(imported, std::chrono::seconds(240))));

  daemon.Drop("ca.pem", CertsPem({&pki.intermediate, &pki.root}));
  ASSERT_TRUE(Imported(
      daemon.WaitForEvents([](const std::vector<json>& seen) { return Imported(seen, "ca.pem"); },
                           std::chrono::seconds(30)),
      "ca.pem"));
  const auto stopping = Clock::now();
  EXPECT_EQ(daemon.Stop(SIGTERM), 0);
  EXPECT_LT(Clock::now() - stopping, std::chrono::milliseconds(1500)) << LogTail(daemon);

  ASSERT_TRUE(daemon.Start());
  auto complete = [&] {
    json rows = daemon.LsJson();
    size_t incomplete = 0;
    for (const json& row : rows["entries"]) {
      for (const json& finding : row["findings"]) incomplete += finding == "chain_incomplete";
    }
    return incomplete;
  };
  const auto until = Clock::now() + std::chrono::seconds(120);
  size_t left = complete();
  while (left > 0 && Clock::now() < until) {
    daemon.WaitForEvents([](auto&) { return false; }, std::chrono::milliseconds(500));
    left = complete();
  }
  EXPECT_EQ(left, 0u);
  EXPECT_EQ(daemon.Stop(SIGTERM), 0);
}

// Files read ahead while they settle are kept up to 16 MiB together, whatever their count
// (hostile test: 150 files of 1 MB, written and removed before they settled, held 190 MB; the
// cap was 2048 files of up to max_file_bytes each).
TEST(BudgetTest, ReadAheadIsBoundedInBytes) {
  if (kSanitized) GTEST_SKIP() << "AddressSanitizer's own memory use hides the figure";
  HarnessOptions options;
  options.settle_ms = 20'000;  // every file waits, read ahead, for the whole test
  DaemonHarness daemon(options);
  ASSERT_TRUE(daemon.Start());
  pid_t pid = DaemonPid(daemon);
  ASSERT_GT(pid, 0);
  const long before = RssKib(pid);
  // A certificate of ~900 KB (20,000 names), kept parsed while its copies wait to settle.
  CertSpec spec = LeafSpec("big.test");
  for (int i = 0; i < 20'000; ++i) {
    spec.sans.push_back("DNS:name-" + std::to_string(i) + ".a-rather-long-domain.example.test");
  }
  TestPki pki = TestPki::Make();
  const std::string big = CertDer(Issue(spec, &pki.intermediate).cert.get());
  ASSERT_GT(big.size(), 800'000u);
  ASSERT_LT(big.size(), 1'000'000u);
  for (int i = 0; i < 200; ++i) daemon.Drop("big-" + std::to_string(i) + ".der", big);
  long most = 0;
  const auto until = Clock::now() + std::chrono::seconds(4);
  while (Clock::now() < until) {
    most = std::max(most, RssKib(pid));
    daemon.WaitForEvents([](auto&) { return false; }, std::chrono::milliseconds(100));
  }
  EXPECT_LT(most - before, 150 * 1024) << "200 files of 900 KB read ahead at once";
  EXPECT_EQ(daemon.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace certinbox::testing
