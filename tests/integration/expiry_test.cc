// The expiry scheduler in the real daemon: cert.expiring and cert.expired, each once, not again
// after a restart, with certificates made to expire in a day or in seconds.
#include <gtest/gtest.h>

#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

using nlohmann::json;
using Events = std::vector<json>;

constexpr int64_t kDay = 86400;
// Long enough for several 1-second scans: what did not repeat in it does not repeat.
constexpr auto kQuietPeriod = std::chrono::milliseconds(2500);

std::vector<json> OfType(const std::vector<json>& events, const std::string& type) {
  std::vector<json> out;
  for (const auto& event : events) {
    if (event.value("type", "") == type) out.push_back(event);
  }
  return out;
}

std::vector<json> ReplayAll(DaemonHarness& daemon) {
  auto events = sdk::EventsSince(daemon.control(), 0);
  EXPECT_TRUE(events.has_value()) << (events ? "" : events.error().message);
  return events ? *events : std::vector<json>{};
}

Issued LeafExpiringIn(const std::string& cn, int64_t seconds) {
  CertSpec spec = LeafSpec(cn);
  int64_t now = NowUnix();
  spec.not_before = now - 3600;
  spec.not_after = now + seconds;
  return Issue(spec);
}

TEST(ExpiryTest, ImportedInsideTwoThresholdsAnnouncesTheMostUrgentOnceAcrossARestart) {
  DaemonHarness daemon({.expiry_toml = "notify_days = [7, 1]\nscan_interval = \"1s\"\n"});
  ASSERT_TRUE(daemon.Start());
  // A little less than a day left: both 7 and 1 are crossed at import; only 1 is announced.
  Issued leaf = LeafExpiringIn("day.expiry.test", kDay - 600);
  daemon.Drop("day.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.expiring", 1));
  daemon.WaitForEvents(HasEvents("cert.expiring", 2), kQuietPeriod);
  auto expiring = daemon.EventsOfType("cert.expiring");
  ASSERT_EQ(expiring.size(), 1u) << daemon.log();
  EXPECT_EQ(expiring[0]["threshold_days"], 1);
  EXPECT_EQ(expiring[0]["days_left"], 0);
  EXPECT_EQ(expiring[0]["certificate"]["fingerprint_sha256"], leaf.Fingerprint());
  EXPECT_EQ(expiring[0]["certificate"]["status"], "expiring_soon");
  EXPECT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);
  EXPECT_LT(daemon.EventsOfType("cert.imported")[0]["seq"], expiring[0]["seq"]);
  CommandResult events = daemon.Cli({"events"});
  EXPECT_EQ(events.exit_code, 0) << events.err;
  EXPECT_NE(events.out.find("0 days left (threshold 1d)"), std::string::npos) << events.out;

  daemon.Stop(SIGTERM);
  ASSERT_TRUE(daemon.Start());
  daemon.WaitForEvents(HasEvents("cert.expiring", 2), kQuietPeriod);
  EXPECT_EQ(daemon.EventsOfType("cert.expiring").size(), 1u);
  EXPECT_EQ(OfType(ReplayAll(daemon), "cert.expiring").size(), 1u);
}

TEST(ExpiryTest, CertificateThatExpiresAfterImportIsAnnouncedExpiredOnceAcrossARestart) {
  DaemonHarness daemon({.expiry_toml = "notify_days = [1]\nscan_interval = \"1s\"\n"});
  ASSERT_TRUE(daemon.Start());
  // Valid when imported (accept_expired stays false), expired a few seconds later.
  Issued leaf = LeafExpiringIn("seconds.expiry.test", 6);
  daemon.Drop("seconds.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.expired", 1));
  daemon.WaitForEvents(HasEvents("cert.expired", 2), kQuietPeriod);
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();
  auto expiring = daemon.EventsOfType("cert.expiring");
  auto expired = daemon.EventsOfType("cert.expired");
  ASSERT_EQ(expiring.size(), 1u) << daemon.log();
  ASSERT_EQ(expired.size(), 1u) << daemon.log();
  EXPECT_EQ(expiring[0]["threshold_days"], 1);
  EXPECT_LT(expiring[0]["seq"], expired[0]["seq"]);
  EXPECT_EQ(expired[0]["certificate"]["fingerprint_sha256"], leaf.Fingerprint());
  EXPECT_EQ(expired[0]["certificate"]["status"], "expired");
  json entry = EntryByFingerprint(daemon.LsJson(), leaf.Fingerprint());
  EXPECT_EQ(entry["status"], "expired");

  daemon.Stop(SIGTERM);
  ASSERT_TRUE(daemon.Start());
  daemon.WaitForEvents(HasEvents("cert.expired", 2), kQuietPeriod);
  EXPECT_EQ(daemon.EventsOfType("cert.expired").size(), 1u);
  auto replayed = ReplayAll(daemon);
  EXPECT_EQ(OfType(replayed, "cert.expired").size(), 1u);
  EXPECT_EQ(OfType(replayed, "cert.expiring").size(), 1u);
}

TEST(ExpiryTest, WhatExpiredWhileTheDaemonWasDownIsAnnouncedAtStart) {
  DaemonHarness daemon({.expiry_toml = "notify_days = []\nscan_interval = \"1h\"\n"});
  ASSERT_TRUE(daemon.Start());
  const int64_t not_after = NowUnix() + 5;
  Issued leaf = LeafExpiringIn("down.expiry.test", not_after - NowUnix());
  daemon.Drop("down.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();
  daemon.Stop(SIGTERM);
  EXPECT_TRUE(daemon.EventsOfType("cert.expired").empty());
  // Down past the expiry (the wall clock has to pass it: a bounded wait, not a synchronisation).
  // The hourly scan is far off, so only the scan at start can announce it.
  ASSERT_TRUE(WaitUntil([&] { return NowUnix() > not_after + 1; }, std::chrono::seconds(30),
                        std::chrono::milliseconds(100)));
  ASSERT_TRUE(daemon.Start());
  // The scan at start may publish before the harness's SUB socket is connected (a subscriber
  // that joins late replays what it missed), so the outbox is read, with a deadline.
  std::vector<json> replayed;
  WaitUntil([&] { return !OfType(replayed = ReplayAll(daemon), "cert.expired").empty(); });
  auto expired = OfType(replayed, "cert.expired");
  ASSERT_EQ(expired.size(), 1u) << daemon.log();
  EXPECT_EQ(expired[0]["certificate"]["fingerprint_sha256"], leaf.Fingerprint());
  EXPECT_TRUE(OfType(replayed, "cert.expiring").empty());
}

}  // namespace
}  // namespace certinbox::testing
