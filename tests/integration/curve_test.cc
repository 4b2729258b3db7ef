// tcp:// endpoints with CURVE, over real sockets on 127.0.0.1: only [[bus.client]] keys get in,
// each with its role (docs/protocol.md "Authentication").
#include "plugins/sdk/curve.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/files.h"
#include "tests/testing/test_ca.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;

// A port nobody listens on now (the kernel's choice for port 0).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), size);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

struct KeyPair {
  std::string public_key, secret_key;
  static KeyPair Make() {
    char p[41] = {}, s[41] = {};
    EXPECT_EQ(zmq_curve_keypair(p, s), 0);
    return {p, s};
  }
};

void WriteFile(const fs::path& file, const std::string& text, mode_t mode) {
  std::ofstream(file) << text << "\n";
  ::chmod(file.c_str(), mode);
}

class CurveTest : public ::testing::Test {
 protected:
  CurveTest() {
    control_ = "tcp://127.0.0.1:" + std::to_string(FreePort());
    publish_ = "tcp://127.0.0.1:" + std::to_string(FreePort());
  }

  sdk::CurveKeys KeysOf(const KeyPair& client) const {
    sdk::CurveKeys keys;
    keys.server_public = server_.public_key;
    keys.public_key = client.public_key;
    keys.secret_key = client.secret_key;
    return keys;
  }

  // A daemon on tcp:// whose allowlist is ops (admin), reader (read) and backup (keys); the
  // harness itself speaks as ops. The server's key pair is written before the start, as a
  // daemon that made it on an earlier start would find it.
  std::unique_ptr<DaemonHarness> StartDaemon() {
    auto client = [](const char* name, const KeyPair& key, const char* role) {
      return std::string("[[bus.client]]\nname = \"") + name + "\"\npublic_key = \"" +
             key.public_key + "\"\nrole = \"" + role + "\"\n";
    };
    HarnessOptions options;
    options.bus_toml = "control = \"" + control_ + "\"\npublish = \"" + publish_ + "\"\n";
    options.extra_toml = client("ops", ops_, "admin") + client("reader", reader_, "read") +
                         client("backup", backup_, "keys");
    options.control_endpoint = control_;
    options.publish_endpoint = publish_;
    options.curve = KeysOf(ops_);
    auto daemon = std::make_unique<DaemonHarness>(options);
    fs::create_directories(daemon->state());
    WriteFile(daemon->state() / "curve_server.key", server_.secret_key, 0600);
    WriteFile(daemon->state() / "curve_server.pub", server_.public_key, 0644);
    WriteFile(daemon->root() / "ops.key", ops_.secret_key, 0600);
    WriteFile(daemon->root() / "reader.key", reader_.secret_key, 0600);
    WriteFile(daemon->root() / "server.pub", server_.public_key, 0644);
    if (!daemon->Start()) return nullptr;
    return daemon;
  }

  // Drops a certificate with its key and waits for it to be imported.
  void ImportWeb(DaemonHarness& daemon) {
    TestPki pki = TestPki::Make(LeafSpec("web.curve.test"));
    daemon.Drop("web.pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
    daemon.WaitForEvents([](const std::vector<json>& events) {
      for (const auto& e : events) {
        if (e.value("type", "") == "cert.imported") return true;
      }
      return false;
    });
    ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();
  }

  std::string control_, publish_;
  KeyPair server_ = KeyPair::Make(), ops_ = KeyPair::Make(), reader_ = KeyPair::Make(),
          backup_ = KeyPair::Make(), stranger_ = KeyPair::Make();
};

TEST_F(CurveTest, AnUnknownKeyOrNoCurveGetsNoReplyAndNoEvents) {
  auto daemon = StartDaemon();
  ASSERT_TRUE(daemon);
  zmq::context_t context(1);

  sdk::ControlClient stranger(context, control_);
  stranger.SetCurve(KeysOf(stranger_));
  auto reply = stranger.Request("status", {}, milliseconds(1500));
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, "unreachable");

  sdk::ControlClient plain(context, control_);  // no CURVE at all
  reply = plain.Request("ls", {}, milliseconds(1500));
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, "unreachable");

  // Subscribers: one with an unknown key, one without CURVE, both connected before the event.
  sdk::Subscriber stranger_events(context);
  stranger_events.SetCurve(KeysOf(stranger_));
  stranger_events.Connect(publish_);
  sdk::Subscriber plain_events(context, publish_);
  ImportWeb(*daemon);  // the harness's own (allowed) subscriber got it
  EXPECT_FALSE(stranger_events.Receive(milliseconds(500)));
  EXPECT_FALSE(plain_events.Receive(milliseconds(100)));

  // Refused and logged, once per key however often it tries.
  sdk::ControlClient again(context, control_);
  again.SetCurve(KeysOf(stranger_));
  EXPECT_FALSE(again.Request("status", {}, milliseconds(500)));
  std::string log = daemon->log();
  size_t first = log.find("unknown CURVE key " + stranger_.public_key);
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("unknown CURVE key " + stranger_.public_key, first + 1), std::string::npos)
      << log;
  // The clients without CURVE never reach ZAP: their failed handshakes are counted and logged.
  EXPECT_NE(log.find("CURVE handshake failed"), std::string::npos) << log;
}

