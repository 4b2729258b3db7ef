// The plugin runtime (plugins/sdk/plugin.h) against the real daemon, without the supervisor: the
// recorder test plugin is started by the test with the environment a supervisor gives (as
// `eval "$(certinbox plugin env NAME)"` would). It replays from its cursor, handles live events
// in seq order, moves its cursor over events it does not want, survives a daemon restart, stops
// on SIGTERM with status 0 and refuses to run (status 1) with a wrong token.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/test_files.h"
#include "tests/testing/test_ca.h"

extern char** environ;

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
  auto until = steady_clock::now() + deadline;
  while (steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return done();
}

std::string ReadAll(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The recorder, started with the plugin environment; stderr goes to a file.
class Recorder {
 public:
  Recorder(DaemonHarness& daemon, const std::string& token, const json& events, const fs::path& out,
           const fs::path& err) {
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
    env["CERTINBOX_PLUGIN_OPTIONS"] = json{{"out", out.string()}}.dump();
    std::vector<std::string> strings;
    for (const auto& [key, value] : env) strings.push_back(key + "=" + value);
    std::vector<char*> envp;
    for (auto& s : strings) envp.push_back(s.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    std::string binary = CERTINBOX_RECORDER_BIN;
    char* argv[] = {binary.data(), nullptr};
    if (posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv, envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Recorder() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  void Signal(int signal) const { ::kill(pid_, signal); }
  // The exit status once it ended within `deadline` (-signal when killed), nullopt otherwise.
  std::optional<int> Wait(std::chrono::milliseconds deadline) {
    std::optional<int> result;
    WaitUntil(
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
          pid_ = -1;
          result = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
          return true;
        },
        deadline);
    return result;
  }

 private:
  pid_t pid_ = -1;
};

// Records of "SEQ TYPE" lines.
std::vector<std::pair<int64_t, std::string>> Recorded(const fs::path& out) {
  std::vector<std::pair<int64_t, std::string>> lines;
  std::istringstream in(ReadAll(out));
  int64_t seq = 0;
  std::string type;
  while (in >> seq >> type) lines.emplace_back(seq, type);
  return lines;
}

int64_t CursorOf(DaemonHarness& daemon) {
  auto reply = daemon.control().Request("cursors");
  if (!reply) return -1;
  for (const auto& cursor : (*reply)["cursors"]) {
    if (cursor.value("name", "") == "plugin:rec") return cursor.value("seq", int64_t{0});
  }
  return -1;
}

int64_t LastSeq(DaemonHarness& daemon) {
  auto status = daemon.control().Request("status");
  return status ? status->value("last_seq", int64_t{0}) : -1;
}

class PluginRuntimeTest : public ::testing::Test {
 protected:
  PluginRuntimeTest() {
    HarnessOptions options;
    // Known to the daemon, not started by it: the test runs it.
    options.extra_toml = "[[plugin]]\nname = \"rec\"\ncommand = \"" +
                         std::string(CERTINBOX_RECORDER_BIN) + "\"\nenabled = false\n";
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
  const int64_t before = LastSeq(daemon);
  ASSERT_TRUE(daemon.control().Request("ack", {{"cursor", "plugin:rec"}, {"seq", before}}));

  Recorder recorder(daemon, Token(), json::array({""}), out_, err_);
  ASSERT_TRUE(recorder.started());
  ASSERT_TRUE(WaitUntil([&] { return CursorOf(daemon) == before; }, seconds(30)))
      << ReadAll(err_) << daemon.log();

  Meta(200);
  const int64_t last = LastSeq(daemon);
  ASSERT_EQ(last, before + 200);
  ASSERT_TRUE(WaitUntil([&] { return CursorOf(daemon) >= last; }, seconds(60)))
      << "cursor " << CursorOf(daemon) << " of " << last << "\n"
      << ReadAll(err_);
  auto lines = Recorded(out_);
  ASSERT_EQ(lines.size(), 200u) << ReadAll(out_);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].first, before + 1 + static_cast<int64_t>(i));  // once each, in order
    EXPECT_EQ(lines[i].second, "cert.updated");
  }

  recorder.Signal(SIGTERM);
  EXPECT_EQ(recorder.Wait(seconds(5)), 0) << ReadAll(err_);
}

TEST_F(PluginRuntimeTest, ReplaysFromItsCursorAndSkipsEventsItDoesNotWant) {
  DaemonHarness& daemon = *daemon_;
  ASSERT_TRUE(daemon.Start());
  Issued leaf = Issue(LeafSpec("run.example.test"));
  daemon.Drop("run.pem.toml", "name = \"run\"\n");
  daemon.Drop("run.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported"));
  const int64_t start = LastSeq(daemon);
  // The cursor stands here; the events after it wait in the outbox for the plugin.
  ASSERT_TRUE(daemon.control().Request("ack", {{"cursor", "plugin:rec"}, {"seq", start}}));
  Meta(30);
  daemon.Drop("junk.pem", "not a certificate");
  daemon.WaitForEvents(HasEvents("import.rejected"));
  Meta(10);
  const int64_t last = LastSeq(daemon);

  // Wants cert.updated only: the rejection is not handled, but the cursor moves over it.
  Recorder recorder(daemon, Token(), json::array({"cert.updated"}), out_, err_);
  ASSERT_TRUE(WaitUntil([&] { return CursorOf(daemon) >= last; }, seconds(30)))
      << "cursor " << CursorOf(daemon) << " of " << last << "\n"
      << ReadAll(err_);
  auto lines = Recorded(out_);
  ASSERT_EQ(lines.size(), 40u) << ReadAll(out_);
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
  const int64_t after_restart = LastSeq(daemon);
  ASSERT_TRUE(WaitUntil([&] { return CursorOf(daemon) >= after_restart; }, seconds(60)))
      << "cursor " << CursorOf(daemon) << " of " << after_restart << "\n"
      << ReadAll(err_);
  EXPECT_EQ(Recorded(out_).size(), 50u) << ReadAll(out_);
}

TEST_F(PluginRuntimeTest, WrongTokenEndsThePluginWithStatus1) {
  DaemonHarness& daemon = *daemon_;
  ASSERT_TRUE(daemon.Start());
  Recorder recorder(daemon, std::string(64, 'f'), json::array({""}), out_, err_);
  ASSERT_TRUE(recorder.started());
  EXPECT_EQ(recorder.Wait(seconds(15)), 1);
  EXPECT_NE(ReadAll(err_).find("unauthenticated"), std::string::npos) << ReadAll(err_);
}

}  // namespace
}  // namespace certinbox::testing
