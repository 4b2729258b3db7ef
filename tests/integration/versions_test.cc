// Renewals, rollback and metadata in the real daemon, through real drops, the SUB socket and the
// real `certinbox` CLI.
#include <gtest/gtest.h>

#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Events = std::vector<json>;

constexpr int64_t kDay = 86400;

Events ReplayAll(DaemonHarness& daemon) {
  auto events = sdk::EventsSince(daemon.control(), 0);
  EXPECT_TRUE(events.has_value()) << (events ? "" : events.error().message);
  return events ? *events : Events{};
}

Issued LeafUntil(const std::string& cn, int64_t not_after) {
  CertSpec spec = LeafSpec(cn);
  spec.not_before = NowUnix() - 3600;
  spec.not_after = not_after;
  return Issue(spec);
}

TEST(VersionsTest, RenewalKeepsTheEntryThenRollbackAndMetaThroughTheCli) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  const int64_t now = NowUnix();
  Issued v1 = LeafUntil("www.versions.test", now + 100 * kDay);
  daemon.Drop("web.toml", "name = \"web\"\n");
  daemon.Drop("web.pem", v1.CertPem() + v1.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  auto imported = daemon.EventsOfType("cert.imported");
  ASSERT_EQ(imported.size(), 1u) << daemon.log();
  const int64_t id = imported[0]["certificate"]["id"];
  EXPECT_EQ(imported[0]["certificate"]["name"], "web");

  // The renewal has no sidecar: same group, CN and SANs, a later expiry.
  Issued v2 = LeafUntil("www.versions.test", now + 400 * kDay);
  daemon.Drop("web-renewed.pem", v2.CertPem() + v2.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.renewed", 1));
  auto renewed = daemon.EventsOfType("cert.renewed");
  ASSERT_EQ(renewed.size(), 1u) << daemon.log();
  EXPECT_EQ(renewed[0]["certificate"]["id"], id);
  EXPECT_EQ(renewed[0]["certificate"]["name"], "web");
  EXPECT_EQ(renewed[0]["certificate"]["version"], 2);
  EXPECT_EQ(renewed[0]["certificate"]["fingerprint_sha256"], v2.Fingerprint());
  EXPECT_EQ(renewed[0]["previous"]["version"], 1);
  EXPECT_EQ(renewed[0]["previous"]["fingerprint_sha256"], v1.Fingerprint());
  EXPECT_EQ(renewed[0]["previous"]["not_after"], Rfc3339(now + 100 * kDay));
  EXPECT_EQ(renewed[0]["rollback"], false);
  EXPECT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);
  EXPECT_EQ(daemon.LsJson()["entries"].size(), 1u);

  CommandResult versions = daemon.Cli({"show", "web", "--versions"});
  ASSERT_EQ(versions.exit_code, 0) << versions.err;
  EXPECT_TRUE(Contains(versions.out, "VERSION  STATUS")) << versions.out;
  EXPECT_TRUE(Contains(versions.out, "\n1        valid   " + v1.Fingerprint().substr(0, 16)))
      << versions.out;
  EXPECT_TRUE(Contains(versions.out, "\n2 *      valid   " + v2.Fingerprint().substr(0, 16)))
      << versions.out;
  EXPECT_TRUE(Contains(versions.out, "inbox/web-renewed.pem")) << versions.out;

  CommandResult rollback = daemon.Cli({"rollback", "web", "--to", "1"});
  ASSERT_EQ(rollback.exit_code, 0) << rollback.err;
  EXPECT_TRUE(Contains(rollback.out, "version 1 is current again")) << rollback.out;
  daemon.WaitForEvents(HasEvents("cert.renewed", 2));
  renewed = daemon.EventsOfType("cert.renewed");
  ASSERT_EQ(renewed.size(), 2u) << daemon.log();
  EXPECT_EQ(renewed[1]["rollback"], true);
  EXPECT_EQ(renewed[1]["certificate"]["id"], id);
  EXPECT_EQ(renewed[1]["certificate"]["version"], 1);
  EXPECT_EQ(renewed[1]["certificate"]["fingerprint_sha256"], v1.Fingerprint());
  EXPECT_EQ(renewed[1]["previous"]["version"], 2);
  json shown = json::parse(daemon.Cli({"show", "web", "--json"}).out);
  EXPECT_EQ(shown["version"], 1);
  EXPECT_EQ(shown["versions"][0]["current"], true);

  CommandResult again = daemon.Cli({"rollback", "web", "--to", "1"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(Contains(again.err, "already_current")) << again.err;
  CommandResult missing = daemon.Cli({"rollback", "web", "--to", "7"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(Contains(missing.err, "not_found")) << missing.err;

  // A sidecar naming web with a certificate that expires no later than web's is refused.
  Issued older = LeafUntil("www.versions.test", now + 50 * kDay);
  daemon.Drop("older.toml", "name = \"web\"\n");
  daemon.Drop("older.pem", older.CertPem() + older.KeyPem());
  daemon.WaitForEvents(HasEvents("import.rejected", 1));
  auto rejected = daemon.EventsOfType("import.rejected");
  ASSERT_EQ(rejected.size(), 1u) << daemon.log();
  EXPECT_EQ(rejected[0]["reason"], "not_a_renewal");
  EXPECT_EQ(rejected[0]["source"]["file"], "older.pem");

  CommandResult meta = daemon.Cli({"meta", "web", "--description", "front door", "--add-label",
                                   "prod", "--set", "owner=team-web"});
  ASSERT_EQ(meta.exit_code, 0) << meta.err;
  EXPECT_TRUE(Contains(meta.out, "changed description, labels, metadata")) << meta.out;
  daemon.WaitForEvents(HasEvents("cert.updated", 1));
  auto updated = daemon.EventsOfType("cert.updated");
  ASSERT_EQ(updated.size(), 1u) << daemon.log();
  EXPECT_EQ(updated[0]["changed"], json({"description", "labels", "metadata"}));
  EXPECT_EQ(updated[0]["certificate"]["labels"], json({"prod"}));
  CommandResult unchanged = daemon.Cli({"meta", "web", "--add-label", "prod"});
  ASSERT_EQ(unchanged.exit_code, 0) << unchanged.err;
  EXPECT_TRUE(Contains(unchanged.out, "nothing changed")) << unchanged.out;
  CommandResult version_meta = daemon.Cli({"meta", "web", "--version", "2", "--set", "t=CHG-9"});
  ASSERT_EQ(version_meta.exit_code, 0) << version_meta.err;
  // Each reply comes after its commit: the outbox holds exactly what was published.
  Events all = ReplayAll(daemon);
  ASSERT_EQ(CountOf(all, "cert.updated"), 2u);
  EXPECT_EQ(all.back()["changed"], json({"version_metadata"}));
  shown = json::parse(daemon.Cli({"show", "web", "--json"}).out);
  EXPECT_EQ(shown["description"], "front door");
  EXPECT_EQ(shown["metadata"]["owner"], "team-web");
  EXPECT_EQ(shown["versions"][1]["metadata"]["t"], "CHG-9");

  EXPECT_EQ(daemon.Cli({"meta", "web"}).exit_code, 2);
  CommandResult empty_label = daemon.Cli({"meta", "web", "--add-label", ""});
  EXPECT_EQ(empty_label.exit_code, 1);
  EXPECT_TRUE(Contains(empty_label.err, "bad_request")) << empty_label.err;
}

TEST(VersionsTest, RollbackToAnExpiredVersionIsRefused) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  // Valid when imported, expired a few seconds later.
  const int64_t v1_not_after = NowUnix() + 5;
  Issued v1 = LeafUntil("short.versions.test", v1_not_after);
  daemon.Drop("short.pem", v1.CertPem() + v1.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();
  Issued v2 = LeafUntil("short.versions.test", NowUnix() + 400 * kDay);
  daemon.Drop("short-renewed.pem", v2.CertPem() + v2.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.renewed", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.renewed").size(), 1u) << daemon.log();

  // The wall clock has to pass v1's expiry (a bounded wait, not a synchronisation).
  WaitUntil([&] { return NowUnix() > v1_not_after; }, std::chrono::seconds(30),
            std::chrono::milliseconds(100));
  CommandResult refused = daemon.Cli({"rollback", "short.versions.test", "--to", "1"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_TRUE(Contains(refused.err, "version_expired")) << refused.err;
  EXPECT_TRUE(Contains(refused.err, Rfc3339(v1_not_after))) << refused.err;
  json shown = json::parse(daemon.Cli({"show", "short.versions.test", "--json"}).out);
  EXPECT_EQ(shown["version"], 2);
  EXPECT_EQ(shown["versions"][0]["status"], "expired");
  EXPECT_EQ(CountOf(ReplayAll(daemon), "cert.renewed"), 1u);
}

TEST(VersionsTest, TheFiftyFirstVersionPrunesTheOldest) {
  DaemonHarness daemon;  // max_versions at its default, 50
  ASSERT_TRUE(daemon.Start());
  const int64_t now = NowUnix();
  std::vector<Issued> versions;
  for (int i = 1; i <= 51; ++i) {
    // One at a time: each must expire later than the current version when it is imported.
    versions.push_back(LeafUntil("many.versions.test", now + 100 * kDay + i * 3600));
    daemon.Drop("many-" + std::to_string(i) + ".pem",
                versions.back().CertPem() + versions.back().KeyPem());
    const Events& events = daemon.WaitForEvents([i](const Events& e) {
      return CountOf(e, "cert.imported") + CountOf(e, "cert.renewed") >= static_cast<size_t>(i);
    });
    ASSERT_EQ(CountOf(events, "cert.imported") + CountOf(events, "cert.renewed"),
              static_cast<size_t>(i))
        << daemon.log();
  }
  EXPECT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);
  auto renewed = daemon.EventsOfType("cert.renewed");
  ASSERT_EQ(renewed.size(), 50u);
  EXPECT_EQ(renewed.back()["certificate"]["version"], 51);
  EXPECT_EQ(renewed.back()["previous"]["version"], 50);

  CommandResult shown = daemon.Cli({"show", "many.versions.test", "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  json entry = json::parse(shown.out);
  ASSERT_EQ(entry["versions"].size(), 50u);
  EXPECT_EQ(entry["versions"][0]["version"], 2);
  EXPECT_EQ(entry["versions"][0]["fingerprint_sha256"], versions[1].Fingerprint());
  EXPECT_EQ(entry["versions"][49]["version"], 51);
  EXPECT_EQ(entry["versions"][49]["current"], true);
  // Version 1 is gone, its key too (not left as an unmatched key).
  json ls = daemon.LsJson();
  EXPECT_EQ(ls["entries"].size(), 1u);
  EXPECT_TRUE(ls["unmatched_keys"].empty()) << ls.dump(2);
  CommandResult gone = daemon.Cli({"rollback", "many.versions.test", "--to", "1"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_TRUE(Contains(gone.err, "not_found")) << gone.err;
}

}  // namespace
}  // namespace certinbox::testing
