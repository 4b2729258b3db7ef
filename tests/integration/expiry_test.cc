// The expiry scheduler in the real daemon: what only the daemon process shows (the scan after
// an import and at start, the CLI's text, a restart). How each threshold and the expiry are
// announced as time passes is tests/daemon/expiry_scheduler_test.cc, with a clock it moves:
// nothing here waits for a certificate to expire.
#include <gtest/gtest.h>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
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
  // An older config's keys, in days: a day-long certificate is expiring soon under 90 days (under
  // the default rule it would be valid, with nearly all of its lifetime left).
  DaemonHarness daemon({.expiry_toml = "expiring_soon_days = 90\nnotify_days = [7, 1]\n"
                                       "scan_interval = \"1s\"\n"});
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

// A threshold crossed while the daemon was down is announced by the scan at start. The clock
// cannot be moved in the daemon process, so the threshold moves instead: it is added to the
// config while the daemon is down.
TEST(ExpiryTest, WhatCrossedAThresholdWhileTheDaemonWasDownIsAnnouncedAtStart) {
  DaemonHarness daemon({.expiry_toml = "notify_days = []\nscan_interval = \"1h\"\n"});
  ASSERT_TRUE(daemon.Start());
  Issued leaf = LeafExpiringIn("down.expiry.test", 3 * kDay);
  daemon.Drop("down.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();
  daemon.Stop(SIGTERM);
  EXPECT_TRUE(daemon.EventsOfType("cert.expiring").empty());

  std::string config = ReadFile(daemon.config_file());
  const std::string none = "notify_days = []";
  ASSERT_NE(config.find(none), std::string::npos) << config;
  config.replace(config.find(none), none.size(), "notify_days = [7]");
  daemon.ReplaceConfig(config);
  // The hourly scan is far off, so only the scan at start can announce it. It may publish
  // before the harness's SUB socket is connected (a subscriber that joins late replays what it
  // missed), so the outbox is read, with a deadline.
  ASSERT_TRUE(daemon.Start());
  std::vector<json> replayed;
  WaitUntil([&] { return !OfType(replayed = ReplayAll(daemon), "cert.expiring").empty(); });
  auto expiring = OfType(replayed, "cert.expiring");
  ASSERT_EQ(expiring.size(), 1u) << daemon.log();
  EXPECT_EQ(expiring[0]["threshold_days"], 7);
  EXPECT_EQ(expiring[0]["certificate"]["fingerprint_sha256"], leaf.Fingerprint());
  EXPECT_TRUE(OfType(replayed, "cert.expired").empty());
}

Issued LeafOfLifetime(const std::string& cn, int64_t lifetime_days, int64_t days_since_issue) {
  CertSpec spec = LeafSpec(cn);
  spec.not_before = NowUnix() - days_since_issue * kDay - 600;
  spec.not_after = *spec.not_before + lifetime_days * kDay;
  return Issue(spec);
}

// The daemon with shares of the lifetime: a 47-day certificate at import is valid and quiet; one
// past half its lifetime is announced at 50%; one past two thirds at 33% only (50% passed over),
// and is expiring soon, saying why in `ls --json`, `show` and its cert.expiring. A restart
// announces nothing again. A 398-day certificate with a quarter left is expiring soon too: with
// a share alone, as documented, it is so from 131 days left.
TEST(ExpiryTest, SharesOfTheLifetimeAnnounceA47DayCertificateOnceEach) {
  DaemonHarness daemon({.expiry_toml = "expiring_soon = \"33%\"\n"
                                       "notify = [\"50%\", \"33%\", \"1d\"]\n"
                                       "scan_interval = \"1s\"\n"});
  ASSERT_TRUE(daemon.Start());
  Issued fresh = LeafOfLifetime("fresh.expiry.test", 47, 0);
  daemon.Drop("fresh.pem", fresh.CertPem() + fresh.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  daemon.WaitForEvents(HasEvents("cert.expiring", 1), kQuietPeriod);
  EXPECT_TRUE(daemon.EventsOfType("cert.expiring").empty()) << daemon.log();
  const json imported = daemon.EventsOfType("cert.imported").at(0)["certificate"];
  EXPECT_EQ(imported["status"], "valid");
  EXPECT_TRUE(imported["expiring_reason"].is_null());

  Issued half = LeafOfLifetime("half.expiry.test", 47, 25);  // 22 days left: 47%
  daemon.Drop("half.pem", half.CertPem() + half.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.expiring", 1));
  Issued third = LeafOfLifetime("third.expiry.test", 47, 35);  // 12 days left: 25%
  daemon.Drop("third.pem", third.CertPem() + third.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.expiring", 2));
  daemon.WaitForEvents(HasEvents("cert.expiring", 3), kQuietPeriod);
  auto expiring = daemon.EventsOfType("cert.expiring");
  ASSERT_EQ(expiring.size(), 2u) << daemon.log();
  EXPECT_EQ(expiring[0]["certificate"]["name"], "half.expiry.test");
  EXPECT_EQ(expiring[0]["threshold"], "50%");
  EXPECT_EQ(expiring[0]["threshold_days"], 23);              // half of 47 days, in whole days
  EXPECT_EQ(expiring[0]["certificate"]["status"], "valid");  // expiring soon at 33%
  EXPECT_EQ(expiring[1]["certificate"]["name"], "third.expiry.test");
  EXPECT_EQ(expiring[1]["threshold"], "33%");
  EXPECT_EQ(expiring[1]["threshold_days"], 15);
  EXPECT_EQ(expiring[1]["certificate"]["status"], "expiring_soon");
  EXPECT_EQ(expiring[1]["certificate"]["expiring_reason"], "less than 33% of its lifetime left");

  CommandResult soon = daemon.Cli({"ls", "--status", "expiring_soon", "--json"});
  ASSERT_EQ(soon.exit_code, 0) << soon.err;
  const json rows = json::parse(soon.out)["entries"];
  ASSERT_EQ(rows.size(), 1u) << soon.out;
  EXPECT_EQ(rows[0]["name"], "third.expiry.test");
  EXPECT_EQ(rows[0]["expiring_reason"], "less than 33% of its lifetime left");
  CommandResult shown = daemon.Cli({"show", "third.expiry.test"});
  EXPECT_NE(shown.out.find("expiring_soon (less than 33% of its lifetime left)"), std::string::npos)
      << shown.out;
  CommandResult events = daemon.Cli({"events"});
  EXPECT_NE(events.out.find("11 days left (threshold 33%)"), std::string::npos) << events.out;

  daemon.Stop(SIGTERM);
  ASSERT_TRUE(daemon.Start());
  Issued year = LeafOfLifetime("year.expiry.test", 398, 300);  // 98 days left: 25%
  daemon.Drop("year.pem", year.CertPem() + year.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.expiring", 3));  // the harness keeps what it received
  daemon.WaitForEvents(HasEvents("cert.expiring", 4), kQuietPeriod);
  auto after_restart = daemon.EventsOfType("cert.expiring");
  ASSERT_EQ(after_restart.size(), 3u) << "nothing announced twice: " << daemon.log();
  EXPECT_EQ(after_restart[2]["certificate"]["name"], "year.expiry.test");
  EXPECT_EQ(after_restart[2]["threshold"], "33%");
  EXPECT_EQ(after_restart[2]["threshold_days"], 131);
  EXPECT_EQ(after_restart[2]["certificate"]["status"], "expiring_soon");
  EXPECT_EQ(OfType(ReplayAll(daemon), "cert.expiring").size(), 3u);
}

}  // namespace
}  // namespace certinbox::testing
