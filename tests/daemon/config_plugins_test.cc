// [[plugin]] in the config: read into Config::plugins, refused with FILE:LINE:COLUMN when wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "daemon/config.h"
#include "tests/testing/config_dir.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ConfigPluginsTest : public ::testing::Test {
 protected:
  base::Result<Config> Load(const std::string& text) { return LoadConfig(config_.Write(text)); }
  fs::path file() const { return config_.file(); }

  testing::ConfigDir config_;
  const fs::path dir_ = config_.dir();
};

TEST_F(ConfigPluginsTest, PluginsAreRead) {
  auto config = Load(R"(
[[plugin]]
name = "deploy"
command = "certinbox-deploy"
args = ["--verbose", "x"]
env = { LANG = "C.UTF-8", _X1 = "y" }
events = ["cert.", "push."]
enabled = false
ack_timeout = "2m"
[plugin.options]
dir = "/etc/certinbox/live"
count = 3
ratio = 0.5
on = true
list = [1, "two"]
when = 2026-01-02T03:04:05Z
[plugin.options.resources."web-nginx"]
reload = "nginx -s reload"

[[plugin]]
name = "my_hook-2"
command = "bin/hook"
)");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->plugins.size(), 2u);
  const PluginConfig& deploy = config->plugins[0];
  EXPECT_EQ(deploy.name, "deploy");
  EXPECT_EQ(deploy.command, "certinbox-deploy");  // a bare name: looked up at start
  EXPECT_EQ(deploy.args, (std::vector<std::string>{"--verbose", "x"}));
  EXPECT_EQ(deploy.env,
            (std::vector<std::pair<std::string, std::string>>{{"LANG", "C.UTF-8"}, {"_X1", "y"}}));
  EXPECT_EQ(deploy.events, (std::vector<std::string>{"cert.", "push."}));
  EXPECT_FALSE(deploy.enabled);
  EXPECT_EQ(deploy.ack_timeout_s, 120u);
  json options = json::parse(deploy.options_json);
  EXPECT_EQ(options["dir"], "/etc/certinbox/live");
  EXPECT_EQ(options["count"], 3);
  EXPECT_EQ(options["ratio"], 0.5);
  EXPECT_EQ(options["on"], true);
  EXPECT_EQ(options["list"], json::array({1, "two"}));
  EXPECT_TRUE(options["when"].is_string());
  EXPECT_NE(options["when"].get<std::string>().find("2026-01-02"), std::string::npos);
  EXPECT_EQ(options["resources"]["web-nginx"]["reload"], "nginx -s reload");

  const PluginConfig& hook = config->plugins[1];
  EXPECT_EQ(hook.command, (dir_ / "bin/hook").string());  // relative to the config's folder
  EXPECT_EQ(hook.events, std::vector<std::string>{""});
  EXPECT_TRUE(hook.enabled);
  EXPECT_EQ(hook.ack_timeout_s, 300u);
  EXPECT_EQ(hook.options_json, "{}");
}

