// Config reload in the real daemon: a bad config is refused with its line and column while the
// old one keeps serving; a good one is applied without a restart (inboxes added and removed,
// thresholds, bindings), on SIGHUP or when the file changes.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/test_ca.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Events = std::vector<json>;

// The harness's config, with `inboxes` in place of its one inbox and `rest` appended.
std::string ConfigText(const std::string& inboxes, const std::string& rest = "") {
  return "[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\n\n[http]\nlisten = \"\"\n\n" +
         inboxes + "\n" + rest;
}

std::string InboxToml(const std::string& name) {
  return "[[inbox]]\npath = \"" + name + "\"\nname = \"" + name +
         "\"\nsettle_ms = 100\nrescan_interval = \"2s\"\n";
}

bool Contains(const json& lines, const std::string& part) {
  for (const auto& line : lines) {
    if (line.is_string() && line.get<std::string>().find(part) != std::string::npos) return true;
  }
  return false;
}

void DropLeaf(DaemonHarness& daemon, const fs::path& dir, const std::string& cn) {
  Issued leaf = Issue(LeafSpec(cn));
  fs::path tmp = dir / ("." + cn + ".tmp");
  std::ofstream(tmp) << leaf.CertPem() << leaf.KeyPem();
  fs::rename(tmp, dir / (cn + ".pem"));
}

json ImportedNamed(const DaemonHarness& daemon, const std::string& cn) {
  for (const auto& e : daemon.EventsOfType("cert.imported")) {
    if (e["certificate"].value("name", "") == cn) return e;
  }
  return nullptr;
}

TEST(ReloadTest, BadConfigIsRefusedWithLineAndColumnAndTheRunningOneKeepsServing) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  // An event through first, so the SUB socket's subscription has surely reached the daemon.
  DropLeaf(daemon, daemon.inbox(), "first.reload.test");
  daemon.WaitForEvents(HasEvents("cert.imported"));
  // An unknown key in [expiry], at the start of its line.
  std::string bad = ConfigText(InboxToml("inbox"), "[expiry]\nnotify_dayz = [1]\n");
  std::string before = bad.substr(0, bad.find("notify_dayz"));
  int line = 1 + static_cast<int>(std::count(before.begin(), before.end(), '\n'));
  daemon.ReplaceConfig(bad);
  daemon.Signal(SIGHUP);
  daemon.WaitForEvents(HasEvents("config.rejected"));
  auto rejected = daemon.EventsOfType("config.rejected");
  ASSERT_FALSE(rejected.empty()) << daemon.log();
  const json& errors = rejected[0]["errors"];
  std::string where = daemon.config_file().string() + ":" + std::to_string(line) + ":1:";
  EXPECT_TRUE(Contains(errors, where)) << errors.dump() << " expected " << where;
  EXPECT_TRUE(Contains(errors, "notify_dayz")) << errors.dump();
  auto status = daemon.control().Request("status");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ((*status)["config"]["last_reload"]["outcome"], "rejected");

  // The running config still serves: its inbox imports.
  DropLeaf(daemon, daemon.inbox(), "still.reload.test");
  daemon.WaitForEvents(
      [&](const Events&) { return !ImportedNamed(daemon, "still.reload.test").is_null(); });
  EXPECT_FALSE(ImportedNamed(daemon, "still.reload.test").is_null()) << daemon.log();
  EXPECT_TRUE(daemon.EventsOfType("config.reloaded").empty());
}