TEST_F(CurveTest, EachRoleMayAskOnlyItsOps) {
  auto daemon = StartDaemon();
  ASSERT_TRUE(daemon);
  ImportWeb(*daemon);
  zmq::context_t context(1);
  sdk::ControlClient reader(context, control_), backup(context, control_);
  reader.SetCurve(KeysOf(reader_));
  backup.SetCurve(KeysOf(backup_));
  sdk::ControlClient& ops = daemon->control();

  struct Case {
    sdk::ControlClient* client;
    std::string who, op;
    json args;
    std::string code;  // "" = allowed
  };
  const std::vector<Case> cases = {
      {&reader, "read", "ls", json::object(), ""},
      {&reader, "read", "show", {{"entry", "web.curve.test"}}, ""},
      {&reader, "read", "export", {{"entry", "web.curve.test"}}, ""},  // certificates only
      {&reader, "read", "rm", {{"entries", {"web.curve.test"}}}, "forbidden"},
      {&reader, "read", "meta", {{"entry", "web.curve.test"}, {"set", {{"a", "b"}}}}, "forbidden"},
      {&reader, "read", "export", {{"entry", "web.curve.test"}, {"key", true}}, "forbidden"},
      {&reader, "read", "plugin.env", {{"plugin", "x"}}, "forbidden"},
      {&ops, "admin", "export", {{"entry", "web.curve.test"}, {"key", true}}, "forbidden"},
      {&ops,
       "admin",
       "export",
       {{"entry", "web.curve.test"}, {"pfx", true}, {"password", "pw"}},
       "forbidden"},
      {&ops, "admin", "meta", {{"entry", "web.curve.test"}, {"set", {{"a", "b"}}}}, ""},
      {&backup, "keys", "rm", {{"entries", {"web.curve.test"}}}, "forbidden"},
      {&backup, "keys", "export", {{"entry", "web.curve.test"}, {"key", true}}, ""},
  };
  for (const Case& c : cases) {
    auto reply = c.client->Request(c.op, c.args, milliseconds(5000));
    if (c.code.empty()) {
      EXPECT_TRUE(reply) << c.who << " " << c.op << ": " << reply.error().code << " "
                         << reply.error().message;
    } else {
      ASSERT_FALSE(reply) << c.who << " " << c.op << " " << c.args.dump();
      EXPECT_EQ(reply.error().code, c.code) << c.who << " " << c.op;
    }
  }
  // Only the keys client got the key, and the audit says who asked.
  auto exported = backup.Request("export", {{"entry", "web.curve.test"}, {"key", true}});
  ASSERT_TRUE(exported);
  EXPECT_NE(exported->value("key_pem", "").find("PRIVATE KEY"), std::string::npos);
  auto shown = reader.Request("show", {{"entry", "web.curve.test"}});
  ASSERT_TRUE(shown);
  bool by_backup = false;
  for (const auto& row : (*shown)["entry"]["key_exports"]) {
    if (row.dump().find("by curve:backup") != std::string::npos) by_backup = true;
  }
  EXPECT_TRUE(by_backup) << (*shown)["entry"]["key_exports"].dump();
  EXPECT_NE(daemon->log().find("control meta web.curve.test asked by curve:ops"), std::string::npos)
      << daemon->log();
  // The change's event says who made it; the import's, made by nobody's request, does not.
  daemon->WaitForEvents([](const std::vector<json>& events) {
    for (const auto& e : events) {
      if (e.value("type", "") == "cert.updated") return true;
    }
    return false;
  });
  auto updated = daemon->EventsOfType("cert.updated");
  ASSERT_EQ(updated.size(), 1u);
  EXPECT_EQ(updated[0].value("by", ""), "curve:ops");
  EXPECT_FALSE(daemon->EventsOfType("cert.imported").at(0).contains("by"));
}

