// Files are never lost or imported twice: not across a stop, not across SIGKILL mid-import.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/scale.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Files at the inbox's top level (what is still waiting), not counting failed/.
size_t FilesWaiting(const fs::path& inbox) {
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(inbox)) {
    if (!entry.is_directory()) ++n;
  }
  return n;
}

bool WaitInboxEmpty(const fs::path& inbox, std::chrono::seconds limit) {
  return WaitUntil([&] { return FilesWaiting(inbox) == 0; }, limit);
}

std::vector<json> ReplayAll(DaemonHarness& daemon) {
  auto events = sdk::EventsSince(daemon.control(), 0);
  EXPECT_TRUE(events.has_value()) << (events ? "" : events.error().message);
  return events ? *events : std::vector<json>{};
}

TEST(RestartTest, FilesDroppedWhileStoppedAreImportedAtStart) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  daemon.Stop(SIGTERM);
  std::vector<std::string> fingerprints;
  for (int i = 0; i < 3; ++i) {
    TestPki pki = TestPki::Make(LeafSpec("offline" + std::to_string(i) + ".test"));
    daemon.Drop("offline" + std::to_string(i) + ".pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
    fingerprints.push_back(pki.leaf.Fingerprint());
  }
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(WaitInboxEmpty(daemon.inbox(), std::chrono::seconds(20)));
  auto replayed = ReplayAll(daemon);
  for (const auto& fingerprint : fingerprints) {
    EXPECT_EQ(CountByFingerprint(replayed, fingerprint), 1) << fingerprint;
  }
  EXPECT_EQ(daemon.LsJson()["entries"].size(), 3u);
}

TEST(RestartTest, SigkillWhileImportingLosesAndDuplicatesNothing) {
  constexpr int kFiles = Scaled(200, 80);
  Issued ca = Issue(CaSpec("Kill Test CA"));
  std::vector<std::string> files(kFiles);
  std::vector<std::string> fingerprints(kFiles);
  for (int i = 0; i < kFiles; ++i) {
    Issued leaf = Issue(LeafSpec("k" + std::to_string(i) + ".kill.test"), &ca);
    // Half the files hold leaf + key, half hold them in separate files of their own.
    files[i] = leaf.CertPem() + leaf.KeyPem();
    fingerprints[i] = leaf.Fingerprint();
  }

  std::random_device seed_source;
  unsigned seed = seed_source();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);

  DaemonHarness daemon({.settle_ms = 20});
  ASSERT_TRUE(daemon.Start());
  for (int i = 0; i < kFiles; ++i) daemon.Drop("f" + std::to_string(i) + ".pem", files[i]);

  // Kill at three random moments while the burst is being imported.
  size_t seen = 0;
  for (int round = 0; round < 3; ++round) {
    size_t target = seen + std::uniform_int_distribution<size_t>(0, kFiles / 4)(random);
    daemon.WaitForEvents([&](const std::vector<json>& events) { return events.size() >= target; },
                         std::chrono::seconds(10));
    seen = daemon.WaitForEvents([](const std::vector<json>&) { return true; }).size();
    EXPECT_EQ(daemon.Stop(SIGKILL), -SIGKILL);
    ASSERT_TRUE(daemon.Start());
  }
  ASSERT_TRUE(WaitInboxEmpty(daemon.inbox(), std::chrono::seconds(60)))
      << FilesWaiting(daemon.inbox());

  std::vector<json> replayed = ReplayAll(daemon);
  int imported = 0;
  for (const auto& event : replayed) imported += event["type"] == "cert.imported";
  EXPECT_EQ(imported, kFiles);
  for (int i = 0; i < kFiles; ++i) {
    EXPECT_EQ(CountByFingerprint(replayed, fingerprints[i]), 1) << "file f" << i;
  }
  json ls = daemon.LsJson();
  EXPECT_EQ(ls["entries"].size(), static_cast<size_t>(kFiles));
  EXPECT_EQ(ls["unmatched_keys"].size(), 0u);
  EXPECT_TRUE(fs::is_empty(daemon.failed()));
  // Sequence numbers only grow, without gaps, across the kills.
  for (size_t i = 0; i < replayed.size(); ++i) {
    EXPECT_EQ(replayed[i]["seq"].get<int64_t>(), static_cast<int64_t>(i + 1));
  }
}

}  // namespace
}  // namespace certinbox::testing
