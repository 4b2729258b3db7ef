// The plugin supervisor in the real daemon (docs/plugins.md "What a supervised plugin gets",
// "Supervision"): plugins are /bin/sh scripts that show what they got, crash, hang, flood, and
// are added, changed and removed by reloads; the daemon's stop ends every one of them.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
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

int PidOf(DaemonHarness& daemon, const std::string& name) {
  json plugin = daemon.PluginStatus(name);
  return plugin.is_object() && plugin["pid"].is_number() ? plugin["pid"].get<int>() : 0;
}

// The live (not zombie) processes of process group `pgid`.
std::vector<int> GroupMembers(int pgid) {
  std::vector<int> pids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string stat = ReadFile(entry.path() / "stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 2));
    char state = 0;
    int ppid = 0, pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z') pids.push_back(std::stoi(name));
  }
  return pids;
}

bool CursorExists(DaemonHarness& daemon, const std::string& name) {
  auto cursors = daemon.control().Request("cursors");
  if (!cursors) return false;
  for (const auto& cursor : (*cursors)["cursors"]) {
    if (cursor.value("name", "") == name) return true;
  }
  return false;
}

void DropLeaf(DaemonHarness& daemon, const std::string& cn) {
  Issued leaf = Issue(LeafSpec(cn));
  daemon.Drop(cn + ".pem", leaf.CertPem() + leaf.KeyPem());
}