TEST_F(CurveTest, AReloadAppliesTheClientListToNewAndOpenConnections) {
  auto daemon = StartDaemon();
  ASSERT_TRUE(daemon);
  // An event seen first: the harness's CURVE subscriber is joined, so config.reloaded cannot be
  // published before its subscription arrives (PUB drops what no subscriber has asked for yet).
  ImportWeb(*daemon);
  zmq::context_t context(1);
  sdk::ControlClient reader(context, control_), newcomer(context, control_);
  reader.SetCurve(KeysOf(reader_));
  newcomer.SetCurve(KeysOf(stranger_));
  ASSERT_TRUE(reader.Request("status", {}, milliseconds(5000)));  // connected as `reader`

  // The reader leaves the list; the stranger joins it as admin.
  std::string config;
  {
    std::ifstream in(daemon->config_file());
    config.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string reader_table = "[[bus.client]]\nname = \"reader\"\npublic_key = \"" +
                                   reader_.public_key + "\"\nrole = \"read\"\n";
  size_t at = config.find(reader_table);
  ASSERT_NE(at, std::string::npos);
  config.replace(at, reader_table.size(),
                 "[[bus.client]]\nname = \"newcomer\"\npublic_key = \"" + stranger_.public_key +
                     "\"\nrole = \"admin\"\n");
  // Renamed into place: the daemon watches the file and must not read half of it.
  ReplaceFile(daemon->config_file(), config);
  daemon->Signal(SIGHUP);
  daemon->WaitForEvents([](const std::vector<json>& events) {
    for (const auto& e : events) {
      if (e.value("type", "") == "config.reloaded") return true;
    }
    return false;
  });
  ASSERT_EQ(daemon->EventsOfType("config.reloaded").size(), 1u) << daemon->log();

  auto welcomed = newcomer.Request("status", {}, milliseconds(5000));
  ASSERT_TRUE(welcomed) << welcomed.error().message;
  EXPECT_EQ((*welcomed)["curve"]["server_public_key"], server_.public_key);
  EXPECT_EQ((*welcomed)["curve"]["clients"], 3);
  // The reader's connection is still open, but its name has no role any more.
  auto removed = reader.Request("status", {}, milliseconds(5000));
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, "forbidden");
}

TEST_F(CurveTest, TheCliWorksOverTcpWithItsKeyPair) {
  auto daemon = StartDaemon();
  ASSERT_TRUE(daemon);
  ImportWeb(*daemon);
  const std::string ops_key = (daemon->root() / "ops.key").string();
  const std::string reader_key = (daemon->root() / "reader.key").string();
  const std::string server_pub = (daemon->root() / "server.pub").string();

  CommandResult ls =
      daemon->Cli({"--curve-key", ops_key, "--server-key", server_pub, "ls", "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("web.curve.test"), std::string::npos);

  // The server key found through the daemon's config (STATE_DIR/curve_server.pub).
  CommandResult status = RunCommand({CERTINBOX_CLI_BIN, "--config", daemon->config_file().string(),
                                     "--curve-key", ops_key, "status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;

  CommandResult rm =
      daemon->Cli({"--curve-key", reader_key, "--server-key", server_pub, "rm", "web.curve.test"});
  EXPECT_EQ(rm.exit_code, 1) << rm.out;
  EXPECT_NE(rm.err.find("(forbidden)"), std::string::npos) << rm.err;

  // No key: a usage error at once, not a wait.
  CommandResult none = daemon->Cli({"ls"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("--curve-key"), std::string::npos) << none.err;

  // A key pair made by keygen is refused until the operator adds it.
  CommandResult keygen = RunCommand(
      {CERTINBOX_CLI_BIN, "keygen", "--out", daemon->root().string(), "--name", "laptop"});
  ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
  EXPECT_NE(keygen.out.find("[[bus.client]]"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((daemon->root() / "laptop.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  CommandResult refused = daemon->Cli({"--curve-key", (daemon->root() / "laptop.key").string(),
                                       "--server-key", server_pub, "--timeout", "1000", "status"});
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
}

}  // namespace
}  // namespace certinbox::testing

namespace certinbox::testing {
namespace {

// [bus] ipc_users narrows the ipc:// sockets past their file mode: a process whose group may
// open the socket file but whose user is not listed gets nothing.
TEST(IpcAccessTest, OnlyListedUsersConnectPastTheFileMode) {
  if (::geteuid() != 0 || ::access("/usr/bin/setpriv", X_OK) != 0) {
    GTEST_SKIP() << "needs root and setpriv to connect as other users";
  }
  HarnessOptions options;
  options.bus_toml = "ipc_users = [\"nobody\"]\n";
  DaemonHarness daemon(options);
  ::chmod(daemon.root().c_str(), 0755);  // mkdtemp's 0700 would stop them at the door
  ASSERT_TRUE(daemon.Start());           // the harness is root: always admitted
  // Both in the socket file's group (root, mode 0660): the file mode lets both connect.
  auto as = [&](const char* uid) {
    return RunCommand({"/usr/bin/setpriv", std::string("--reuid=") + uid, "--regid=0",
                       "--clear-groups", CERTINBOX_CLI_BIN, "--control", daemon.control_endpoint(),
                       "--timeout", "1500", "status", "--json"});
  };
  CommandResult listed = as("nobody");
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  CommandResult other = as("daemon");
  EXPECT_EQ(other.exit_code, 3) << other.out << other.err;  // no reply at all
}

}  // namespace
}  // namespace certinbox::testing
