// certinbox-deploy under the real daemon, without nginx: a failing reload command, an entry
// without a key, retries, remove_on_unbind, and the default folder names.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::vector<json> PushEvents(const std::vector<json>& events, const std::string& type,
                             const std::string& resource) {
  std::vector<json> out;
  for (const auto& event : events) {
    if (event.value("type", "") == type && event.value("resource", "") == resource) {
      out.push_back(event);
    }
  }
  return out;
}

auto HasPushes(const std::string& type, const std::string& resource, size_t n) {
  return [=](const std::vector<json>& events) {
    return PushEvents(events, type, resource).size() >= n;
  };
}

json BindingOf(const DaemonHarness& daemon, const std::string& entry, const std::string& resource) {
  CommandResult shown = daemon.Cli({"show", entry, "--json"});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  json parsed = json::parse(shown.out, nullptr, false);
  if (parsed.is_object() && parsed.contains("bindings")) {
    for (const auto& binding : parsed["bindings"]) {
      if (binding.value("resource", "") == resource) return binding;
    }
  }
  return nullptr;
}

Issued Leaf(const std::string& cn) {
  CertSpec spec = LeafSpec(cn);
  spec.not_before = NowUnix() - 3600;
  return Issue(spec);
}

TEST(DeployTest, AFailingReloadIsReportedWithItsExitStatusAndOutputAndRetried) {
  TempDir live("cbx-deploy-", TempDir::Keep::kOnFailure);
  HarnessOptions options;
  options.extra_toml =
      "[[plugin]]\nname = \"deploy\"\ncommand = \"certinbox-deploy\"\n"
      "events = [\"cert.\"]\n[plugin.options]\ndir = " +
      json(live.path().string()).dump() +
      "\nretry = \"1s\"\n"
      // The reload command is the operator's: it never sees the plugin's token.
      "reload = \"echo reloading $CERTINBOX_RESOURCE token=${CERTINBOX_PLUGIN_TOKEN-unset}; "
      "echo 'reload broke' >&2; "
      "exit 3\"\n";
  DaemonHarness daemon(options);
  ASSERT_TRUE(daemon.Start());
  Issued cert = Leaf("broken.deploy.test");
  daemon.Drop("broken.toml", "name = \"broken\"\n");
  daemon.Drop("broken.pem", cert.CertPem() + cert.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();

  CommandResult bind = daemon.Cli({"bind", "broken", "lb:443", "--plugin", "deploy"});
  ASSERT_EQ(bind.exit_code, 0) << bind.err;
  // The first failure, then a retry about a second later.
  daemon.WaitForEvents(HasPushes("push.failed", "lb:443", 2), 30s);
  auto failed = PushEvents(daemon.EventsOfType("push.failed"), "push.failed", "lb:443");
  ASSERT_GE(failed.size(), 2u) << daemon.log();
  EXPECT_EQ(failed[0]["version"], 1) << failed[0].dump();
  EXPECT_EQ(failed[0]["exit_status"], 3) << failed[0].dump();
  EXPECT_EQ(failed[0]["output"], "reloading lb:443 token=unset\nreload broke\n")
      << failed[0].dump();
  EXPECT_NE(failed[0].value("message", "").find("exit 3"), std::string::npos) << failed[0].dump();
  EXPECT_TRUE(
      PushEvents(daemon.EventsOfType("push.succeeded"), "push.succeeded", "lb:443").empty());

  json binding = BindingOf(daemon, "broken", "lb:443");
  EXPECT_TRUE(binding["pushed_version"].is_null()) << binding.dump();
  EXPECT_EQ(binding["last_push_result"], "failed") << binding.dump();

  // The files were written before the reload ran (the folder name has ':' replaced).
  const fs::path folder = live.path() / "lb_443";
  EXPECT_EQ(ReadFile(folder / "cert.pem"), cert.CertPem());
  struct stat st {};
  ASSERT_EQ(::stat((folder / "privkey.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_NE(daemon.log().find("plugin deploy"), std::string::npos) << daemon.log();

  // Unbound, without remove_on_unbind: the plugin says so, and the files stay.
  ASSERT_EQ(daemon.Cli({"unbind", "broken", "lb:443"}).exit_code, 0);
  WaitUntil([&] { return Contains(daemon.log(), "lb:443: unbound: files left in"); });
  EXPECT_NE(daemon.log().find("lb:443: unbound: files left in " + folder.string()),
            std::string::npos)
      << daemon.log();
  for (const char* file : {"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"}) {
    EXPECT_TRUE(fs::exists(folder / file)) << file;
  }
}

TEST(DeployTest, NoKeyMeansNothingWrittenAndRemoveOnUnbind) {
  TempDir live("cbx-deploy-", TempDir::Keep::kOnFailure);
  TempDir reload_marks("cbx-deploy-", TempDir::Keep::kOnFailure);
  HarnessOptions options;
  // Each reload leaves a mark, so the test sees how often it ran.
  options.extra_toml =
      "[[plugin]]\nname = \"deploy\"\ncommand = \"certinbox-deploy\"\n"
      "events = [\"cert.\"]\n[plugin.options]\ndir = " +
      json(live.path().string()).dump() +
      "\nretry = \"1s\"\nremove_on_unbind = true\n"
      "reload = \"touch " +
      reload_marks.path().string() + "/$CERTINBOX_RESOURCE-$CERTINBOX_CERT_VERSION\"\n";
  DaemonHarness daemon(options);
  ASSERT_TRUE(daemon.Start());

  Issued keyless = Leaf("keyless.deploy.test");
  daemon.Drop("keyless.toml", "name = \"keyless\"\n");
  daemon.Drop("keyless.pem", keyless.CertPem());
  Issued keyed = Leaf("keyed.deploy.test");
  daemon.Drop("keyed.toml", "name = \"keyed\"\n");
  daemon.Drop("keyed.pem", keyed.CertPem() + keyed.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 2));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 2u) << daemon.log();

  ASSERT_EQ(daemon.Cli({"bind", "keyless", "nokey", "--plugin", "deploy"}).exit_code, 0);
  ASSERT_EQ(daemon.Cli({"bind", "keyed", "site", "--plugin", "deploy"}).exit_code, 0);
  daemon.WaitForEvents(
      [](const std::vector<json>& events) {
        return HasPushes("push.failed", "nokey", 1)(events) &&
               HasPushes("push.succeeded", "site", 1)(events);
      },
      30s);
  auto failed = PushEvents(daemon.EventsOfType("push.failed"), "push.failed", "nokey");
  ASSERT_GE(failed.size(), 1u) << daemon.log();
  EXPECT_NE(failed[0].value("message", "").find("no private key"), std::string::npos)
      << failed[0].dump();
  EXPECT_FALSE(fs::exists(live.path() / "nokey")) << "nothing is written for an entry without key";
  EXPECT_FALSE(fs::exists(reload_marks.path() / "nokey-1")) << "no reload without a push";

  ASSERT_EQ(PushEvents(daemon.EventsOfType("push.succeeded"), "push.succeeded", "site").size(), 1u)
      << daemon.log();
  EXPECT_EQ(ReadFile(live.path() / "site" / "cert.pem"), keyed.CertPem());
  EXPECT_EQ(ReadFile(live.path() / "site" / "privkey.pem"), keyed.KeyPem());
  EXPECT_TRUE(fs::exists(reload_marks.path() / "site-1"));

  // The key arrives later: cert.updated pushes at once, without waiting for the retry.
  daemon.Drop("keyless.key", keyless.KeyPem());
  daemon.WaitForEvents(HasPushes("push.succeeded", "nokey", 1), 30s);
  ASSERT_EQ(PushEvents(daemon.EventsOfType("push.succeeded"), "push.succeeded", "nokey").size(), 1u)
      << daemon.log();
  EXPECT_EQ(ReadFile(live.path() / "nokey" / "cert.pem"), keyless.CertPem());

  // Unbinding removes the four files (remove_on_unbind); the folder stays.
  ASSERT_EQ(daemon.Cli({"unbind", "keyed", "site"}).exit_code, 0);
  daemon.WaitForEvents(HasEvents("cert.unbound", 1));
  WaitUntil([&] { return !fs::exists(live.path() / "site" / "privkey.pem"); });
  for (const char* file : {"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"}) {
    EXPECT_FALSE(fs::exists(live.path() / "site" / file)) << file << "\n" << daemon.log();
  }
  EXPECT_TRUE(fs::is_directory(live.path() / "site"));
  // nokey's files are not touched by site's unbind, and there was one push of each.
  EXPECT_TRUE(fs::exists(live.path() / "nokey" / "privkey.pem"));
  EXPECT_EQ(PushEvents(daemon.EventsOfType("push.succeeded"), "push.succeeded", "site").size(), 1u);
}

TEST(DeployTest, AnUnknownOptionIsNamedInTheDaemonsLog) {
  HarnessOptions options;
  options.extra_toml =
      "[[plugin]]\nname = \"deploy\"\ncommand = \"certinbox-deploy\"\n"
      "events = [\"cert.\"]\n[plugin.options]\nrelaod = \"nginx -s reload\"\n";
  DaemonHarness daemon(options);
  ASSERT_TRUE(daemon.Start());
  const std::string expected = "plugin deploy: certinbox-deploy: unknown option \"relaod\"";
  WaitUntil([&] { return Contains(daemon.log(), expected); });
  EXPECT_NE(daemon.log().find(expected), std::string::npos) << daemon.log();
}

}  // namespace
}  // namespace certinbox::testing
