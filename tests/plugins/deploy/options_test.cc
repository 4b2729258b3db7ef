// certinbox-deploy's options and resource folder names.
#include "plugins/deploy/options.h"

#include <gtest/gtest.h>

namespace certinbox::deploy {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(DeployOptions, Defaults) {
  auto options = ParseOptions(json::object(), "/state/plugins/deploy");
  ASSERT_TRUE(options.has_value()) << options.error().message;
  EXPECT_EQ(options->dir, "/state/plugins/deploy");
  EXPECT_FALSE(options->reload.has_value());
  EXPECT_EQ(options->timeout, 60s);
  EXPECT_FALSE(options->remove_on_unbind);
  EXPECT_EQ(options->retry, 30s);
  EXPECT_EQ(options->max_retry, 600s);
  EXPECT_TRUE(options->resources.empty());

  auto resolved = Resolve(*options, "lb-prod:443");
  EXPECT_EQ(resolved.folder, "/state/plugins/deploy/lb-prod_443");
  EXPECT_FALSE(resolved.reload.has_value());
  EXPECT_EQ(resolved.timeout, 60s);
}

TEST(DeployOptions, EverythingAndPerResourceOverrides) {
  json options = json::parse(R"({
    "dir": "/etc/certinbox/live",
    "reload": "systemctl reload nginx",
    "timeout": "90s",
    "remove_on_unbind": true,
    "retry": "1s",
    "resources": {
      "web-nginx": {"dir": "/etc/nginx/certs/web", "reload": "nginx -s reload", "timeout": 5},
      "quiet": {"reload": ""},
      "argv": {"reload": ["/usr/sbin/nginx", "-s", "reload"]}
    }
  })");
  auto parsed = ParseOptions(options, "/unused");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->dir, "/etc/certinbox/live");
  EXPECT_TRUE(parsed->remove_on_unbind);
  EXPECT_EQ(parsed->retry, 1s);
  EXPECT_EQ(parsed->max_retry, 600s);

  auto web = Resolve(*parsed, "web-nginx");
  EXPECT_EQ(web.folder, "/etc/nginx/certs/web");
  ASSERT_TRUE(web.reload.has_value());
  EXPECT_EQ(std::get<std::string>(*web.reload), "nginx -s reload");
  EXPECT_EQ(web.timeout, 5s);

  auto quiet = Resolve(*parsed, "quiet");
  EXPECT_EQ(quiet.folder, "/etc/certinbox/live/quiet");
  EXPECT_FALSE(quiet.reload.has_value());
  EXPECT_EQ(quiet.timeout, 90s);

  auto argv = Resolve(*parsed, "argv");
  ASSERT_TRUE(argv.reload.has_value());
  EXPECT_EQ(std::get<std::vector<std::string>>(*argv.reload),
            (std::vector<std::string>{"/usr/sbin/nginx", "-s", "reload"}));
  EXPECT_EQ(Describe(*argv.reload), "/usr/sbin/nginx -s reload");

  auto other = Resolve(*parsed, "other");
  EXPECT_EQ(other.folder, "/etc/certinbox/live/other");
  EXPECT_EQ(std::get<std::string>(*other.reload), "systemctl reload nginx");
  EXPECT_EQ(other.timeout, 90s);
}

TEST(DeployOptions, BadOptionsNameTheOption) {
  struct Case {
    const char* options;
    const char* named;  // a part of the message
  };
  const Case cases[] = {
      {R"([1, 2])", "table"},
      {R"({"dri": "/x"})", "\"dri\""},
      {R"({"dir": ""})", "\"dir\""},
      {R"({"dir": 7})", "\"dir\""},
      {R"({"reload": 7})", "\"reload\""},
      {R"({"reload": []})", "\"reload\""},
      {R"({"reload": ["nginx", 1]})", "\"reload\""},
      {R"({"timeout": "soon"})", "\"timeout\""},
      {R"({"timeout": "0s"})", "\"timeout\""},
      {R"({"timeout": -1})", "\"timeout\""},
      {R"({"retry": "1 fortnight"})", "\"retry\""},
      {R"({"remove_on_unbind": "yes"})", "\"remove_on_unbind\""},
      {R"({"resources": []})", "\"resources\""},
      {R"({"resources": {"web": 1}})", "resources.\"web\""},
      {R"({"resources": {"web": {"folder": "/x"}}})", "resources.\"web\".\"folder\""},
      {R"({"resources": {"web": {"timeout": "x"}}})", "resources.\"web\".\"timeout\""},
  };
  for (const auto& c : cases) {
    auto parsed = ParseOptions(json::parse(c.options), "/d");
    ASSERT_FALSE(parsed.has_value()) << c.options;
    EXPECT_NE(parsed.error().message.find(c.named), std::string::npos)
        << c.options << " -> " << parsed.error().message;
  }
}

TEST(DeployOptions, WholeSecondsAsSignedOrUnsignedIntegers) {
  // The daemon converts TOML integers to signed JSON numbers; parsed JSON text gives unsigned.
  auto is_signed = ParseOptions(json{{"timeout", int64_t{7}}}, "/d");
  ASSERT_TRUE(is_signed.has_value()) << is_signed.error().message;
  EXPECT_EQ(is_signed->timeout, 7s);
  auto is_unsigned = ParseOptions(json::parse(R"({"timeout": 8})"), "/d");
  ASSERT_TRUE(is_unsigned.has_value()) << is_unsigned.error().message;
  EXPECT_EQ(is_unsigned->timeout, 8s);
  EXPECT_FALSE(ParseOptions(json{{"timeout", 1.5}}, "/d").has_value());
}

TEST(DeployOptions, LongRetryRaisesTheCap) {
  auto parsed = ParseOptions(json{{"retry", "20m"}}, "/d");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->max_retry, 20min);
}

TEST(FolderName, OnlySafeCharactersAndNeverOutsideDir) {
  const std::pair<std::string, std::string> cases[] = {
      {"web", "web"},
      {"web-nginx", "web-nginx"},
      {"lb-prod:443", "lb-prod_443"},
      {"lb-prod:443/rsa", "lb-prod_443_rsa"},
      {"Mail_Server.v2", "Mail_Server.v2"},
      {"../../etc", ".._.._etc"},
      {"a b\tc", "a_b_c"},
      {"h\xc3\xa9", "h__"},  // each byte of a UTF-8 character
      {".", "_"},
      {"..", "__"},
      {"", "_"},
  };
  for (const auto& [resource, folder] : cases) EXPECT_EQ(FolderName(resource), folder) << resource;
}

}  // namespace
}  // namespace certinbox::deploy
