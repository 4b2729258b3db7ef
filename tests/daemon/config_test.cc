#include "daemon/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "base/error.h"
#include "tests/testing/config_dir.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Keys(const std::vector<storage::ExpiryThreshold>& thresholds) {
  std::vector<std::string> keys;
  for (const auto& t : thresholds) keys.push_back(t.Key());
  return keys;
}

class ConfigTest : public ::testing::Test {
 protected:
  base::Result<Config> Load(const std::string& text) { return LoadConfig(config_.Write(text)); }

  testing::ConfigDir config_;
  const fs::path dir_ = config_.dir();
};

TEST_F(ConfigTest, DefaultsAndRelativePaths) {
  auto config = Load("[daemon]\nstate_dir = \"state\"\n[[inbox]]\npath = \"in\"\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->state_dir, dir_ / "state");
  EXPECT_EQ(config->database, dir_ / "state" / "certinbox.db");
  EXPECT_EQ(config->master_key_file, dir_ / "state" / "master.key");
  EXPECT_EQ(config->control_endpoint, "ipc://" + (dir_ / "state" / "control.sock").string());
  EXPECT_EQ(config->publish_endpoint, "ipc://" + (dir_ / "state" / "events.sock").string());
  ASSERT_EQ(config->inboxes.size(), 1u);
  EXPECT_EQ(config->inboxes[0].path, dir_ / "in");
  EXPECT_EQ(config->inboxes[0].name, "in");
  EXPECT_EQ(config->inboxes[0].settle_ms, 500u);
  EXPECT_EQ(config->inboxes[0].max_kdf_iterations, 10'000'000u);
  EXPECT_EQ(config->inboxes[0].max_scrypt_n, uint64_t{1} << 20);
  EXPECT_EQ(config->inboxes[0].max_file_kdf_iterations, 30'000'000u);
  EXPECT_EQ(config->inboxes[0].parse_timeout_s, 15u);
  EXPECT_FALSE(config->inboxes[0].groups.has_value());  // any group
  EXPECT_EQ(config->expiry.defaults.expiring_soon.Key(), "33%,30d");
  EXPECT_EQ(config->max_versions, 50);
  EXPECT_EQ(Keys(config->expiry.defaults.notify),
            (std::vector<std::string>{"33%,30d", "10%,7d", "1d"}));
  EXPECT_TRUE(config->expiry.overrides.empty());
}

TEST_F(ConfigTest, EveryKey) {
  auto config = Load(R"(
[daemon]
state_dir = "/srv/certinbox"
log_level = "debug"
system_trust = false
max_versions = 3
[bus]
publish = "tcp://127.0.0.1:5601"
control = "ipc:///run/certinbox/control.sock"
publish_hwm = 5000
[[bus.client]]
name = "ops"
public_key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
role = "read"
[expiry]
expiring_soon = "20%"
notify = ["1d", ["10%", "7d"], "50%", "12h"]
scan_interval = "15m"
[[expiry.rule]]
group = "web"
name = "api"
notify = ["14d"]
[[expiry.rule]]
group = "web"
expiring_soon = ["20d", "25%"]
[[inbox]]
path = "/srv/drop"
name = "drop"
group = "web"
groups = ["web", "shared"]
labels = ["prod"]
settle_ms = 1000
rescan_interval = "1m"
max_file_bytes = 65536
archive = true
accept_expired = true
password_file = "passwords"
max_kdf_iterations = 2000000
max_scrypt_n = 65536
max_file_kdf_iterations = 8000000
parse_timeout = "1m"
)");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_FALSE(config->system_trust);
  EXPECT_EQ(config->max_versions, 3);
  EXPECT_EQ(config->publish_endpoint, "tcp://127.0.0.1:5601");
  EXPECT_EQ(config->control_endpoint, "ipc:///run/certinbox/control.sock");
  EXPECT_EQ(config->publish_hwm, 5000);
  EXPECT_EQ(config->expiry.defaults.expiring_soon.Key(), "20%");
  // Ordered by the time they leave a year-long certificate, the most first.
  EXPECT_EQ(Keys(config->expiry.defaults.notify),
            (std::vector<std::string>{"50%", "10%,7d", "1d", "12h"}));
  // An entry's rule starts from its group's, which starts from the default; entries first.
  ASSERT_EQ(config->expiry.overrides.size(), 2u);
  const auto& api = config->expiry.For("web", "api");
  EXPECT_EQ(api.expiring_soon.Key(), "25%,20d");
  EXPECT_EQ(Keys(api.notify), std::vector<std::string>{"14d"});
  const auto& web = config->expiry.For("web", "www");
  EXPECT_EQ(web.expiring_soon.Key(), "25%,20d");
  EXPECT_EQ(Keys(web.notify), Keys(config->expiry.defaults.notify));
  EXPECT_EQ(config->expiry.OriginOf("web", "api"), "entry web/api");
  EXPECT_EQ(config->expiry.OriginOf("web", "www"), "group web");
  EXPECT_EQ(config->expiry.OriginOf("default", "api"), "");
  EXPECT_EQ(config->scan_interval_s, 900u);
  const auto& inbox = config->inboxes.at(0);
  EXPECT_EQ(inbox.group, "web");
  EXPECT_EQ(inbox.groups, (std::vector<std::string>{"web", "shared"}));
  EXPECT_EQ(inbox.labels, std::vector<std::string>{"prod"});
  EXPECT_EQ(inbox.rescan_ms, 60'000u);
  EXPECT_EQ(inbox.max_file_bytes, 65536u);
  EXPECT_TRUE(inbox.archive);
  EXPECT_TRUE(inbox.accept_expired);
  EXPECT_EQ(inbox.password_file, dir_ / "passwords");
  EXPECT_EQ(inbox.max_kdf_iterations, 2'000'000u);
  EXPECT_EQ(inbox.max_scrypt_n, 65536u);
  EXPECT_EQ(inbox.max_file_kdf_iterations, 8'000'000u);
  EXPECT_EQ(inbox.parse_timeout_s, 60u);
}

struct BadConfig {
  std::string text;
  std::string where;  // "LINE:COLUMN" expected in the message
  std::string words;  // expected in the message
};

// Names the case by its TOML text in gtest output instead of a byte dump.
void PrintTo(const BadConfig& bad, std::ostream* out) {
  *out << ::testing::PrintToString(bad.text);
}

class BadConfigTest : public ConfigTest, public ::testing::WithParamInterface<BadConfig> {};

TEST_P(BadConfigTest, IsRefusedWithFileLineColumn) {
  auto config = Load(GetParam().text);
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, "config_invalid");
  std::string expected = (dir_ / "certinbox.toml").string() + ":" + GetParam().where + ":";
  EXPECT_NE(config.error().message.find(expected), std::string::npos) << config.error().message;
  EXPECT_NE(config.error().message.find(GetParam().words), std::string::npos)
      << config.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadConfigTest,
    ::testing::Values(
        BadConfig{"[daemon]\nstate_dirr = \"x\"\n", "2:1", "unknown key 'state_dirr'"},
        BadConfig{"[daemon]\nlog_level = 3\n", "2:13", "must be a string"},
        BadConfig{"[daemon]\nlog_level = \"loud\"\n", "2:13", "log_level"},
        BadConfig{"[expiry]\nexpiring_soon_days = -4\n", "2:22", "between"},
        BadConfig{"[daemon]\nmax_versions = 0\n", "2:16", "between"},
        BadConfig{"[expiry]\nnotify_days = \"often\"\n", "2:15", "notify_days"},
        BadConfig{"[expiry]\nexpiring_soon = \"30\"\n", "2:17", "(\"33%\")"},
        BadConfig{"[expiry]\nexpiring_soon = \"0%\"\n", "2:17", "share of the lifetime"},
        BadConfig{"[expiry]\nexpiring_soon = [\"33%\", \"20%\"]\n", "2:17", "or both"},
        BadConfig{"[expiry]\nnotify = [\"7d\", \"soon\"]\n", "2:17", "'notify' takes"},
        BadConfig{"[expiry]\nnotify = \"7d\"\n", "2:10", "array of thresholds"},
        BadConfig{"[expiry]\nexpiring_soon = \"30d\"\nexpiring_soon_days = 30\n", "3:22",
                  "keep 'expiring_soon' only"},
        BadConfig{"[expiry]\nnotify_days = [7]\nnotify = [\"7d\"]\n", "2:15",
                  "'notify = [\"30d\", \"7d\"]'"},
        BadConfig{"[[expiry.rule]]\nname = \"web\"\n", "1:1", "needs a 'group'"},
        BadConfig{"[[expiry.rule]]\ngroup = \"a\"\n[[expiry.rule]]\ngroup = \"a\"\n", "3:1",
                  "two [[expiry.rule]]s are for group a"},
        BadConfig{"[expiry]\nscan_interval = \"0s\"\n", "2:17", "at least 1 seconds"},
        BadConfig{"[[inbox]]\npath = \"a\"\nsettle_ms = \"soon\"\n", "3:13", "whole number"},
        BadConfig{"[[inbox]]\npath = \"a\"\nrescan_interval = \"5 parsecs\"\n", "3:19", "duration"},
        BadConfig{"[[inbox]]\nname = \"a\"\n", "1:1", "needs a 'path'"},
        BadConfig{"[[inbox]]\npath = \"a\"\nmax_kdf_iterations = 0\n", "3:22", "between"},
        BadConfig{"[[inbox]]\npath = \"a\"\nmax_kdf_iterations = 2147483648\n", "3:22", "between"},
        BadConfig{"[[inbox]]\npath = \"a\"\nmax_scrypt_n = 1\n", "3:16", "between"},
        BadConfig{"[[inbox]]\npath = \"a\"\nmax_file_kdf_iterations = -1\n", "3:27", "between"},
        BadConfig{"[[inbox]]\npath = \"a\"\nparse_timeout = \"0s\"\n", "3:17", "at least 1"},
        BadConfig{"[[inbox]]\npath = \"a\"\nparse_timeout = \"2h\"\n", "3:17", "at most 1h"},
        BadConfig{"[[inbox]]\npath = \"a\"\n[[inbox]]\npath = \"a\"\n", "3:1", "two inboxes"},
        // `groups` must hold the inbox's own group: drops without a sidecar group go there.
        BadConfig{"[[inbox]]\npath = \"a\"\ngroups = [\"shared\"]\n", "3:10",
                  "own group 'default'"},
        BadConfig{"[[inbox]]\npath = \"a\"\ngroup = \"web\"\ngroups = []\n", "4:10",
                  "own group 'web'"},
        BadConfig{"[[inbox]]\npath = \"a\"\ngroups = [\"default\", \"a/b\"]\n", "3:10", "'groups'"},
        BadConfig{"[[inbox]]\npath = \"a\"\ngroups = [\"default\", \"\"]\n", "3:10", "empty"},
        BadConfig{"[[inbox]]\npath = \"a\"\ngroups = \"default\"\n", "3:10", "array of strings"},
        BadConfig{"[bus]\ncontrol = \"tcp://0.0.0.0:1\"\n", "2:11", "CURVE"},
        BadConfig{"[bus]\ncontrol = \"ipc://@cbx\"\n", "2:11", "abstract ipc sockets"},
        BadConfig{"[daemon\nstate_dir = 1\n", "1:8", "expected ']'"},
        BadConfig{"colour = \"blue\"\n", "1:1", "unknown key 'colour'"}));

TEST_F(ConfigTest, ScanIntervalMayBeOneSecondAndNotifyDaysEmpty) {
  auto config = Load("[expiry]\nscan_interval = \"1s\"\nnotify_days = []\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->scan_interval_s, 1u);
  EXPECT_TRUE(config->expiry.defaults.notify.empty());
}

// A config written for whole days keeps working: the same thresholds, in days.
TEST_F(ConfigTest, DaysOfAnOlderConfigAreThresholdsInDays) {
  auto config = Load("[expiry]\nexpiring_soon_days = 30\nnotify_days = [7, 30, 0, 1, 7]\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->expiry.defaults.expiring_soon.Key(), "30d");
  // Sorted, one of each; 0 (the moment of expiry) is cert.expired, as before.
  EXPECT_EQ(Keys(config->expiry.defaults.notify), (std::vector<std::string>{"30d", "7d", "1d"}));
}

TEST_F(ConfigTest, EveryProblemIsReportedAtOnce) {
  auto config = Load("[daemon]\nfoo = 1\nbar = 2\n");
  ASSERT_FALSE(config.has_value());
  EXPECT_NE(config.error().message.find(":2:1: unknown key 'foo'"), std::string::npos);
  EXPECT_NE(config.error().message.find(":3:1: unknown key 'bar'"), std::string::npos);
}

TEST_F(ConfigTest, IpcPathsAreRelativeToTheConfig) {
  auto config = Load("[bus]\npublish = \"ipc://run/events.sock\"\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->publish_endpoint, "ipc://" + (dir_ / "run" / "events.sock").string());
}

TEST_F(ConfigTest, KeyExportIsAllowedUnlessTurnedOff) {
  auto defaults = Load("");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_TRUE(defaults->allow_key_export);
  auto off = Load("[bus]\nallow_key_export = false\n");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->allow_key_export);
  auto wrong = Load("[bus]\nallow_key_export = \"no\"\n");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find(":2:20:"), std::string::npos) << wrong.error().message;
}

TEST_F(ConfigTest, MissingFile) {
  auto config = LoadConfig(dir_ / "nope.toml");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, "config_unreadable");
}

TEST(DurationTest, Units) {
  EXPECT_FALSE(ParseDuration("90"));      // no unit: one grammar everywhere (base/duration.h)
  EXPECT_FALSE(ParseDuration("1500ms"));  // not whole seconds
  EXPECT_EQ(ParseDuration("2000ms"), 2u);
  EXPECT_EQ(ParseDuration("90s"), 90u);
  EXPECT_EQ(ParseDuration("15m"), 900u);
  EXPECT_EQ(ParseDuration("2h"), 7200u);
  EXPECT_EQ(ParseDuration("7d"), 604800u);
  EXPECT_EQ(ParseDuration("1w"), 604800u);
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("m"));
  EXPECT_FALSE(ParseDuration("5y"));
  EXPECT_FALSE(ParseDuration("-5s"));
}

}  // namespace
}  // namespace certinbox::daemon

