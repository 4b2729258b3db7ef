// The plugin runtime (plugins/sdk/plugin.h) against the real daemon, without the supervisor: the
// recorder test plugin is started by the test with the environment a supervisor gives (as
// `eval "$(certinbox plugin env NAME)"` would). It replays from its cursor, handles live events
// in seq order, moves its cursor over events it does not want, survives a daemon restart, stops
// on SIGTERM with status 0 and refuses to run (status 1) with a wrong token.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/plugin_fixtures.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

extern char** environ;

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// The recorder, started with the plugin environment; stderr goes to a file.
class Recorder {
 public:
  Recorder(DaemonHarness& daemon, const std::string& token, const json& events, const fs::path& out,
           const fs::path& err, json options = json::object())
      : process_({RecorderBinary()},
                 {.stderr_file = err.string(),
                  .env = PluginEnvironment(daemon, token, events, out, std::move(options))}) {}
  bool started() const { return process_.running(); }
  void Signal(int signal) const { process_.Signal(signal); }
  // The exit status once it ended within `deadline` (-signal when killed), nullopt otherwise.
  std::optional<int> Wait(std::chrono::milliseconds deadline) { return process_.Wait(deadline); }

 private:
  // The test's environment without its CERTINBOX_ variables, and those a supervisor would give.
  static std::vector<std::string> PluginEnvironment(DaemonHarness& daemon, const std::string& token,
                                                    const json& events, const fs::path& out,
                                                    json options) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      auto eq = entry.find('=');
      if (eq != std::string::npos && !entry.starts_with("CERTINBOX_")) {
        env[entry.substr(0, eq)] = entry.substr(eq + 1);
      }
    }
    env["CERTINBOX_PLUGIN"] = "rec";
    env["CERTINBOX_PLUGIN_TOKEN"] = token;
    env["CERTINBOX_CONTROL"] = daemon.control_endpoint();
    env["CERTINBOX_PUBLISH"] = daemon.publish_endpoint();
    env["CERTINBOX_PLUGIN_EVENTS"] = events.dump();
    options["out"] = out.string();
    env["CERTINBOX_PLUGIN_OPTIONS"] = options.dump();
    std::vector<std::string> strings;
    for (const auto& [key, value] : env) strings.push_back(key + "=" + value);
    return strings;
  }

  ChildProcess process_;
};

class PluginRuntimeTest : public ::testing::Test {
 protected:
  PluginRuntimeTest() {
    HarnessOptions options;
    // Known to the daemon, not started by it: the test runs it.
    options.extra_toml = RecorderToml({.enabled = false});
    daemon_.emplace(options);
    out_ = daemon_->root() / "rec.out";
    err_ = daemon_->root() / "rec.err";
  }

  // What `certinbox plugin env rec` prints.
  std::string Token() {
    auto reply = daemon_->control().Request("plugin.env", {{"plugin", "rec"}});
    EXPECT_TRUE(reply.has_value()) << (reply ? "" : reply.error().message);
    return reply ? (*reply)["env"].value("CERTINBOX_PLUGIN_TOKEN", "") : "";
  }

  void Meta(int n) {
    for (int i = 0; i < n; ++i) {
      auto changed = daemon_->control().Request("meta", {{"entry", "run"}, {"set", {{"n", i}}}});
      ASSERT_TRUE(changed.has_value()) << changed.error().message;
    }
  }

  std::optional<DaemonHarness> daemon_;
  fs::path out_, err_;
};

TEST_F(PluginRuntimeTest, HandlesEachEventInOrderAndStopsOnSigterm) {
  DaemonHarness& daemon = *daemon_;
  ASSERT_TRUE(daemon.Start());
  // Events before the plugin starts, acknowledged: it starts after them.
  Issued leaf = Issue(LeafSpec("run.example.test"));
  daemon.Drop("run.pem.toml", "name = \"run\"\n");
  daemon.Drop("run.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported"));
  Meta(5);
  const int64_t before = daemon.LastSeq();
  ASSERT_TRUE(daemon.control().Request("ack", {{"cursor", "plugin:rec"}, {"seq", before}}));

  Recorder recorder(daemon, Token(), json::array({""}), out_, err_);
  ASSERT_TRUE(recorder.started());
  ASSERT_TRUE(WaitUntil([&] { return daemon.CursorOf("plugin:rec") == before; }, seconds(30)))
      << ReadFile(err_) << daemon.log();

  Meta(200);
  const int64_t last = daemon.LastSeq();
  ASSERT_EQ(last, before + 200);
  ASSERT_TRUE(WaitUntil([&] { return daemon.CursorOf("plugin:rec") >= last; }, seconds(60)))
      << "cursor " << daemon.CursorOf("plugin:rec") << " of " << last << "\n"
      << ReadFile(err_);
  auto lines = ReadRecorded(out_);
  ASSERT_EQ(lines.size(), 200u) << ReadFile(out_);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].seq, before + 1 + static_cast<int64_t>(i));  // once each, in order
    EXPECT_EQ(lines[i].type, "cert.updated");
  }

  recorder.Signal(SIGTERM);
  EXPECT_EQ(recorder.Wait(seconds(5)), 0) << ReadFile(err_);
}