TEST(ReloadTest, ChangedFileIsAppliedWithoutRestartInboxesThresholdsAndBindings) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  DropLeaf(daemon, daemon.inbox(), "web.reload.test");
  daemon.WaitForEvents(HasEvents("cert.imported"));

  // No signal: the file changing is enough. A second inbox, new thresholds, a binding.
  daemon.ReplaceConfig(
      ConfigText(InboxToml("inbox") + "\n" + InboxToml("second"),
                 "[expiry]\nnotify_days = [30, 7]\n\n"
                 "[[binding]]\nentry = \"web.reload.test\"\nresource = \"lb:443\"\n"));
  daemon.WaitForEvents(HasEvents("config.reloaded"));
  auto reloaded = daemon.EventsOfType("config.reloaded");
  ASSERT_EQ(reloaded.size(), 1u) << daemon.log();
  const json& changed = reloaded[0]["changed"];
  EXPECT_TRUE(Contains(changed, "inbox second added")) << changed.dump();
  EXPECT_TRUE(Contains(changed,
                       "expiry.notify: [[\"33%\", \"30d\"], [\"10%\", \"7d\"], \"1d\"] -> "
                       "[\"30d\", \"7d\"]"))
      << changed.dump();
  EXPECT_TRUE(Contains(changed, "binding added: web.reload.test -> lb:443")) << changed.dump();
  EXPECT_TRUE(reloaded[0]["restart_required"].empty());
  daemon.WaitForEvents(HasEvents("cert.bound"));
  auto bound = daemon.EventsOfType("cert.bound");
  ASSERT_EQ(bound.size(), 1u);
  EXPECT_EQ(bound[0]["resource"], "lb:443");

  // The new inbox imports.
  ASSERT_TRUE(fs::is_directory(daemon.root() / "second"));
  DropLeaf(daemon, daemon.root() / "second", "second.reload.test");
  daemon.WaitForEvents(
      [&](const Events&) { return !ImportedNamed(daemon, "second.reload.test").is_null(); });
  json second = ImportedNamed(daemon, "second.reload.test");
  ASSERT_FALSE(second.is_null()) << daemon.log();
  EXPECT_EQ(second["source"]["inbox"], "second");

  // The first inbox removed, the binding dropped, and a setting that needs a restart.
  daemon.ReplaceConfig(ConfigText(InboxToml("second"), "[bus]\npublish_hwm = 5000\n"));
  daemon.WaitForEvents(HasEvents("config.reloaded", 2));
  reloaded = daemon.EventsOfType("config.reloaded");
  ASSERT_EQ(reloaded.size(), 2u) << daemon.log();
  EXPECT_TRUE(Contains(reloaded[1]["changed"], "inbox inbox removed")) << reloaded[1].dump();
  EXPECT_TRUE(Contains(reloaded[1]["restart_required"], "bus.publish_hwm: 100000 -> 5000"))
      << reloaded[1].dump();
  daemon.WaitForEvents(HasEvents("cert.unbound"));
  EXPECT_EQ(daemon.EventsOfType("cert.unbound").size(), 1u);
  auto status = daemon.control().Request("status");
  ASSERT_TRUE(status.has_value());
  ASSERT_EQ((*status)["inboxes"].size(), 1u);
  EXPECT_EQ((*status)["inboxes"][0]["name"], "second");

  // A file dropped into the removed inbox stays there.
  DropLeaf(daemon, daemon.inbox(), "ignored.reload.test");
  daemon.WaitForEvents(
      [&](const Events&) { return !ImportedNamed(daemon, "ignored.reload.test").is_null(); },
      std::chrono::milliseconds(1500));
  EXPECT_TRUE(ImportedNamed(daemon, "ignored.reload.test").is_null());
  EXPECT_TRUE(fs::exists(daemon.inbox() / "ignored.reload.test.pem"));

  // SIGHUP with nothing changed publishes nothing.
  daemon.Signal(SIGHUP);
  daemon.WaitForEvents(HasEvents("config.reloaded", 3), std::chrono::milliseconds(1000));
  EXPECT_EQ(daemon.EventsOfType("config.reloaded").size(), 2u);

  // A changed inbox is watched again with its new settings, and still imports.
  daemon.ReplaceConfig(
      ConfigText(InboxToml("second") + "accept_expired = true\n", "[bus]\npublish_hwm = 5000\n"));
  daemon.WaitForEvents(HasEvents("config.reloaded", 3));
  reloaded = daemon.EventsOfType("config.reloaded");
  ASSERT_EQ(reloaded.size(), 3u) << daemon.log();
  EXPECT_TRUE(Contains(reloaded[2]["changed"], "inbox second changed")) << reloaded[2].dump();
  EXPECT_TRUE(reloaded[2]["restart_required"].empty()) << reloaded[2].dump();
  DropLeaf(daemon, daemon.root() / "second", "again.reload.test");
  daemon.WaitForEvents(
      [&](const Events&) { return !ImportedNamed(daemon, "again.reload.test").is_null(); });
  EXPECT_FALSE(ImportedNamed(daemon, "again.reload.test").is_null()) << daemon.log();
}