namespace certinbox::daemon {
namespace {

class ConfigFragmentsTest : public ConfigTest {
 protected:
  void Fragment(const std::string& name, const std::string& text) {
    config_.WriteFragment(name, text);
  }
};

TEST_F(ConfigFragmentsTest, FragmentsAddInboxesBindingsAndSectionsInNameOrder) {
  Fragment("20-web.toml",
           "[[inbox]]\npath = \"web\"\n[[binding]]\nentry = \"web\"\nresource = \"lb:443\"\n");
  Fragment("10-expiry.toml", "[expiry]\nnotify_days = [14, 1]\n[[inbox]]\npath = \"api\"\n");
  Fragment(".hidden.toml", "this is not toml");
  Fragment("notes.txt", "neither is this");
  auto config = Load(
      "[daemon]\nstate_dir = \"state\"\n[[inbox]]\npath = \"in\"\n[expiry]\nscan_interval = 60\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  ASSERT_EQ(config->inboxes.size(), 3u);
  EXPECT_EQ(config->inboxes[0].name, "in");
  EXPECT_EQ(config->inboxes[1].name, "api");  // 10-expiry.toml before 20-web.toml
  EXPECT_EQ(config->inboxes[2].name, "web");
  EXPECT_EQ(config->inboxes[2].path, dir_ / "web");  // relative to the main file's folder
  EXPECT_EQ(Keys(config->expiry.defaults.notify), (std::vector<std::string>{"14d", "1d"}));
  EXPECT_EQ(config->scan_interval_s, 60u);
  ASSERT_EQ(config->bindings.size(), 1u);
  EXPECT_EQ(config->bindings[0].resource, "lb:443");
  EXPECT_EQ(ConfigFragments(dir_ / "certinbox.toml").size(), 2u);
}

TEST_F(ConfigFragmentsTest, AKeySetTwiceAndAFragmentsOwnErrorsNameTheirFileAndLine) {
  Fragment("a.toml", "# owner: puppet\n[daemon]\nlog_level = \"debug\"\n");
  Fragment("b.toml", "[[inbox]]\npath = \"x\"\nsettle = 5\n");
  auto config = Load("[daemon]\nlog_level = \"info\"\n");
  ASSERT_FALSE(config.has_value());
  const std::string& message = config.error().message;
  std::string a = (dir_ / "conf.d" / "a.toml").string();
  std::string b = (dir_ / "conf.d" / "b.toml").string();
  std::string main = (dir_ / "certinbox.toml").string();
  EXPECT_NE(message.find(a + ":3:1: 'daemon.log_level' is already set in " + main + ":2"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(b + ":3:1: unknown key 'settle'"), std::string::npos) << message;

  Fragment("a.toml", "[daemon\n");
  config = Load("[daemon]\n");
  ASSERT_FALSE(config.has_value());
  EXPECT_NE(config.error().message.find(a + ":1:"), std::string::npos) << config.error().message;
}

// A fragment may say anything the main file may: [[plugin]] too, and a binding naming it.
TEST_F(ConfigFragmentsTest, FragmentsMayDeclarePlugins) {
  Fragment("deploy.toml",
           "[[plugin]]\nname = \"deploy\"\ncommand = \"certinbox-deploy\"\n"
           "[[binding]]\nentry = \"web\"\nresource = \"lb:443\"\nplugin = \"deploy\"\n");
  auto config = Load("[daemon]\nstate_dir = \"state\"\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  ASSERT_EQ(config->plugins.size(), 1u);
  EXPECT_EQ(config->plugins[0].name, "deploy");
  ASSERT_EQ(config->bindings.size(), 1u);
  EXPECT_EQ(config->bindings[0].plugin, "deploy");
}

// [daemon] dumpable: certinboxd is not dumpable unless the config says so.
TEST_F(ConfigTest, DumpableIsOffUnlessSet) {
  struct Case {
    std::string daemon_keys;
    bool dumpable;
  };
  for (const Case& c :
       std::vector<Case>{{"", false}, {"dumpable = false\n", false}, {"dumpable = true\n", true}}) {
    auto config = Load("[daemon]\n" + c.daemon_keys);
    ASSERT_TRUE(config.has_value()) << config.error().message;
    EXPECT_EQ(config->dumpable, c.dumpable) << c.daemon_keys;
  }
  auto wrong = Load("[daemon]\ndumpable = \"yes\"\n");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, "config_invalid");
}

}  // namespace
}  // namespace certinbox::daemon
