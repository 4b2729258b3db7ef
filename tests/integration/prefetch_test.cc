// Files read ahead while they settle (prefetches): the work done early is used only when it is
// still what importing the settled file would give; otherwise the file is imported again.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/test_files.h"
#include "tests/testing/test_ca.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Long enough that a prefetch (about a millisecond) is done well before the file settles.
constexpr int kSettleMs = 800;
constexpr auto kAfterPrefetch = std::chrono::milliseconds(250);

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

// Collects events for a while after the expected ones, so a second, wrong import would be seen.
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

  // One replaced by a rename (a new inode), one rewritten in place (same inode).
  daemon.Drop("renamed.pem", first.leaf.CertPem() + first.leaf.KeyPem());
  daemon.WriteInPlace("rewritten.pem", third.leaf.CertPem() + third.leaf.KeyPem());
  std::this_thread::sleep_for(kAfterPrefetch);
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

TEST(PrefetchTest, SidecarWrittenWhileSettlingIsRead) {
  TestPki pki = TestPki::Make(LeafSpec("app.test"));
  DaemonHarness daemon(Options());
  ASSERT_TRUE(daemon.Start());

  daemon.Drop("app.pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
  std::this_thread::sleep_for(kAfterPrefetch);
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
  daemon.Drop("leaf.pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
  std::this_thread::sleep_for(kAfterPrefetch);
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
