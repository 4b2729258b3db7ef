// Plugins without root (docs/plugins.md "Users"): a plugin with `user` runs as that user and
// reads neither the master key, the database nor another plugin's environment; plugin.env
// (which holds a token) answers only root and the daemon's user; certinboxd is not dumpable
// unless [daemon] dumpable = true. The tests run as root, as the daemon does in production.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/plugin_fixtures.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kNobody = 65534;  // Debian's nobody and nogroup
constexpr const char* kSetpriv = "/usr/bin/setpriv";

std::map<std::string, std::string> KeyValues(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

// Runs `command` as the plugin's user and writes NAME=done or NAME=refused.
std::string Try(const std::string& name, const std::string& command) {
  return "if " + command + " >/dev/null 2>&1; then echo " + name + "=done; else echo " + name +
         "=refused; fi; ";
}

TEST(PluginUserTest, APluginWithUserNobodyRunsAsNobodyAndReadsNoSecret) {
  // `other` runs as root and is started first (plugins start in config order), so its process
  // and environment exist when `confined` looks for them. The state folder is two up from a
  // plugin's folder.
  const std::string state_dir = "\"$CERTINBOX_PLUGIN_DIR/../..\"";
  const std::string script =
      "{ echo uid=$(id -u); echo gid=$(id -g); echo groups=$(id -G); "
      "echo folder_owner=$(stat -c %u .); " +
      Try("master_key", "cat " + state_dir + "/master.key") +
      Try("database", "cat " + state_dir + "/certinbox.db") +
      Try("wal", "cat " + state_dir + "/certinbox.db-wal") + Try("list_state", "ls " + state_dir) +
      Try("other_folder", "ls " + state_dir + "/plugins/other") +
      Try("daemon_environ", "cat /proc/$CERTINBOX_SUPERVISOR_PID/environ") +
      Try("own_folder", "touch \"$CERTINBOX_PLUGIN_DIR/mine\"") +
      "echo other_environs=$(grep -la CERTINBOX_PLUGIN=other /proc/[0-9]*/environ 2>/dev/null "
      "| wc -l); "
      "echo own_environ=$(grep -la CERTINBOX_PLUGIN=confined /proc/self/environ | wc -l); "
      "echo fds=$(readlink /proc/self/fd/* | tr -s \"\\n\" \" \"); "
      "} > report.tmp && mv report.tmp report; exec sleep 1000";
  DaemonHarness daemon({.extra_toml = ShellPluginToml("other", "exec sleep 1000") +
                                      ShellPluginToml("confined", script, "user = \"nobody\"\n")});
  const fs::path state = daemon.state();
  // The temporary folder is 0700; a real state folder's parent (/var/lib) lets users through.
  fs::permissions(daemon.root(), fs::perms(0711));
  ASSERT_TRUE(daemon.Start());

  const fs::path report_file = state / "plugins" / "confined" / "report";
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(report_file); })) << daemon.log();
  auto report = KeyValues(ReadFile(report_file));
  EXPECT_EQ(report["uid"], std::to_string(kNobody));
  EXPECT_EQ(report["gid"], std::to_string(kNobody));
  EXPECT_EQ(report["groups"], std::to_string(kNobody)) << "no supplementary group is kept";
  EXPECT_EQ(report["folder_owner"], std::to_string(kNobody)) << "its own folder is its own";
  EXPECT_EQ(report["master_key"], "refused");
  EXPECT_EQ(report["database"], "refused");
  EXPECT_EQ(report["wal"], "refused");
  EXPECT_EQ(report["list_state"], "refused");
  EXPECT_EQ(report["other_folder"], "refused");
  EXPECT_EQ(report["daemon_environ"], "refused");
  EXPECT_EQ(report["own_folder"], "done") << "its folder is reachable by its path";
  EXPECT_EQ(report["other_environs"], "0") << "another plugin's environment (its token)";
  EXPECT_EQ(report["own_environ"], "1") << "the probe works: it reads its own";
  // It inherits no descriptor of the daemon's files (its stdio is libuv's socket pairs).
  for (const char* held : {"master.key", "certinbox.db", "certinboxd.lock", ".sock", "state"}) {
    EXPECT_EQ(report["fds"].find(held), std::string::npos) << held << " in " << report["fds"];
  }
  EXPECT_NE(report["fds"].find("/dev/null"), std::string::npos) << "the probe works";

  // The same files are there and the daemon (root) uses them: the refusals are the modes'.
  struct stat st {};
  ASSERT_EQ(::stat((state / "master.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((state / "certinbox.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((state / "certinbox.db-wal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((state / "plugins" / "other").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_NE(daemon.log().find("plugin other runs as root"), std::string::npos)
      << "a plugin without a user is named in the log";
}

// A plugin with a user still works: the socket files' ACL lets its user connect (their mode
// stays 0660), it says hello, gets the events, and acknowledges them on its own cursor.
TEST(PluginUserTest, APluginRunningAsNobodyGetsAndAcknowledgesItsEvents) {
  DaemonHarness daemon(
      {.extra_toml = RecorderToml(
           {.events = "[\"cert.\"]", .user = "nobody", .out = "recorded"})});  // in its own folder
  fs::permissions(daemon.root(), fs::perms(0711));  // as /var/lib would: see above
  ASSERT_TRUE(daemon.Start());
  Issued leaf = Issue(LeafSpec("nobody.plugin.test"));
  daemon.Drop("leaf.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();
  const int64_t seq = daemon.EventsOfType("cert.imported")[0]["seq"].get<int64_t>();
  const fs::path recorded = daemon.state() / "plugins" / "rec" / "recorded";
  ASSERT_TRUE(WaitUntil([&] {
    for (const auto& line : ReadRecorded(recorded)) {
      if (line.seq == seq && line.type == "cert.imported") return true;
    }
    return false;
  })) << daemon.log();
  ASSERT_TRUE(WaitUntil([&] { return daemon.CursorOf("plugin:rec") >= seq; })) << daemon.log();
  struct stat st {};
  ASSERT_EQ(::stat((daemon.state() / "control.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u) << "no other user than the plugin's gets in";
}

// A client running as a plugin's user is that plugin, not an operator: it gets its plugin's
// ops, `events` and `ack` of its own cursor, and `forbidden` for everything else.
TEST(PluginUserTest, APluginsUserGetsOnlyItsPluginsOps) {
  DaemonHarness daemon(
      {.extra_toml = ShellPluginToml("mine", "exec sleep 1000", "user = \"nobody\"\n") +
                     ShellPluginToml("theirs", "exec sleep 1000")});
  ASSERT_TRUE(daemon.Start());
  Issued leaf = Issue(LeafSpec("roles.plugin.test"));
  daemon.Drop("roles.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  fs::permissions(daemon.root(), fs::perms(0711));  // the temporary folder is 0700
  const fs::path out =
      fs::temp_directory_path() / ("cbx-nobody-export-" + std::to_string(::getpid()));
  struct Case {
    std::vector<std::string> args;
    int exit_code;  // 0 ok, 1 the daemon refused
  };
  const std::vector<Case> cases = {
      {{"events", "--json"}, 0},
      {{"ls"}, 1},
      {{"status"}, 1},
      {{"show", "roles"}, 1},
      {{"export", "roles", "--key", "--out", out.string()}, 1},
      {{"rm", "roles"}, 1},
      {{"plugin", "env", "mine"}, 1},
      {{"cursors", "--delete", "plugin:theirs"}, 1},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {
        kSetpriv,          "--reuid=65534", "--regid=65534",          "--clear-groups",
        CERTINBOX_CLI_BIN, "--control",     daemon.control_endpoint()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CommandResult result = RunCommand(argv);
    EXPECT_EQ(result.exit_code, c.exit_code) << c.args[0] << ": " << result.out << result.err;
    if (c.exit_code != 0) {
      EXPECT_NE(result.err.find("(forbidden)"), std::string::npos)
          << c.args[0] << ": " << result.err;
    }
  }
  EXPECT_FALSE(fs::exists(out / "privkey.pem"));
  fs::remove_all(out);
  EXPECT_EQ(daemon.LsJson()["entries"].size(), 1u) << "rm was refused";
}

// plugin.env hands out a plugin's token: a client that is neither root nor the daemon's user
// gets `forbidden`, even when the socket's mode (group root) lets it connect.
TEST(PluginUserTest, PluginEnvAnswersOnlyRootAndTheDaemonsUser) {
  DaemonHarness daemon({.extra_toml = ShellPluginToml("held", "exec sleep 1000")});
  ASSERT_TRUE(daemon.Start());
  // The temporary folder is 0700: let the root group through to the state folder (0750) and
  // the socket (0660), as an operator group would be.
  fs::permissions(daemon.root(), fs::perms(0750));
  struct Case {
    std::vector<std::string> as;  // setpriv arguments; empty: root
    int exit_code;
    std::string expect;  // in stdout on success, the error code on failure
  };
  const std::vector<Case> cases = {
      {{}, 0, "CERTINBOX_PLUGIN_TOKEN="},
      {{"--reuid=" + std::to_string(kNobody), "--regid=0", "--clear-groups"}, 1, "(forbidden)"},
      {{"--reuid=" + std::to_string(kNobody), "--regid=" + std::to_string(kNobody), "--groups=0"},
       1,
       "(forbidden)"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv;
    if (!c.as.empty()) {
      argv.push_back(kSetpriv);
      argv.insert(argv.end(), c.as.begin(), c.as.end());
    }
    argv.insert(argv.end(), {CERTINBOX_CLI_BIN, "--control", daemon.control_endpoint(), "plugin",
                             "env", "held"});
    CommandResult result = RunCommand(argv);
    EXPECT_EQ(result.exit_code, c.exit_code) << result.out << result.err;
    EXPECT_NE((c.exit_code == 0 ? result.out : result.err).find(c.expect), std::string::npos)
        << result.out << result.err;
    if (c.exit_code != 0) {
      EXPECT_EQ(result.out.find("TOKEN"), std::string::npos) << result.out;
    }
  }
}

// certinboxd makes itself non-dumpable unless [daemon] dumpable = true. Seen from outside: the
// kernel gives a non-dumpable process's /proc/PID files to root:root, a dumpable one's to its
// own uid and gid; the daemon runs here as root with group nogroup, so the group tells.
TEST(PluginUserTest, TheDaemonIsNotDumpableUnlessConfigured) {
  struct Case {
    std::string daemon_toml;
    uint32_t environ_group;
    bool dumpable;
  };
  for (const Case& c : std::vector<Case>{{"", 0, false}, {"dumpable = true\n", kNobody, true}}) {
    DaemonHarness daemon(
        {.daemon_toml = c.daemon_toml,
         .launcher = {kSetpriv, "--regid=" + std::to_string(kNobody), "--clear-groups"}});
    ASSERT_TRUE(daemon.Start());
    auto status = daemon.control().Request("status");
    ASSERT_TRUE(status.has_value()) << status.error().message;
    const int pid = (*status)["pid"].get<int>();
    struct stat st {};
    ASSERT_EQ(::stat(("/proc/" + std::to_string(pid) + "/environ").c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, c.environ_group) << c.daemon_toml;
    EXPECT_EQ((*status).value("dumpable", !c.dumpable), c.dumpable) << c.daemon_toml;
  }
}

}  // namespace
}  // namespace certinbox::testing
