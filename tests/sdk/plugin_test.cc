// The plugin runtime without a daemon: the environment it reads, and that Run neither exits nor
// hangs while the daemon is unreachable (it stops on Stop() and when its supervisor is gone).
#include "plugins/sdk/plugin.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include "tests/testing/temp_dir.h"

namespace certinbox::sdk {
namespace {

using namespace std::chrono_literals;

const char* const kVariables[] = {
    "CERTINBOX_PLUGIN",     "CERTINBOX_PLUGIN_TOKEN",   "CERTINBOX_CONTROL",
    "CERTINBOX_PUBLISH",    "CERTINBOX_PLUGIN_EVENTS",  "CERTINBOX_PLUGIN_OPTIONS",
    "CERTINBOX_PLUGIN_DIR", "CERTINBOX_SUPERVISOR_PID",
};

// Sets exactly these variables (the others of kVariables are unset).
void SetEnvironment(const std::map<std::string, std::string>& values) {
  for (const char* name : kVariables) unsetenv(name);
  for (const auto& [name, value] : values) setenv(name.c_str(), value.c_str(), 1);
}

std::map<std::string, std::string> Complete() {
  return {{"CERTINBOX_PLUGIN", "deploy"},
          {"CERTINBOX_PLUGIN_TOKEN", std::string(64, 'a')},
          {"CERTINBOX_CONTROL", "ipc:///run/certinbox/control.sock"},
          {"CERTINBOX_PUBLISH", "ipc:///run/certinbox/events.sock"},
          {"CERTINBOX_PLUGIN_EVENTS", R"(["cert.", "push."])"},
          {"CERTINBOX_PLUGIN_OPTIONS", R"({"dir": "/etc/certinbox/live", "n": 3})"},
          {"CERTINBOX_PLUGIN_DIR", "/var/lib/certinbox/plugins/deploy/"},
          {"CERTINBOX_SUPERVISOR_PID", "4242"}};
}

class PluginEnvTest : public ::testing::Test {
 protected:
  void TearDown() override { SetEnvironment({}); }
};

TEST_F(PluginEnvTest, ReadsEveryVariable) {
  SetEnvironment(Complete());
  auto env = PluginEnv::FromEnvironment();
  ASSERT_TRUE(env.has_value()) << env.error().message;
  EXPECT_EQ(env->name, "deploy");
  EXPECT_EQ(env->token, std::string(64, 'a'));
  EXPECT_EQ(env->control, "ipc:///run/certinbox/control.sock");
  EXPECT_EQ(env->publish, "ipc:///run/certinbox/events.sock");
  EXPECT_EQ(env->events, (std::vector<std::string>{"cert.", "push."}));
  EXPECT_EQ(env->options["dir"], "/etc/certinbox/live");
  EXPECT_EQ(env->options["n"], 3);
  EXPECT_EQ(env->dir, "/var/lib/certinbox/plugins/deploy/");
  EXPECT_EQ(env->supervisor_pid, 4242);
  EXPECT_EQ(env->cursor(), "plugin:deploy");
}

TEST_F(PluginEnvTest, OptionalVariablesHaveDefaults) {
  auto values = Complete();
  for (const char* name : {"CERTINBOX_PLUGIN_EVENTS", "CERTINBOX_PLUGIN_OPTIONS",
                           "CERTINBOX_PLUGIN_DIR", "CERTINBOX_SUPERVISOR_PID"}) {
    values.erase(name);
  }
  SetEnvironment(values);
  auto env = PluginEnv::FromEnvironment();
  ASSERT_TRUE(env.has_value()) << env.error().message;
  EXPECT_EQ(env->events, std::vector<std::string>{""});
  EXPECT_EQ(env->options, nlohmann::json::object());
  EXPECT_EQ(env->dir, "");
  EXPECT_FALSE(env->supervisor_pid.has_value());
}

// Each bad variable alone: the error is bad_environment and names it.
TEST_F(PluginEnvTest, EachMissingOrMalformedVariableIsNamed) {
  struct Case {
    std::string variable;
    std::optional<std::string> value;  // nullopt: unset
  };
  const Case cases[] = {
      {"CERTINBOX_PLUGIN", std::nullopt},         {"CERTINBOX_PLUGIN", ""},
      {"CERTINBOX_PLUGIN_TOKEN", std::nullopt},   {"CERTINBOX_CONTROL", std::nullopt},
      {"CERTINBOX_PUBLISH", std::nullopt},        {"CERTINBOX_PLUGIN_EVENTS", "cert."},
      {"CERTINBOX_PLUGIN_EVENTS", R"({"a": 1})"}, {"CERTINBOX_PLUGIN_EVENTS", R"(["cert.", 3])"},
      {"CERTINBOX_PLUGIN_OPTIONS", "[1, 2]"},     {"CERTINBOX_PLUGIN_OPTIONS", "{dir = 1}"},
      {"CERTINBOX_SUPERVISOR_PID", "12x"},        {"CERTINBOX_SUPERVISOR_PID", "-5"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.variable + "=" + c.value.value_or("(unset)"));
    auto values = Complete();
    if (c.value) {
      values[c.variable] = *c.value;
    } else {
      values.erase(c.variable);
    }
    SetEnvironment(values);
    auto env = PluginEnv::FromEnvironment();
    ASSERT_FALSE(env.has_value());
    EXPECT_EQ(env.error().code, "bad_environment");
    EXPECT_NE(env.error().message.find(c.variable), std::string::npos) << env.error().message;
  }
}

TEST_F(PluginEnvTest, SeveralProblemsAreAllNamed) {
  SetEnvironment({{"CERTINBOX_PLUGIN", "x"}, {"CERTINBOX_PLUGIN_OPTIONS", "nope"}});
  auto env = PluginEnv::FromEnvironment();
  ASSERT_FALSE(env.has_value());
  for (const char* name : {"CERTINBOX_PLUGIN_TOKEN", "CERTINBOX_CONTROL", "CERTINBOX_PUBLISH",
                           "CERTINBOX_PLUGIN_OPTIONS"}) {
    EXPECT_NE(env.error().message.find(name), std::string::npos) << name;
  }
}

// An environment whose daemon does not exist: a socket path in an empty folder.
PluginEnv Unreachable(const testing::TempDir& dir) {
  PluginEnv env;
  env.name = "p";
  env.token = std::string(64, '0');
  env.control = "ipc://" + (dir / "control.sock").string();
  env.publish = "ipc://" + (dir / "events.sock").string();
  return env;
}

TEST(PluginRunTest, WaitsForAnUnreachableDaemonUntilStopped) {
  testing::TempDir dir("certinbox-sdk-test-");
  Plugin plugin(Unreachable(dir));
  auto run =
      std::async(std::launch::async, [&] { return plugin.Run([](const nlohmann::json&) {}); });
  // Still waiting (not exited) after a while.
  EXPECT_EQ(run.wait_for(1500ms), std::future_status::timeout);
  auto asked = std::chrono::steady_clock::now();
  plugin.Stop();
  ASSERT_EQ(run.wait_for(15s), std::future_status::ready);
  EXPECT_EQ(run.get(), 0);
  // Requests in flight and pauses look at the flag every 200 ms.
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 3s);
}

TEST(PluginRunTest, ExitsWhenTheSupervisorIsGone) {
  testing::TempDir dir("certinbox-sdk-test-");
  PluginEnv env = Unreachable(dir);
  env.supervisor_pid = static_cast<long>(getppid()) + 1;  // not our parent
  Plugin plugin(env);
  auto run =
      std::async(std::launch::async, [&] { return plugin.Run([](const nlohmann::json&) {}); });
  ASSERT_EQ(run.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(run.get(), 0);
}

}  // namespace
}  // namespace certinbox::sdk
