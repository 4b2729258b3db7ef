// [[binding]] in the config: read into Config::bindings, refused with FILE:LINE:COLUMN when wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "base/error.h"
#include "daemon/config.h"
#include "tests/testing/config_dir.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;

class ConfigBindingsTest : public ::testing::Test {
 protected:
  base::Result<Config> Load(const std::string& text) { return LoadConfig(config_.Write(text)); }
  fs::path file() const { return config_.file(); }

  testing::ConfigDir config_;
  const fs::path dir_ = config_.dir();
};

TEST_F(ConfigBindingsTest, DeclaredBindingsAreRead) {
  auto config = Load(R"(
[[plugin]]
name = "deploy"
command = "/bin/true"
enabled = false

[[binding]]
entry = "web"
resource = "lb-prod:443"
plugin = "deploy"

[[binding]]
entry = "prod/api"
resource = "lb-prod:8443"
)");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->bindings.size(), 2u);
  EXPECT_EQ(config->bindings[0].entry, "web");
  EXPECT_EQ(config->bindings[0].resource, "lb-prod:443");
  EXPECT_EQ(config->bindings[0].plugin, "deploy");
  EXPECT_EQ(config->bindings[1].entry, "prod/api");
  EXPECT_EQ(config->bindings[1].resource, "lb-prod:8443");
  EXPECT_FALSE(config->bindings[1].plugin);
}

TEST_F(ConfigBindingsTest, NoBindingsIsNoBindings) {
  auto config = Load("[daemon]\nstate_dir = \"s\"\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->bindings.empty());
}

TEST_F(ConfigBindingsTest, WrongBindingsAreRefusedWithTheirPosition) {
  struct Case {
    std::string text, where, words;
  };
  const std::vector<Case> cases = {
      {"[[binding]]\nentry = \"web\"\nresource = \"r:1\"\nport = 443\n", "4:1",
       "unknown key 'port' in [[binding]]"},
      {"[[binding]]\nentry = \"web\"\n", "1:1", "needs a 'resource'"},
      {"[[binding]]\nresource = \"r:1\"\n", "1:1", "needs an 'entry'"},
      {"[[binding]]\nentry = \"web\"\nresource = 443\n", "3:12", "must be a string"},
      {"[[binding]]\nentry = \"web\"\nresource = \"r:1 \"\n", "3:12", "space"},
      {"[[binding]]\nentry = \"a\"\nresource = \"r:1\"\n[[binding]]\nentry = \"b\"\n"
       "resource = \"r:1\"\n",
       "6:12", "declared twice"},
      {"[binding]\nentry = \"a\"\n", "1:1", "array of tables"},
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
