// [bus] over tcp://: only with CURVE clients ([[bus.client]]), checked at config load.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "base/error.h"
#include "daemon/config.h"
#include "tests/testing/config_dir.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;

// A valid CURVE public key (ZeroMQ's test vector) and another.
constexpr const char* kKeyA = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
constexpr const char* kKeyB = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";

class ConfigCurveTest : public ::testing::Test {
 protected:
  base::Result<Config> Load(const std::string& text) { return LoadConfig(config_.Write(text)); }
  void Fragment(const std::string& name, const std::string& text) {
    config_.WriteFragment(name, text);
  }

  testing::ConfigDir config_;
  const fs::path dir_ = config_.dir();
};

std::string Client(const std::string& name, const std::string& key, const std::string& role) {
  return "[[bus.client]]\nname = \"" + name + "\"\npublic_key = \"" + key + "\"\nrole = \"" + role +
         "\"\n";
}

TEST_F(ConfigCurveTest, TcpEndpointsWithClientsAreAccepted) {
  auto config = Load("[bus]\ncontrol = \"tcp://127.0.0.1:5557\"\npublish = \"tcp://*:5556\"\n" +
                     Client("ops", kKeyA, "admin") + Client("backup", kKeyB, "keys") +
                     "[[plugin]]\nname = \"deploy\"\ncommand = \"/bin/true\"\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->control_endpoint, "tcp://127.0.0.1:5557");
  ASSERT_EQ(config->clients.size(), 2u);
  EXPECT_EQ(config->clients[0], (BusClient{"ops", kKeyA, "admin"}));
  EXPECT_EQ(config->clients[1], (BusClient{"backup", kKeyB, "keys"}));
}

TEST_F(ConfigCurveTest, IpcUsersAndGroupsAreResolvedAtLoad) {
  auto config = Load("[bus]\nipc_users = [\"root\"]\nipc_groups = [\"root\"]\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->ipc_uids, std::vector<uint32_t>{0});
  EXPECT_EQ(config->ipc_gids, std::vector<uint32_t>{0});
}

TEST_F(ConfigCurveTest, AFragmentAddsClients) {
  // A configuration-management tool owns one fragment per client.
  Fragment("50-ops.toml", Client("ops", kKeyA, "read"));
  Fragment("60-deploy.toml", Client("deployer", kKeyB, "plugin:deploy"));
  auto config = Load(
      "[bus]\ncontrol = \"tcp://127.0.0.1:5557\"\n[[plugin]]\nname = \"deploy\"\n"
      "command = \"/bin/true\"\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  ASSERT_EQ(config->clients.size(), 2u);
  EXPECT_EQ(config->clients[0].name, "ops");
  EXPECT_EQ(config->clients[1].role, "plugin:deploy");
}

struct BadBus {
  std::string text;
  std::string where;  // "LINE:COLUMN"
  std::string words;
};
void PrintTo(const BadBus& bad, std::ostream* out) { *out << ::testing::PrintToString(bad.text); }

class BadBusTest : public ConfigCurveTest, public ::testing::WithParamInterface<BadBus> {};

// Each is config_invalid, at its place, with a clear reason.
TEST_P(BadBusTest, IsRefused) {
  auto config = Load(GetParam().text + "[[plugin]]\nname = \"deploy\"\ncommand = \"/bin/true\"\n");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, "config_invalid");
  const std::string where = (dir_ / "certinbox.toml").string() + ":" + GetParam().where + ":";
  EXPECT_NE(config.error().message.find(where), std::string::npos) << config.error().message;
  EXPECT_NE(config.error().message.find(GetParam().words), std::string::npos)
      << config.error().message;
}

const std::string kTcp = "[bus]\ncontrol = \"tcp://127.0.0.1:5557\"\n";

INSTANTIATE_TEST_SUITE_P(
    Table, BadBusTest,
    ::testing::Values(
        // Accepted before with no authentication at all.
        BadBus{"[bus]\npublish = \"tcp://127.0.0.1:5556\"\n", "2:11", "needs CURVE"},
        BadBus{"[bus]\ncontrol = \"tcp://0.0.0.0:5557\"\n", "2:11", "needs CURVE"},
        BadBus{kTcp + Client("ops", "not-a-key", "read"), "5:14", "CURVE public key"},
        BadBus{kTcp + Client("ops", std::string(kKeyA).substr(1), "read"), "5:14",
               "CURVE public key"},
        BadBus{kTcp + Client("ops", kKeyA, "root"), "6:8", "'role' must be"},
        BadBus{kTcp + Client("ops", kKeyA, "plugin:nope"), "6:8", "names no [[plugin]]"},
        BadBus{kTcp + Client("a b", kKeyA, "read"), "4:8", "'name' must be"},
        BadBus{kTcp + Client("ops", kKeyA, "read") + Client("ops", kKeyB, "read"), "8:8",
               "two [[bus.client]]s are named 'ops'"},
        BadBus{kTcp + Client("a", kKeyA, "read") + Client("b", kKeyA, "read"), "9:14",
               "given to two"},
        BadBus{kTcp + "[[bus.client]]\nname = \"ops\"\nrole = \"read\"\n", "3:1",
               "needs a 'public_key'"},
        BadBus{kTcp + Client("ops", kKeyA, "read") + "colour = \"red\"\n", "7:1",
               "unknown key 'colour'"},
        BadBus{"[bus]\nipc_users = [\"no-such-user-cbx\"]\n", "2:13", "no such user"},
        BadBus{"[bus]\nipc_groups = [\"no-such-group-cbx\"]\n", "2:14", "no such group"}));

}  // namespace
}  // namespace certinbox::daemon
