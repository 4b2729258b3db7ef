// [http] in the config: the listen address, the token file, and the refusal of an address off
// loopback without a token.
#include <gtest/gtest.h>

#include <string>

#include "base/error.h"
#include "daemon/config.h"
#include "tests/testing/config_dir.h"
#include "tests/testing/files.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;

class ConfigHttpTest : public ::testing::Test {
 protected:
  base::Result<Config> Load(const std::string& text) { return LoadConfig(config_.Write(text)); }

  testing::ConfigDir config_;
  const fs::path dir_ = config_.dir();
};

TEST_F(ConfigHttpTest, OnByDefaultOnLoopback) {
  auto config = Load("");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->http.enabled());
  EXPECT_EQ(config->http.address, "127.0.0.1");
  EXPECT_EQ(config->http.port, 9793);
  EXPECT_TRUE(config->http.token.empty());
  EXPECT_FALSE(config->http.expires_in_seconds);
}

TEST_F(ConfigHttpTest, AnEmptyListenTurnsItOff) {
  auto config = Load("[http]\nlisten = \"\"\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->http.enabled());
}

TEST_F(ConfigHttpTest, AddressesAndTheToken) {
  testing::WriteFile(dir_ / "token", "abc-123\n");
  auto config = Load(
      "[http]\nlisten = \"0.0.0.0:8080\"\ntoken_file = \"token\"\n"
      "expires_in_seconds = true\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->http.address, "0.0.0.0");
  EXPECT_EQ(config->http.port, 8080);
  EXPECT_EQ(config->http.token, "abc-123");  // the line end is not part of it
  EXPECT_TRUE(config->http.expires_in_seconds);

  config = Load("[http]\nlisten = \"[::1]:9000\"\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->http.address, "::1");
  config = Load("[http]\nlisten = \"localhost:9000\"\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->http.address, "127.0.0.1");
}

TEST_F(ConfigHttpTest, OffLoopbackWithoutATokenIsRefused) {
  for (const char* listen : {"0.0.0.0:9793", "192.0.2.1:80", "[::]:9793", "[2001:db8::1]:1"}) {
    auto config = Load(std::string("[http]\nlisten = \"") + listen + "\"\n");
    ASSERT_FALSE(config) << listen;
    EXPECT_EQ(config.error().code, "config_invalid");
    EXPECT_NE(config.error().message.find("is reachable from other hosts: give a token_file"),
              std::string::npos)
        << config.error().message;
    EXPECT_NE(config.error().message.find(":2:"), std::string::npos) << config.error().message;
  }
}

TEST_F(ConfigHttpTest, BadValuesAreRefused) {
  testing::WriteFile(dir_ / "empty", "\n");
  testing::WriteFile(dir_ / "two", "a b\n");
  for (const char* text : {
           "[http]\nlisten = \"127.0.0.1\"\n",
           "[http]\nlisten = \"127.0.0.1:99999\"\n",
           "[http]\nlisten = \"example.com:80\"\n",
           "[http]\nlisten = 9793\n",
           "[http]\ntoken_file = \"missing\"\n",
           "[http]\ntoken_file = \"empty\"\n",
           "[http]\ntoken_file = \"two\"\n",
           "[http]\nlisten_on = \"127.0.0.1:1\"\n",
       }) {
    auto config = Load(text);
    EXPECT_FALSE(config) << text;
  }
}

TEST_F(ConfigHttpTest, AReloadKeepsTheListenerAndSaysARestartIsRequired) {
  auto running = Load("[http]\nlisten = \"127.0.0.1:9000\"\n");
  auto next = Load("[http]\nlisten = \"127.0.0.1:9001\"\nexpires_in_seconds = true\n");
  ASSERT_TRUE(running && next);
  ConfigChanges changes = DiffConfig(*running, *next);
  EXPECT_EQ(changes.restart_required,
            (std::vector<std::string>{"http.listen: 127.0.0.1:9000 -> 127.0.0.1:9001"}));
  EXPECT_EQ(changes.applied, (std::vector<std::string>{"http.expires_in_seconds: 0 -> 1"}));
  Config applied = ApplicableConfig(*running, *next);
  EXPECT_EQ(applied.http.port, 9000);
  EXPECT_TRUE(applied.http.expires_in_seconds);
}

}  // namespace
}  // namespace certinbox::daemon
