// Files read ahead while they settle (prefetches): the work done early is used only when it is
// still what importing the settled file would give; otherwise the file is imported again.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <set>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/scale.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Long enough that a prefetch (about a millisecond) is done well before the file settles.
constexpr int kSettleMs = 800;

// Tells when the daemon has read a file of the inbox. A prefetch opens the file read-only and
// closes it once read (inotify's IN_CLOSE_NOWRITE); nothing else opens a file that is still
// settling, and the test's own writes close files opened for writing.
class ReadWatch {
 public:
  explicit ReadWatch(const fs::path& dir) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    EXPECT_GE(fd_, 0);
    EXPECT_GE(::inotify_add_watch(fd_, dir.c_str(), IN_CLOSE_NOWRITE), 0);
  }
  ~ReadWatch() { ::close(fd_); }
  ReadWatch(const ReadWatch&) = delete;
  ReadWatch& operator=(const ReadWatch&) = delete;

  // Waits (bounded) until `name` has been read since the watch began: its prefetch has seen
  // the bytes, the sidecar and the trust store as they are now.
  bool WaitRead(const std::string& name) {
    return WaitUntil(
        [&] {
          Drain();
          return read_.contains(name);
        },
        std::chrono::seconds(10), std::chrono::milliseconds(5));
  }

 private:
  void Drain() {
    alignas(inotify_event) char buffer[4096];
    ssize_t n;
    while ((n = ::read(fd_, buffer, sizeof buffer)) > 0) {
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
        if (event->len > 0) read_.insert(event->name);
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
  }

  int fd_;
  std::set<std::string> read_;
};

HarnessOptions Options() {
  HarnessOptions options;
  options.settle_ms = kSettleMs;
  return options;
}

json Prefetches(DaemonHarness& daemon) {
  auto status = daemon.control().Request("status");
  if (!status) return nullptr;
  return (*status)["prefetches"];
}

// Written elsewhere long ago and moved in: already settled, imported at once (no prefetch).
void DropSettled(DaemonHarness& daemon, const std::string& name, const std::string& bytes) {
  fs::path staged = daemon.root() / ("staged-" + name);
  std::ofstream(staged, std::ios::binary) << bytes;
  fs::last_write_time(staged, fs::file_time_type::clock::now() - std::chrono::seconds(60));
  fs::rename(staged, daemon.inbox() / name);
}

// Collects events for a while after the expected ones, so a second, wrong import would be seen
// (a wait for nothing to happen: it runs to its end when all is well).
void SettleAndWait(DaemonHarness& daemon, size_t imported) {
  daemon.WaitForEvents(HasEvents("cert.imported", imported));
  daemon.WaitForEvents([](const std::vector<json>&) { return false; },
                       std::chrono::milliseconds(kSettleMs + 300));
}

TEST(PrefetchTest, UnchangedFileUsesItsPrefetch) {
  TestPki pki = TestPki::Make(LeafSpec("plain.test"));
  DaemonHarness daemon(Options());
  ASSERT_TRUE(daemon.Start());

  daemon.Drop("plain.pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
  SettleAndWait(daemon, 1);
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);
  EXPECT_EQ(daemon.EventsOfType("cert.imported")[0]["certificate"]["fingerprint_sha256"],
            pki.leaf.Fingerprint());
  EXPECT_EQ(Prefetches(daemon), (json{{"used", 1}, {"redone", 0}}));
}

TEST(PrefetchTest, FileChangedWhileSettlingIsImportedAsItEnds) {
  TestPki first = TestPki::Make(LeafSpec("first.test"));
  TestPki second = TestPki::Make(LeafSpec("second.test"));
  TestPki third = TestPki::Make(LeafSpec("third.test"));
  TestPki fourth = TestPki::Make(LeafSpec("fourth.test"));
  DaemonHarness daemon(Options());
  ASSERT_TRUE(daemon.Start());

  // One replaced by a rename (a new inode), one rewritten in place (same inode). Both are
  // renamed in first, so that they are first seen whole (an empty file is not read ahead).
  ReadWatch reads(daemon.inbox());
  daemon.Drop("renamed.pem", first.leaf.CertPem() + first.leaf.KeyPem());
  daemon.Drop("rewritten.pem", third.leaf.CertPem() + third.leaf.KeyPem());
  ASSERT_TRUE(reads.WaitRead("renamed.pem"));
  ASSERT_TRUE(reads.WaitRead("rewritten.pem"));
  daemon.Drop("renamed.pem", second.leaf.CertPem() + second.leaf.KeyPem());
  daemon.WriteInPlace("rewritten.pem", fourth.leaf.CertPem() + fourth.leaf.KeyPem());

  SettleAndWait(daemon, 2);
  const auto& events = daemon.EventsOfType("cert.imported");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(CountByFingerprint(events, second.leaf.Fingerprint()), 1);
  EXPECT_EQ(CountByFingerprint(events, fourth.leaf.Fingerprint()), 1);
  EXPECT_EQ(Prefetches(daemon), (json{{"used", 0}, {"redone", 2}}));
  EXPECT_EQ(daemon.LsJson()["entries"].size(), 2u);
}