std::map<std::string, std::string> EnvFile(const fs::path& file) {
  std::map<std::string, std::string> env;
  std::istringstream in(ReadFile(file));
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

TEST(SupervisorTest, APluginGetsItsEnvironmentFolderAndCursor) {
  DaemonHarness daemon({.extra_toml = ShellPluginToml(
                            "envtest",
                            "readlink /proc/self/fd/0 > stdin; env > env.tmp; mv env.tmp env; "
                            "exec sleep 1000",
                            "env = { GREETING = \"hello world\" }\nevents = [\"cert.\"]\n"
                            "[plugin.options]\ndir = \"/srv/x\"\nretries = 3\n")});
  ASSERT_TRUE(daemon.Start());
  const fs::path dir = daemon.state() / "plugins" / "envtest";
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(dir / "env"); })) << daemon.log();
  auto env = EnvFile(dir / "env");

  auto reply = daemon.control().Request("plugin.env", {{"plugin", "envtest"}});
  ASSERT_TRUE(reply.has_value()) << reply.error().message;
  const json& told = (*reply)["env"];
  const std::string token = env["CERTINBOX_PLUGIN_TOKEN"];
  EXPECT_EQ(token.size(), 64u);
  EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos) << token;
  EXPECT_EQ(told["CERTINBOX_PLUGIN_TOKEN"], token);
  EXPECT_EQ(env["CERTINBOX_PLUGIN"], "envtest");
  EXPECT_EQ(env["CERTINBOX_CONTROL"], daemon.control_endpoint());
  EXPECT_EQ(env["CERTINBOX_PUBLISH"], daemon.publish_endpoint());
  EXPECT_EQ(json::parse(env["CERTINBOX_PLUGIN_EVENTS"]), json::array({"cert."}));
  EXPECT_EQ(json::parse(env["CERTINBOX_PLUGIN_OPTIONS"]),
            (json{{"dir", "/srv/x"}, {"retries", 3}}));
  EXPECT_EQ(fs::path(env["CERTINBOX_PLUGIN_DIR"]), dir);
  EXPECT_EQ(env["CERTINBOX_SUPERVISOR_PID"], std::to_string(daemon.Status()["pid"].get<int>()));
  EXPECT_EQ(env["GREETING"], "hello world");
  EXPECT_FALSE(env["PATH"].empty());  // the daemon's own environment is there too
  for (const auto& [var, value] : told.items()) EXPECT_EQ(env[var], value) << var;
  // Run by hand, a plugin has no supervisor: it would exit at once with the daemon's pid.
  EXPECT_FALSE(told.contains("CERTINBOX_SUPERVISOR_PID"));
  EXPECT_EQ(ReadFile(dir / "stdin"), "/dev/null\n");
  // Its working directory is its folder (the files above were written there); 0700.
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // plugins/ lets a plugin with a user through to its own folder, lists nothing.
  ASSERT_EQ(::stat(dir.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0711u);
  EXPECT_TRUE(CursorExists(daemon, "plugin:envtest"));

  json plugin = daemon.PluginStatus("envtest");
  EXPECT_EQ(plugin["state"], "running");
  EXPECT_EQ(plugin["restarts"], 0);
  EXPECT_TRUE(plugin["started_at"].is_string());
  EXPECT_EQ(plugin["cursor"], 0);

  // The CLI prints the same as export lines that a shell can eval.
  auto printed = daemon.Cli({"plugin", "env", "envtest"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_TRUE(Contains(printed.out, "export CERTINBOX_PLUGIN='envtest'\n")) << printed.out;
  EXPECT_TRUE(Contains(printed.out, "export CERTINBOX_PLUGIN_TOKEN='" + token + "'\n"));
  auto evaluated = RunCommand(
      {"/bin/sh", "-c", printed.out + "printf %s \"$GREETING|$CERTINBOX_PLUGIN_OPTIONS\""});
  EXPECT_EQ(evaluated.out, "hello world|" + env["CERTINBOX_PLUGIN_OPTIONS"]);
  auto unknown = daemon.Cli({"plugin", "env", "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(Contains(unknown.err, "unknown_plugin")) << unknown.err;
  EXPECT_TRUE(Contains(unknown.err, "envtest")) << unknown.err;
  auto status = daemon.Cli({"status"});
  EXPECT_TRUE(Contains(status.out, "envtest")) << status.out;
  EXPECT_TRUE(Contains(status.out, "running")) << status.out;
  daemon.Stop();
}

TEST(SupervisorTest, ACrashingPluginIsRestartedWithBackoff) {
  DaemonHarness daemon({.extra_toml = ShellPluginToml("crash", "echo about to fail; exit 3")});
  ASSERT_TRUE(daemon.Start());
  const auto start = Clock::now();
  json plugin;
  ASSERT_TRUE(WaitUntil([&] {
    plugin = daemon.PluginStatus("crash");
    return plugin.is_object() && plugin["restarts"].get<int>() >= 2;
  })) << plugin.dump();
  // Backoff 1 s, then 2 s: the second restart is 3 s after the first start at the earliest.
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(2500));
  EXPECT_EQ(plugin["last_exit"], "exit 3");
  EXPECT_TRUE(Contains(plugin.value("last_error", ""), "status 3")) << plugin.dump();
  EXPECT_TRUE(Contains(daemon.log(), "plugin crash: about to fail")) << daemon.log();
  daemon.Stop();
}

TEST(SupervisorTest, ALongLineIsCutAndTheNextOneLogged) {
  DaemonHarness daemon({.extra_toml = ShellPluginToml(
                            "longline",
                            "head -c 100000 /dev/zero | tr \"\\000\" a; echo; echo after it; "
                            "printf \"no newline at the end\"; exec sleep 1000")});
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(WaitUntil([&] { return Contains(daemon.log(), "plugin longline: after it"); }))
      << daemon.log().substr(0, 3000);
  std::string log = daemon.log();
  EXPECT_TRUE(Contains(log, "[line cut at 4 KiB]"));
  EXPECT_TRUE(Contains(log, std::string(4096, 'a')));
  EXPECT_FALSE(Contains(log, std::string(4097, 'a')));
  daemon.Stop();
  // What a plugin wrote without a final newline is logged when it ends.
  EXPECT_TRUE(Contains(daemon.log(), "plugin longline: no newline at the end")) << daemon.log();
}

TEST(SupervisorTest, AMissingCommandIsRetriedAndSaysWhy) {
  DaemonHarness daemon(
      {.extra_toml = "[[plugin]]\nname = \"ghost\"\ncommand = \"certinbox-no-such-plugin\"\n"});
  ASSERT_TRUE(daemon.Start());
  json plugin;
  ASSERT_TRUE(WaitUntil([&] {
    plugin = daemon.PluginStatus("ghost");
    return plugin.is_object() && plugin["restarts"].get<int>() >= 1;
  })) << plugin.dump();
  EXPECT_EQ(plugin["state"], "backoff");
  EXPECT_TRUE(Contains(plugin.value("last_error", ""), "not found")) << plugin.dump();
  daemon.Stop();
}

TEST(SupervisorTest, AHungPluginIsKilledOnlyWhenEventsWait) {
  DaemonHarness daemon(
      {.extra_toml = ShellPluginToml("hung", "exec sleep 1000", "ack_timeout = \"2s\"\n") +
                     ShellPluginToml("idle", "exec sleep 1000",
                                     "ack_timeout = \"2s\"\nevents = [\"nothing.\"]\n")});
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(WaitUntil([&] { return PidOf(daemon, "hung") && PidOf(daemon, "idle"); }));
  const int hung_pid = PidOf(daemon, "hung");
  const int idle_pid = PidOf(daemon, "idle");
  // No event waits: neither is hung, however long it is silent.
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  EXPECT_EQ(PidOf(daemon, "hung"), hung_pid) << daemon.log();
  EXPECT_EQ(daemon.PluginStatus("hung")["restarts"], 0);

  DropLeaf(daemon, "hang.supervisor.test");
  daemon.WaitForEvents(HasEvents("cert.imported"));
  json plugin;
  ASSERT_TRUE(WaitUntil([&] {
    plugin = daemon.PluginStatus("hung");
    return plugin.is_object() && plugin["restarts"].get<int>() >= 1 && plugin["pid"].is_number();
  })) << plugin.dump()
      << daemon.log();
  EXPECT_NE(plugin["pid"], hung_pid);
  EXPECT_EQ(plugin["last_exit"], "signal 9");
  EXPECT_TRUE(
      Contains(plugin.value("last_error", ""), "no acknowledgement for 2 s while events waited"))
      << plugin.dump();
  EXPECT_GE(plugin["behind"].get<int>(), 1);
  EXPECT_TRUE(GroupMembers(hung_pid).empty());
  // The other plugin does not want cert. events: nothing waits for it.
  EXPECT_EQ(PidOf(daemon, "idle"), idle_pid);
  EXPECT_EQ(daemon.PluginStatus("idle")["restarts"], 0);
  daemon.Stop();
}

TEST(SupervisorTest, AFloodingPluginAndClientDoNotStopImports) {
  DaemonHarness daemon({.extra_toml = ShellPluginToml("flood", "yes flood >&2")});
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(WaitUntil([&] { return PidOf(daemon, "flood") != 0; }));
  const auto start = Clock::now();
  // A client keeping 500 status requests in flight all along: answering only what is queued
  // would never end, since it always sends more.
  std::atomic<bool> done{false};
  std::atomic<int> answered{0};
  std::thread flooder([&] {
    zmq::context_t context(1);
    zmq::socket_t dealer(context, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect(daemon.control_endpoint());
    const std::string request = R"({"op": "status"})";
    int outstanding = 0;
    while (!done) {
      while (outstanding < 500 && dealer.send(zmq::buffer(request), zmq::send_flags::dontwait)) {
        ++outstanding;
      }
      zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      zmq::message_t reply;
      while (dealer.recv(reply, zmq::recv_flags::dontwait)) {
        --outstanding;
        ++answered;
      }
    }
  });
  for (int i = 0; i < 30; ++i) DropLeaf(daemon, "flood" + std::to_string(i) + ".supervisor.test");
  daemon.WaitForEvents(HasEvents("cert.imported", 30), std::chrono::seconds(60));
  EXPECT_EQ(CountOf(daemon.EventsOfType("cert.imported"), "cert.imported"), 30u);
  EXPECT_GT(answered.load(), 0);
  // The log shows at most 200 of its lines per 10 s, then how many were dropped.
  EXPECT_TRUE(WaitUntil([&] { return Contains(daemon.log(), "lines suppressed"); }))
      << daemon.log().substr(0, 2000);
  done = true;
  flooder.join();
  std::string log = daemon.log();
  size_t lines = 0;
  for (size_t at = log.find("plugin flood: flood"); at != std::string::npos;
       at = log.find("plugin flood: flood", at + 1)) {
    ++lines;
  }
  const auto windows =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count() / 10 + 2;
  EXPECT_LE(lines, static_cast<size_t>(200 * windows));
  EXPECT_EQ(daemon.PluginStatus("flood")["state"], "running");
  daemon.Stop();
}

TEST(SupervisorTest, ReloadAddsChangesAndRemovesPlugins) {
  DaemonHarness daemon;
  const std::string base = ReadFile(daemon.config_file());
  ASSERT_TRUE(daemon.Start());
  auto rewrite = [&](const std::string& text) {
    daemon.ReplaceConfig(text);
    daemon.Signal(SIGHUP);
  };
  rewrite(base + ShellPluginToml("reloaded", "echo running $0 $1; exec sleep 1000"));
  ASSERT_TRUE(WaitUntil([&] { return PidOf(daemon, "reloaded") != 0; })) << daemon.log();
  const int first = PidOf(daemon, "reloaded");
  EXPECT_TRUE(CursorExists(daemon, "plugin:reloaded"));

  rewrite(base +
          "\n[[plugin]]\nname = \"reloaded\"\ncommand = \"/bin/sh\"\n"
          "args = [\"-c\", \"echo running version two; exec sleep 1000\"]\n");
  ASSERT_TRUE(WaitUntil([&] {
    int pid = PidOf(daemon, "reloaded");
    return pid != 0 && pid != first;
  })) << daemon.log();
  const int second = PidOf(daemon, "reloaded");
  EXPECT_TRUE(WaitUntil([&] { return GroupMembers(first).empty(); }));
  EXPECT_TRUE(WaitUntil([&] { return Contains(daemon.log(), "running version two"); }));
  EXPECT_EQ(daemon.PluginStatus("reloaded")["restarts"], 0);  // a change is not a crash

  rewrite(base);
  ASSERT_TRUE(WaitUntil([&] { return daemon.PluginStatus("reloaded").is_null(); })) << daemon.log();
  EXPECT_TRUE(WaitUntil([&] { return GroupMembers(second).empty(); }));
  EXPECT_FALSE(CursorExists(daemon, "plugin:reloaded"));
  daemon.Stop();
}

TEST(SupervisorTest, StoppingTheDaemonEndsEveryPluginEvenOneIgnoringSigterm) {
  DaemonHarness daemon(
      {.extra_toml = ShellPluginToml("polite", "exec sleep 1000") +
                     ShellPluginToml("stubborn", "trap \"\" TERM; while :; do sleep 1; done")});
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(WaitUntil([&] { return PidOf(daemon, "polite") && PidOf(daemon, "stubborn"); }));
  const int polite = PidOf(daemon, "polite");
  const int stubborn = PidOf(daemon, "stubborn");
  // The stubborn one's `sleep` children are in its group too.
  ASSERT_TRUE(WaitUntil([&] { return GroupMembers(stubborn).size() >= 2; }));
  const auto start = Clock::now();
  EXPECT_EQ(daemon.Stop(SIGTERM), 0);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(15));
  EXPECT_TRUE(GroupMembers(polite).empty());
  EXPECT_TRUE(GroupMembers(stubborn).empty()) << GroupMembers(stubborn).size();
  std::string log = daemon.log();
  EXPECT_TRUE(Contains(log, "plugin stubborn still running 5 s after SIGTERM: SIGKILL")) << log;
}

TEST(SupervisorTest, ADaemonStartForgetsCursorsOfPluginsNoLongerConfigured) {
  DaemonHarness daemon({.extra_toml = "[[plugin]]\nname = \"kept\"\ncommand = \"/bin/true\"\n"
                                      "enabled = false\n"});
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(daemon.control().Request("ack", {{"cursor", "plugin:gone"}, {"seq", 0}}));
  ASSERT_TRUE(daemon.control().Request("ack", {{"cursor", "report"}, {"seq", 0}}));
  EXPECT_EQ(daemon.Stop(), 0);
  ASSERT_TRUE(daemon.Start());
  EXPECT_FALSE(CursorExists(daemon, "plugin:gone"));
  EXPECT_TRUE(CursorExists(daemon, "plugin:kept"));  // disabled plugins keep theirs
  EXPECT_TRUE(CursorExists(daemon, "report"));       // not a plugin's
  EXPECT_EQ(daemon.PluginStatus("kept")["state"], "disabled");
  daemon.Stop();
}

}  // namespace
}  // namespace certinbox::testing