TEST(ReloadTest, AFragmentWrittenIntoConfDIsApplied) {
  DaemonHarness daemon;
  fs::create_directories(daemon.root() / "conf.d");
  ASSERT_TRUE(daemon.Start());
  DropLeaf(daemon, daemon.inbox(), "warmup.reload.test");
  daemon.WaitForEvents(HasEvents("cert.imported"));

  fs::path tmp = daemon.root() / "conf.d" / ".partner.toml.tmp";
  std::ofstream(tmp) << InboxToml("partner");
  fs::rename(tmp, daemon.root() / "conf.d" / "partner.toml");
  daemon.WaitForEvents(HasEvents("config.reloaded"));
  auto reloaded = daemon.EventsOfType("config.reloaded");
  ASSERT_EQ(reloaded.size(), 1u) << daemon.log();
  EXPECT_TRUE(Contains(reloaded[0]["changed"], "inbox partner added")) << reloaded[0].dump();
  DropLeaf(daemon, daemon.root() / "partner", "partner.reload.test");
  daemon.WaitForEvents(
      [&](const Events&) { return !ImportedNamed(daemon, "partner.reload.test").is_null(); });
  EXPECT_FALSE(ImportedNamed(daemon, "partner.reload.test").is_null()) << daemon.log();

  // A fragment that repeats a key is refused, naming both files; the partner inbox stays.
  std::ofstream(daemon.root() / "conf.d" / "zz.toml") << "[daemon]\nlog_level = \"info\"\n";
  daemon.WaitForEvents(HasEvents("config.rejected"));
  auto rejected = daemon.EventsOfType("config.rejected");
  ASSERT_EQ(rejected.size(), 1u) << daemon.log();
  EXPECT_TRUE(Contains(rejected[0]["errors"], "zz.toml:2:1: 'daemon.log_level' is already set in " +
                                                  daemon.config_file().string() + ":3"))
      << rejected[0].dump();
  auto status = daemon.control().Request("status");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ((*status)["inboxes"].size(), 2u);
}

// conf.d/ made after the start: the config's folder sees the folder appear, and from then on
// every fragment written into it reloads, the second as well as the first.
TEST(ReloadTest, EveryFragmentOfAConfDMadeWhileRunningIsApplied) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  fs::path fragments = daemon.root() / "conf.d";
  auto write_fragment = [&](const std::string& name) {
    fs::path tmp = fragments / ("." + name + ".toml.tmp");
    std::ofstream(tmp) << InboxToml(name);
    fs::rename(tmp, fragments / (name + ".toml"));
  };
  fs::create_directories(fragments);
  write_fragment("first");
  daemon.WaitForEvents(HasEvents("config.reloaded"));
  ASSERT_EQ(daemon.EventsOfType("config.reloaded").size(), 1u) << daemon.log();

  for (const std::string name : {"second", "third"}) {
    size_t before = daemon.EventsOfType("config.reloaded").size();
    write_fragment(name);
    daemon.WaitForEvents(HasEvents("config.reloaded", before + 1));
    auto reloaded = daemon.EventsOfType("config.reloaded");
    ASSERT_EQ(reloaded.size(), before + 1) << name << "\n" << daemon.log();
    EXPECT_TRUE(Contains(reloaded.back()["changed"], "inbox " + name + " added"))
        << reloaded.back().dump();
  }

  // Replaced by another folder of that name: its fragments count too.
  fs::remove_all(fragments);
  daemon.WaitForEvents(HasEvents("config.reloaded", 4));
  fs::create_directories(fragments);
  write_fragment("fourth");
  daemon.WaitForEvents([&](const Events&) {
    auto reloaded = daemon.EventsOfType("config.reloaded");
    return !reloaded.empty() && Contains(reloaded.back()["changed"], "inbox fourth added");
  });
  auto reloaded = daemon.EventsOfType("config.reloaded");
  ASSERT_FALSE(reloaded.empty());
  EXPECT_TRUE(Contains(reloaded.back()["changed"], "inbox fourth added")) << daemon.log();
}

}  // namespace
}  // namespace certinbox::testing