// As `cp -p` or `rsync -t --inplace` leave it: new bytes of the same size, the old mtime put
// back. Only the ctime tells, and it is compared too.
TEST(PrefetchTest, SameSizeRewriteWithItsMtimePutBackIsSeen) {
  TestPki first = TestPki::Make(LeafSpec("before.test"));
  TestPki second = TestPki::Make(LeafSpec("after.test"));
  std::string before = first.leaf.CertPem() + first.leaf.KeyPem();
  std::string after = second.leaf.CertPem() + second.leaf.KeyPem();
  // Same size: PEM readers skip the newlines between blocks.
  before.resize(std::max(before.size(), after.size()), '\n');
  after.resize(before.size(), '\n');
  DaemonHarness daemon(Options());
  ASSERT_TRUE(daemon.Start());

  const fs::path file = daemon.inbox() / "web.pem";
  ReadWatch reads(daemon.inbox());
  daemon.Drop("web.pem", before);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  ASSERT_TRUE(reads.WaitRead("web.pem"));
  daemon.WriteInPlace("web.pem", after);
  const timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);

  SettleAndWait(daemon, 1);
  const auto& events = daemon.EventsOfType("cert.imported");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["certificate"]["fingerprint_sha256"], second.leaf.Fingerprint());
  EXPECT_EQ(Prefetches(daemon), (json{{"used", 0}, {"redone", 1}}));
}

// A reload that changes the inbox retires it (and starts it anew) while hundreds of its files
// are read ahead or wait to be: each is imported once, and the daemon keeps running.
TEST(PrefetchTest, ReloadWhileFilesAreReadAheadLosesNothing) {
  // More than run on the pool at once (256): some wait in the queue.
  constexpr int kFiles = Scaled(400, 300);
  std::vector<Issued> leaves;
  for (int i = 0; i < kFiles; ++i)
    leaves.push_back(Issue(LeafSpec("r" + std::to_string(i) + ".test")));
  DaemonHarness daemon(Options());
  ASSERT_TRUE(daemon.Start());

  for (int i = 0; i < kFiles; ++i) {
    daemon.Drop("r" + std::to_string(i) + ".pem", leaves[i].CertPem() + leaves[i].KeyPem());
  }
  daemon.ReplaceConfig(
      "[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\n\n[http]\nlisten = \"\"\n\n"
      "[[inbox]]\npath = \"inbox\"\nname = \"inbox\"\nsettle_ms = 300\n");
  daemon.Signal(SIGHUP);

  daemon.WaitForEvents(HasEvents("cert.imported", kFiles), std::chrono::seconds(90));
  std::set<std::string> fingerprints;
  for (const auto& event : daemon.EventsOfType("cert.imported")) {
    fingerprints.insert(event["certificate"]["fingerprint_sha256"].get<std::string>());
  }
  EXPECT_EQ(daemon.EventsOfType("cert.imported").size(), static_cast<size_t>(kFiles));
  EXPECT_EQ(fingerprints.size(), static_cast<size_t>(kFiles));
  EXPECT_EQ(daemon.EventsOfType("config.reloaded").size(), 1u);
  EXPECT_EQ(daemon.EventsOfType("import.rejected").size(), 0u);
  EXPECT_EQ(daemon.Stop(), 0) << daemon.log();
}

TEST(PrefetchTest, SidecarWrittenWhileSettlingIsRead) {
  TestPki pki = TestPki::Make(LeafSpec("app.test"));
  DaemonHarness daemon(Options());
  ASSERT_TRUE(daemon.Start());

  ReadWatch reads(daemon.inbox());
  daemon.Drop("app.pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
  ASSERT_TRUE(reads.WaitRead("app.pem"));
  daemon.Drop("app.toml", "name = \"read-ahead\"\n");

  SettleAndWait(daemon, 1);
  const auto& events = daemon.EventsOfType("cert.imported");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["certificate"]["name"], "read-ahead");
  EXPECT_EQ(Prefetches(daemon), (json{{"used", 0}, {"redone", 1}}));
}

TEST(PrefetchTest, IssuerStoredWhileSettlingCompletesTheChain) {
  TestPki pki = TestPki::Make(LeafSpec("chain.test"));
  DaemonHarness daemon(Options());
  ASSERT_TRUE(daemon.Start());

  // Read ahead while its issuers are unknown: the chain is incomplete then.
  ReadWatch reads(daemon.inbox());
  daemon.Drop("leaf.pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
  ASSERT_TRUE(reads.WaitRead("leaf.pem"));
  DropSettled(daemon, "cas.pem", pki.intermediate.CertPem() + pki.root.CertPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 2));

  SettleAndWait(daemon, 3);
  json leaf = FindByFingerprint(daemon.EventsOfType("cert.imported"), pki.leaf.Fingerprint());
  ASSERT_FALSE(leaf.is_null());
  const json& findings = leaf["certificate"]["findings"];
  EXPECT_EQ(std::find(findings.begin(), findings.end(), "chain_incomplete"), findings.end())
      << leaf.dump(2);
  EXPECT_EQ(leaf["certificate"]["chain"].size(), 2u) << leaf.dump(2);
  EXPECT_EQ(Prefetches(daemon)["redone"], 1);
}

}  // namespace
}  // namespace certinbox::testing
