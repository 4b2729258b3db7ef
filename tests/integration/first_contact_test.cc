// What a new operator meets first (issue 15, "first contact"): usage errors exit 2 with a
// sentence, --version answers, a stopped daemon leaves no socket file behind, and the CLI fails
// at once, saying why, when no daemon listens.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

CommandResult Daemon(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {CERTINBOXD_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

CommandResult Cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {CERTINBOX_CLI_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

TEST(FirstContactTest, DaemonUsageErrorsExitTwoAndVersionAnswers) {
  CommandResult bogus = Daemon({"--bogus"});
  EXPECT_EQ(bogus.exit_code, 2) << bogus.err;
  EXPECT_NE(bogus.err.find("--bogus"), std::string::npos) << bogus.err;
  CommandResult level = Daemon({"--log-level", "verbose", "--check"});
  EXPECT_EQ(level.exit_code, 2) << level.err;
  EXPECT_NE(level.err.find("verbose"), std::string::npos) << level.err;
  CommandResult version = Daemon({"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out, "certinboxd 0.1.0\n");
  CommandResult help = Daemon({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--version"), std::string::npos);
}

TEST(FirstContactTest, CliUsageErrorsSayWhatToWrite) {
  CommandResult path = Cli({"--control", "/run/certinbox/control.sock", "status"});
  EXPECT_EQ(path.exit_code, 2) << path.err;
  EXPECT_NE(path.err.find("--control ipc:///run/certinbox/control.sock"), std::string::npos)
      << path.err;
  CommandResult since = Cli({"--control", "ipc:///nonexistent.sock", "events", "--since", "-5"});
  EXPECT_EQ(since.exit_code, 2) << since.err;
  EXPECT_NE(since.err.find("'-5' is not an event sequence number"), std::string::npos) << since.err;
  EXPECT_EQ(since.err.find("e+308"), std::string::npos) << since.err;
}

TEST(FirstContactTest, AStoppedDaemonLeavesNoSocketAndTheCliFailsAtOnce) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  const fs::path control = daemon.state() / "control.sock";
  const fs::path events = daemon.state() / "events.sock";
  ASSERT_TRUE(fs::exists(control));
  ASSERT_TRUE(fs::exists(events));
  ASSERT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
  EXPECT_FALSE(fs::exists(control));
  EXPECT_FALSE(fs::exists(events));

  // A socket file nothing listens on, as a killed daemon leaves it: the CLI says so at once,
  // not after its 10 s timeout.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, control.c_str(), sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ::close(fd);
  ASSERT_TRUE(fs::exists(control));
  const auto t0 = Clock::now();
  CommandResult status = Cli({"--control", "ipc://" + control.string(), "status"});
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(status.exit_code, 3) << status.err;
  EXPECT_NE(status.err.find("nothing listens on the control socket"), std::string::npos)
      << status.err;
}

// An inbox whose parent folder is missing, a refused reload and a plugin that reports an error
// and exits: `status` says each in text, and stops saying it once each is fixed.
TEST(FirstContactTest, StatusSaysWhatWentWrongAndForgetsItOnceFixed) {
  const std::string plugin =
      "[[plugin]]\nname = \"runner\"\ncommand = \"certinbox-exec\"\n"
      "events = [\"cert.imported\"]\n[plugin.options]\ncommand = [\"/bin/true\"]\n";
  HarnessOptions options;
  options.extra_toml =
      "[[inbox]]\npath = \"missing/drop\"\nname = \"drop\"\n\n" + plugin + "timout = \"5s\"\n";
  DaemonHarness daemon(options);
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(WaitUntil([&] {
    const auto runner = daemon.PluginStatus("runner");
    return runner.is_object() && runner.value("last_error", json()).is_string() &&
           runner["last_error"].get<std::string>().find(
               "after reporting: unknown exec option 'timout'") != std::string::npos;
  })) << daemon.PluginStatus("runner").dump()
      << daemon.log();
  const std::string config = ReadFile(daemon.config_file());
  daemon.ReplaceConfig(config + "\n[nonsense]\nkey = 1\n");
  daemon.Signal(SIGHUP);
  daemon.WaitForEvents(HasEvents("config.rejected"));

  CommandResult status = daemon.Cli({"status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  const fs::path missing = daemon.root() / "missing";
  for (const std::string& line : {
           "drop   NOT WATCHED  " + (missing / "drop").string(),
           "problems:\n  inbox drop (" + (missing / "drop").string() +
               ") is not watched: its parent folder " + missing.string() + " does not exist",
           std::string("  the config reload at 20"),
           std::string(" was refused; the config before it still runs:\n    "),
       }) {
    EXPECT_NE(status.out.find(line), std::string::npos) << "no '" << line << "' in\n" << status.out;
  }
  EXPECT_NE(status.out.find("nonsense"), std::string::npos) << status.out;
  // The plugin's own words: "exited with status 1 after reporting: unknown exec option
  // 'timout'", or just what it reported when its next run has said it again but not exited yet.
  const size_t at = status.out.find("\n  plugin runner: ");
  ASSERT_NE(at, std::string::npos) << status.out;
  const std::string line = status.out.substr(at + 1, status.out.find('\n', at + 1) - at);
  EXPECT_NE(line.find("unknown exec option 'timout'"), std::string::npos) << line;
  EXPECT_FALSE(fs::exists(missing));  // no folders made for a path with a typo

  // --check warns about the inbox it cannot watch; the config is still valid.
  WriteFile(daemon.root() / "check.toml", config);
  CommandResult check = Daemon({"--config", (daemon.root() / "check.toml").string(), "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find(": ok, 2 inbox(es), 1 warning(s)\nwarning: inbox drop: its parent "
                           "folder " +
                           missing.string() + " does not exist"),
            std::string::npos)
      << check.out;

  // Fixed: the folder made, the option spelled right, the config reloaded.
  fs::create_directories(missing);
  std::string fixed = config;
  fixed.replace(fixed.find("timout"), 6, "timeout");
  daemon.ReplaceConfig(fixed);
  daemon.Signal(SIGHUP);
  daemon.WaitForEvents(HasEvents("config.reloaded"));
  std::string text;
  EXPECT_TRUE(WaitUntil([&] {
    text = daemon.Cli({"status"}).out;
    return text.find("problems:") == std::string::npos;
  })) << text;
  EXPECT_TRUE(fs::is_directory(missing / "drop"));
}

// The README's tour: web imported into group prod by its sidecar, then renewed by a file
// dropped without one (by its CN and SANs), then by a sidecar naming it without the group:
// each is a new version of prod/web, and `show web` and `rollback web` find it.
TEST(FirstContactTest, ARenewalWithoutTheGroupRenewsTheEntryInItsGroup) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  const int64_t now = NowUnix();
  auto leaf = [&](int64_t days) {
    CertSpec spec = LeafSpec("web.tour.test");
    spec.not_before = now - 3600;
    spec.not_after = now + days * 86400;
    return Issue(spec);
  };
  Issued v1 = leaf(100), v2 = leaf(200), v3 = leaf(300);
  daemon.Drop("web.toml", "name = \"web\"\ngroup = \"prod\"\n");
  daemon.Drop("web.pem", v1.CertPem() + v1.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported"));
  daemon.Drop("renewal.pem", v2.CertPem() + v2.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.renewed"));
  daemon.Drop("again.toml", "name = \"web\"\n");
  daemon.Drop("again.pem", v3.CertPem() + v3.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.renewed", 2));
  const auto renewed = daemon.EventsOfType("cert.renewed");
  ASSERT_EQ(renewed.size(), 2u) << daemon.log();
  for (const auto& event : renewed) EXPECT_EQ(event["certificate"]["group"], "prod");
  EXPECT_EQ(renewed[1]["certificate"]["version"], 3);
  EXPECT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);

  CommandResult show = daemon.Cli({"show", "web"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("version:     3"), std::string::npos) << show.out;
  CommandResult rollback = daemon.Cli({"rollback", "web", "--to", "1"});
  EXPECT_EQ(rollback.exit_code, 0) << rollback.err;
  // Events name the entry with its group.
  CommandResult events = daemon.Cli({"events"});
  EXPECT_NE(events.out.find("cert.renewed    prod/web"), std::string::npos) << events.out;
}

// A refused file: `certinbox failed` says which and why; once its sidecar is fixed in failed/,
// `certinbox retry` sends it back and it is imported as the sidecar says.
TEST(FirstContactTest, FailedListsRefusedFilesAndRetryTakesThemAgain) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  Issued leaf = Issue(LeafSpec("retry.example.test"));
  daemon.Drop("web.toml", "name = \"web\"\ngroup = \"prod\"\nlabels = \"not an array\"\n");
  daemon.Drop("web.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("import.rejected"));
  ASSERT_TRUE(fs::exists(daemon.failed() / "web.pem.toml")) << daemon.log();

  CommandResult failed = daemon.Cli({"failed"});
  EXPECT_EQ(failed.exit_code, 0) << failed.err;
  EXPECT_NE(failed.out.find("INBOX  FILE     REASON       TIME"), std::string::npos) << failed.out;
  EXPECT_NE(failed.out.find("inbox  web.pem  bad_sidecar  20"), std::string::npos) << failed.out;
  EXPECT_NE(failed.out.find("labels"), std::string::npos) << failed.out;
  CommandResult json_list = daemon.Cli({"failed", "--json"});
  EXPECT_NE(json_list.out.find("\"reason\": \"bad_sidecar\""), std::string::npos) << json_list.out;

  EXPECT_EQ(daemon.Cli({"retry"}).exit_code, 2);  // nothing named
  CommandResult missing = daemon.Cli({"retry", "nothing.pem"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no file nothing.pem"), std::string::npos) << missing.err;

  // A sidecar in failed/ that is a symbolic link is not followed, nor left behind in silence.
  fs::rename(daemon.failed() / "web.pem.toml", daemon.root() / "kept.toml");
  fs::create_symlink(daemon.root() / "kept.toml", daemon.failed() / "web.pem.toml");
  CommandResult linked = daemon.Cli({"retry", "web.pem"});
  EXPECT_EQ(linked.exit_code, 1) << linked.out;
  EXPECT_NE(linked.err.find("web.pem.toml in failed/ is not a regular file"), std::string::npos)
      << linked.err;
  EXPECT_TRUE(fs::exists(daemon.failed() / "web.pem"));
  fs::remove(daemon.failed() / "web.pem.toml");

  WriteFile(daemon.failed() / "web.pem.toml", "name = \"web\"\ngroup = \"prod\"\n");
  CommandResult retry = daemon.Cli({"retry", "web.pem"});
  EXPECT_EQ(retry.exit_code, 0) << retry.err;
  EXPECT_EQ(retry.out, "retried inbox/web.pem\n");
  daemon.WaitForEvents(HasEvents("cert.imported"));
  const auto imported = daemon.EventsOfType("cert.imported");
  ASSERT_EQ(imported.size(), 1u) << daemon.log();
  EXPECT_EQ(imported[0]["certificate"]["group"], "prod");
  EXPECT_EQ(imported[0]["certificate"]["name"], "web");
  EXPECT_FALSE(fs::exists(daemon.failed() / "web.pem"));
  EXPECT_FALSE(fs::exists(daemon.failed() / "web.pem.error.json"));
  EXPECT_EQ(daemon.Cli({"failed"}).out, "no refused files\n");
}

// A second daemon given the endpoints of a running one refuses to start, rather than take its
// socket files over and leave it unreachable.
TEST(FirstContactTest, ASecondDaemonOnTheSameSocketsRefusesToStart) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  TempDir other("certinbox-second-");
  WriteFile(other.path() / "c.toml", "[daemon]\nstate_dir = \"state\"\n[bus]\ncontrol = \"" +
                                         daemon.control_endpoint() + "\"\npublish = \"" +
                                         daemon.publish_endpoint() +
                                         "\"\n[http]\nlisten = \"\"\n[[inbox]]\npath = \"in\"\n");
  CommandResult second = Daemon({"--config", (other.path() / "c.toml").string()});
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("another process listens on"), std::string::npos) << second.err;
  EXPECT_EQ(daemon.Cli({"status"}).exit_code, 0);
}

// The shipped example config sets only what it must (its paths): a conf.d fragment may set any
// [daemon], [expiry], [http] or [[inbox]] default, as configuration-management tools do.
TEST(FirstContactTest, AFragmentMaySetWhatTheExampleConfigLeavesAtItsDefault) {
  TempDir dir("certinbox-example-");
  fs::copy_file(fs::path(CERTINBOX_SOURCE_DIR) / "etc" / "certinbox.toml",
                dir.path() / "certinbox.toml");
  fs::create_directories(dir.path() / "conf.d");
  WriteFile(dir.path() / "conf.d" / "site.toml",
            "[daemon]\nlog_level = \"debug\"\nmax_versions = 10\n"
            "[bus]\nevent_retention = \"30d\"\n"
            "[expiry]\nexpiring_soon = \"20%\"\nscan_interval = \"10m\"\n"
            "[http]\nlisten = \"\"\n");
  CommandResult check = Daemon({"--config", (dir.path() / "certinbox.toml").string(), "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find(": ok, 1 inbox(es)"), std::string::npos) << check.out;
}

}  // namespace
}  // namespace certinbox::testing