TEST_F(ConfigPluginsTest, AckTimeoutZeroMeansNever) {
  auto config = Load("[[plugin]]\nname = \"a\"\ncommand = \"/bin/true\"\nack_timeout = 0\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->plugins[0].ack_timeout_s, 0u);
}

TEST_F(ConfigPluginsTest, ABindingNamesAConfiguredPlugin) {
  auto config = Load(R"(
[[plugin]]
name = "deploy"
command = "/bin/true"

[[plugin]]
name = "webhook"
command = "/bin/true"

[[binding]]
entry = "web"
resource = "lb:443"
plugin = "nginx"
)");
  ASSERT_FALSE(config);
  std::string where = file().string() + ":13:10:";
  EXPECT_NE(config.error().message.find(where), std::string::npos) << config.error().message;
  EXPECT_NE(config.error().message.find("'nginx'"), std::string::npos);
  EXPECT_NE(config.error().message.find("deploy, webhook"), std::string::npos)
      << config.error().message;
}

TEST(ConfigPluginsDiffTest, AddedRemovedAndChangedPluginsAreAppliedChanges) {
  Config running, next;
  PluginConfig a{.name = "a", .command = "/bin/a"};
  PluginConfig b{.name = "b", .command = "/bin/b"};
  PluginConfig c{.name = "c", .command = "/bin/c"};
  running.plugins = {a, b};
  PluginConfig b2 = b;
  b2.args = {"-v"};
  next.plugins = {b2, c};
  ConfigChanges changes = DiffConfig(running, next);
  EXPECT_EQ(changes.applied,
            (std::vector<std::string>{"plugin a removed", "plugin b changed", "plugin c added"}));
  EXPECT_TRUE(changes.restart_required.empty());
  EXPECT_TRUE(DiffConfig(next, next).empty());
}

// `user` and `group` are resolved to ids when the config is read (the supervisor's child only
// calls setgid/setuid); the group defaults to the user's primary group.
TEST_F(ConfigPluginsTest, UserAndGroupAreResolvedToIds) {
  auto config = Load(R"(
[[plugin]]
name = "as-nobody"
command = "/bin/true"
user = "nobody"

[[plugin]]
name = "as-nobody-root-group"
command = "/bin/true"
user = "nobody"
group = "root"

[[plugin]]
name = "as-daemon"
command = "/bin/true"
)");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->plugins.size(), 3u);
  EXPECT_EQ(config->plugins[0].user, "nobody");
  EXPECT_EQ(config->plugins[0].uid, 65534u);
  EXPECT_EQ(config->plugins[0].gid, 65534u);
  EXPECT_EQ(config->plugins[1].uid, 65534u);
  EXPECT_EQ(config->plugins[1].gid, 0u);
  EXPECT_FALSE(config->plugins[2].uid.has_value());
  EXPECT_FALSE(config->plugins[2].gid.has_value());
  EXPECT_NE(config->plugins[0], config->plugins[1]) << "a changed group restarts the plugin";
}

TEST_F(ConfigPluginsTest, WrongPluginsAreRefusedWithTheirPosition) {
  struct Case {
    std::string text, where, words;
  };
  const std::string ok = "command = \"/bin/true\"\n";
  const std::vector<Case> cases = {
      {"[[plugin]]\nname = \"a b\"\n" + ok, "2:8", "letters, digits"},
      {"[[plugin]]\nname = \"" + std::string(65, 'a') + "\"\n" + ok, "2:8", "1 to 64"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "[[plugin]]\nname = \"a\"\n" + ok, "5:8",
       "two plugins are named 'a'"},
      {"[[plugin]]\nname = \"a\"\n", "1:1", "needs a 'command'"},
      {"[[plugin]]\nname = \"a\"\ncommand = \"\"\n", "3:11", "must not be empty"},
      {"[[plugin]]\n" + ok, "1:1", "needs a 'name'"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "restart = true\n", "4:1",
       "unknown key 'restart' in [[plugin]]"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "args = \"-v\"\n", "4:8", "array of strings"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "env = { 1X = \"y\" }\n", "4:9", "variable name"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "env = { X = 1 }\n", "4:13", "must be a string"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "events = [1]\n", "4:10", "array of strings"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "enabled = \"yes\"\n", "4:11", "true or false"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "ack_timeout = \"soon\"\n", "4:15", "duration"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "options = 3\n", "4:11", "must be a table"},
      {"[plugin]\nname = \"a\"\n", "1:1", "array of tables"},
      // A user or group that does not exist is refused where it is written, not at start.
      {"[[plugin]]\nname = \"a\"\n" + ok + "user = \"no-such-user-cbx\"\n", "4:8", "no such user"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "user = \"nobody\"\ngroup = \"no-such-group-cbx\"\n",
       "5:9", "no such group"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "group = \"nogroup\"\n", "4:9", "needs a 'user'"},
      {"[[plugin]]\nname = \"a\"\n" + ok + "user = 65534\n", "4:8", "must be a string"},
  };
  for (const Case& c : cases) {
    auto config = Load(c.text);
    ASSERT_FALSE(config) << c.text;
    EXPECT_EQ(config.error().code, "config_invalid");
    std::string where = file().string() + ":" + c.where + ":";
    EXPECT_NE(config.error().message.find(where), std::string::npos) << c.text << "\n"
                                                                     << config.error().message;
    EXPECT_NE(config.error().message.find(c.words), std::string::npos) << c.text << "\n"
                                                                       << config.error().message;
  }
}

}  // namespace
}  // namespace certinbox::daemon
