// certinbox-exec without a daemon: its options and what a command gets for an event.
#include <gtest/gtest.h>

#include <map>

#include "plugins/exec/exec_event.h"

namespace certinbox::exec {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::map<std::string, std::string> AsMap(
    const std::vector<std::pair<std::string, std::string>>& v) {
  return {v.begin(), v.end()};
}

TEST(ExecOptionsTest, ArgvOrShellString) {
  auto argv = ParseExecOptions({{"command", {"/usr/local/bin/hook", "--flag"}}});
  ASSERT_TRUE(argv) << argv.error().message;
  EXPECT_EQ(std::get<std::vector<std::string>>(argv->program),
            (std::vector<std::string>{"/usr/local/bin/hook", "--flag"}));
  EXPECT_EQ(argv->timeout, 30s);

  auto shell = ParseExecOptions({{"command", "logger -t certinbox"}, {"timeout", "5s"}});
  ASSERT_TRUE(shell) << shell.error().message;
  EXPECT_EQ(std::get<std::string>(shell->program), "logger -t certinbox");
  EXPECT_EQ(shell->timeout, 5s);
}

TEST(ExecOptionsTest, BadOptionsAreRefusedWithAReason) {
  struct Case {
    json options;
    std::string code;
  };
  const Case cases[] = {
      {json::array(), "bad_option"},
      {json::object(), "missing_option"},
      {{{"command", ""}}, "bad_option"},
      {{{"command", json::array()}}, "bad_option"},
      {{{"command", {"hook", 3}}}, "bad_option"},
      {{{"command", {""}}}, "bad_option"},
      {{{"command", 7}}, "bad_option"},
      {{{"command", "true"}, {"timeout", "later"}}, "bad_option"},
      {{{"command", "true"}, {"timeout", "0s"}}, "bad_option"},
      {{{"command", "true"}, {"commands", "typo"}}, "unknown_option"},
  };
  for (const auto& c : cases) {
    auto options = ParseExecOptions(c.options);
    ASSERT_FALSE(options) << c.options.dump();
    EXPECT_EQ(options.error().code, c.code) << c.options.dump() << ": " << options.error().message;
  }
}

TEST(ExecEventTest, EnvironmentOfACertificateEvent) {
  json event = {{"seq", 12},
                {"type", "cert.bound"},
                {"time", "2026-11-23T10:00:00Z"},
                {"resource", "lb-prod:443"},
                {"plugin", "hook"},
                {"certificate",
                 {{"id", 7},
                  {"name", "web"},
                  {"group", "prod"},
                  {"version", 2},
                  {"fingerprint_sha256", "ab12"},
                  {"not_after", "2027-06-01T00:00:00Z"},
                  {"days_left", 190},
                  {"status", "valid"},
                  {"labels", {"a"}}}}};
  auto env = AsMap(EventEnvironment(event));
  EXPECT_EQ(env, (std::map<std::string, std::string>{
                     {"CERTINBOX_EVENT_TYPE", "cert.bound"},
                     {"CERTINBOX_EVENT_SEQ", "12"},
                     {"CERTINBOX_EVENT_TIME", "2026-11-23T10:00:00Z"},
                     {"CERTINBOX_CERT_ID", "7"},
                     {"CERTINBOX_CERT_NAME", "web"},
                     {"CERTINBOX_CERT_GROUP", "prod"},
                     {"CERTINBOX_CERT_VERSION", "2"},
                     {"CERTINBOX_CERT_FINGERPRINT", "ab12"},
                     {"CERTINBOX_CERT_NOT_AFTER", "2027-06-01T00:00:00Z"},
                     {"CERTINBOX_CERT_DAYS_LEFT", "190"},
                     {"CERTINBOX_CERT_STATUS", "valid"},
                     {"CERTINBOX_RESOURCE", "lb-prod:443"},
                 }));
}

TEST(ExecEventTest, AnEventWithoutACertificateGivesOnlyItsOwnFields) {
  json event = {{"seq", 3},
                {"type", "import.rejected"},
                {"time", "2026-11-23T10:00:00Z"},
                {"reason", "expired"},
                {"resource", nullptr}};
  auto env = AsMap(EventEnvironment(event));
  EXPECT_EQ(env, (std::map<std::string, std::string>{
                     {"CERTINBOX_EVENT_TYPE", "import.rejected"},
                     {"CERTINBOX_EVENT_SEQ", "3"},
                     {"CERTINBOX_EVENT_TIME", "2026-11-23T10:00:00Z"},
                 }));
}

TEST(ExecEventTest, TheCommandGetsTheEventOnStdin) {
  auto options = ParseExecOptions({{"command", {"cat"}}, {"timeout", "2s"}});
  ASSERT_TRUE(options);
  json event = {{"seq", 1}, {"type", "cert.expired"}, {"time", "2026-11-23T10:00:00Z"}};
  sdk::Command command = CommandFor(*options, event);
  EXPECT_EQ(json::parse(command.stdin_data), event);
  EXPECT_TRUE(command.stdin_data.ends_with("\n"));
  EXPECT_EQ(command.timeout, 2s);
  EXPECT_EQ(std::get<std::vector<std::string>>(command.program), std::vector<std::string>{"cat"});
  EXPECT_EQ(command.env.size(), 3u);
}

}  // namespace
}  // namespace certinbox::exec