TEST_F(PluginRuntimeTest, ReplaysFromItsCursorAndSkipsEventsItDoesNotWant) {
  DaemonHarness& daemon = *daemon_;
  ASSERT_TRUE(daemon.Start());
  Issued leaf = Issue(LeafSpec("run.example.test"));
  daemon.Drop("run.pem.toml", "name = \"run\"\n");
  daemon.Drop("run.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported"));
  const int64_t start = daemon.LastSeq();
  // The cursor stands here; the events after it wait in the outbox for the plugin.
  ASSERT_TRUE(daemon.control().Request("ack", {{"cursor", "plugin:rec"}, {"seq", start}}));
  Meta(30);
  daemon.Drop("junk.pem", "not a certificate");
  daemon.WaitForEvents(HasEvents("import.rejected"));
  Meta(10);
  const int64_t last = daemon.LastSeq();

  // Wants cert.updated only: the rejection is not handled, but the cursor moves over it.
  Recorder recorder(daemon, Token(), json::array({"cert.updated"}), out_, err_);
  ASSERT_TRUE(WaitUntil([&] { return daemon.CursorOf("plugin:rec") >= last; }, seconds(30)))
      << "cursor " << daemon.CursorOf("plugin:rec") << " of " << last << "\n"
      << ReadFile(err_);
  auto lines = ReadRecorded(out_);
  ASSERT_EQ(lines.size(), 40u) << ReadFile(out_);
  std::set<int64_t> seqs;
  for (const auto& [seq, type] : lines) {
    EXPECT_EQ(type, "cert.updated");
    EXPECT_GT(seq, start);
    seqs.insert(seq);
  }
  EXPECT_EQ(seqs.size(), 40u);

  // The daemon restarts: the plugin waits for it and goes on.
  EXPECT_EQ(daemon.Stop(SIGTERM), 0);
  ASSERT_TRUE(daemon.Start());
  Meta(10);
  const int64_t after_restart = daemon.LastSeq();
  ASSERT_TRUE(
      WaitUntil([&] { return daemon.CursorOf("plugin:rec") >= after_restart; }, seconds(60)))
      << "cursor " << daemon.CursorOf("plugin:rec") << " of " << after_restart << "\n"
      << ReadFile(err_);
  EXPECT_EQ(ReadRecorded(out_).size(), 50u) << ReadFile(out_);
}

TEST_F(PluginRuntimeTest, AHandlerThatThrowsIsReportedAndThePluginGoesOn) {
  DaemonHarness& daemon = *daemon_;
  ASSERT_TRUE(daemon.Start());
  Issued leaf = Issue(LeafSpec("run.example.test"));
  daemon.Drop("run.pem.toml", "name = \"run\"\n");
  daemon.Drop("run.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported"));
  const int64_t start = daemon.LastSeq();
  ASSERT_TRUE(daemon.control().Request("ack", {{"cursor", "plugin:rec"}, {"seq", start}}));

  Recorder recorder(daemon, Token(), json::array({""}), out_, err_,
                    {{"fail_type", "import.rejected"}});
  daemon.Drop("junk.pem", "not a certificate");
  daemon.WaitForEvents(HasEvents("import.rejected"));
  Meta(3);
  const int64_t last = daemon.LastSeq();
  ASSERT_TRUE(WaitUntil([&] { return daemon.CursorOf("plugin:rec") >= last; }, seconds(30)))
      << "cursor " << daemon.CursorOf("plugin:rec") << " of " << last << "\n"
      << ReadFile(err_);
  auto lines = ReadRecorded(out_);
  ASSERT_EQ(lines.size(), 4u) << ReadFile(out_);  // the failed one, then the three after it
  EXPECT_EQ(lines[0].type, "import.rejected");
  EXPECT_EQ(lines[3].seq, last);
  EXPECT_NE(ReadFile(err_).find("the handler failed: told to fail on import.rejected"),
            std::string::npos)
      << ReadFile(err_);
  // Reported: the daemon logs it, and it is the plugin's last_error.
  EXPECT_NE(daemon.log().find("plugin rec reports:"), std::string::npos) << daemon.log();
  auto status = daemon.control().Request("status");
  ASSERT_TRUE(status.has_value());
  std::string last_error;
  for (const auto& plugin : (*status)["plugins"]) {
    if (plugin.value("name", "") == "rec") last_error = plugin.value("last_error", "");
  }
  EXPECT_NE(last_error.find("told to fail on import.rejected"), std::string::npos)
      << status->dump();
}

TEST_F(PluginRuntimeTest, WrongTokenEndsThePluginWithStatus1) {
  DaemonHarness& daemon = *daemon_;
  ASSERT_TRUE(daemon.Start());
  Recorder recorder(daemon, std::string(64, 'f'), json::array({""}), out_, err_);
  ASSERT_TRUE(recorder.started());
  EXPECT_EQ(recorder.Wait(seconds(15)), 1);
  EXPECT_NE(ReadFile(err_).find("unauthenticated"), std::string::npos) << ReadFile(err_);
}

}  // namespace
}  // namespace certinbox::testing
