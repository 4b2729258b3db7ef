// The PluginSupervisor with real plugin processes (tiny shell scripts), a real loop, a real
// inventory and a ManualClock: a plugin is started and shown running, a plugin that exits is
// restarted after a backoff that doubles, and Stop ends them. Every wait is bounded.
#include "daemon/plugin_supervisor.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <string>

#include "base/time.h"
#include "tests/daemon/bus_fixture.h"
#include "tests/testing/files.h"

namespace certinbox::daemon {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using test::kNow;

class PluginSupervisorTest : public test::BusTest {
 protected:
  void SetUp() override {
    BusTest::SetUp();
    if (HasFatalFailure()) return;
    supervisor_ = std::make_unique<PluginSupervisor>(
        &loop_, *inventory_, clock_,
        PluginSupervisor::Options{.state_dir = dir_ / "state",
                                  .control_endpoint = "ipc://" + (dir_ / "control.sock").string(),
                                  .publish_endpoint = publisher_->endpoint(),
                                  .last_seq = [this] { return publisher_->last_published_seq(); }});
  }

  void TearDown() override {
    if (supervisor_ && !stopped_) {
      EXPECT_TRUE(Stop());
    }
    supervisor_.reset();
    BusTest::TearDown();
  }

  // Stops every plugin (SIGTERM, SIGKILL 5 s later) and turns the loop until they have exited.
  // Once only: the supervisor starts nothing afterwards.
  bool Stop() {
    supervisor_->Stop([this] { stopped_ = true; });
    return RunUntil([this] { return stopped_; }, std::chrono::seconds(15));
  }

  // A plugin whose command is a shell script of `body`.
  PluginConfig Script(const std::string& name, const std::string& body) {
    const auto file = dir_ / (name + ".sh");
    testing::WriteFile(file, "#!/bin/sh\n" + body + "\n");
    ::chmod(file.c_str(), 0755);
    return PluginConfig{.name = name, .command = file.string()};
  }

  json Status(const std::string& name) {
    for (const auto& plugin : supervisor_->StatusJson()) {
      if (plugin["name"] == name) return plugin;
    }
    return nullptr;
  }

  std::unique_ptr<PluginSupervisor> supervisor_;
  bool stopped_ = false;
};

TEST_F(PluginSupervisorTest, AStartedPluginIsShownRunning) {
  clock_.Set(kNow + 42);
  supervisor_->Apply({Script("sleeper", "exec sleep 60")});
  json status = Status("sleeper");
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["state"], "running");
  EXPECT_TRUE(status["pid"].is_number());
  EXPECT_EQ(status["restarts"], 0);
  EXPECT_EQ(status["started_at"], base::FormatRfc3339(kNow + 42));
  EXPECT_EQ(status["cursor"], 0);  // made at the last seq published: none yet
  EXPECT_TRUE(supervisor_->Configured("sleeper"));
  EXPECT_EQ(supervisor_->Environment("sleeper")["CERTINBOX_PLUGIN"], "sleeper");

  ASSERT_TRUE(Stop());
  EXPECT_EQ(Status("sleeper")["state"], "stopped");
}

// First restart after 1 s, the next after 2 s: each measured from the exit the loop reported.
TEST_F(PluginSupervisorTest, APluginThatExitsIsRestartedWithBackoff) {
  supervisor_->Apply({Script("quitter", "exit 3")});
  steady_clock::time_point exited[2], restarted[2];
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(RunUntil([&] { return Status("quitter")["state"] == "backoff"; }))
        << Status("quitter");
    exited[i] = steady_clock::now();
    json status = Status("quitter");
    EXPECT_EQ(status["last_exit"], "exit 3");
    EXPECT_EQ(status["last_error"], "exited with status 3");
    EXPECT_EQ(status["restarts"], i);
    ASSERT_TRUE(RunUntil([&] { return Status("quitter")["restarts"] == i + 1; }))
        << Status("quitter");
    restarted[i] = steady_clock::now();
  }
  EXPECT_GE(restarted[0] - exited[0], milliseconds(900));
  EXPECT_GE(restarted[1] - exited[1], milliseconds(1900));
}

}  // namespace
}  // namespace certinbox::daemon
