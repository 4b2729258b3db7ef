// Confined paths and names against the real daemon: a dropper who can write an inbox cannot make
// certinboxd change or read a file outside it (hard links, a sidecar's password_file), and every
// name a sidecar or a request gives follows the one rule (pipeline/names.h).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/test_ca.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

unsigned ModeOf(const fs::path& file) {
  struct stat st {};
  EXPECT_EQ(::lstat(file.c_str(), &st), 0) << file;
  return st.st_mode & 07777;
}

void WriteAll(const fs::path& file, const std::string& bytes, unsigned mode) {
  std::ofstream(file, std::ios::binary) << bytes;
  ASSERT_EQ(::chmod(file.c_str(), mode), 0);
}

std::map<std::string, json> RejectedByFile(const DaemonHarness& daemon) {
  std::map<std::string, json> rejected;
  for (const auto& event : daemon.EventsOfType("import.rejected")) {
    rejected[event["source"]["file"].get<std::string>()] = event;
  }
  return rejected;
}

// Finding: with archive = true a hard link to a file elsewhere was imported and chmodded to 0600
// (and a hard-linked sidecar read). Now both are refused as hard_link, moved to failed/ (a rename
// inside the inbox), and the files outside keep their mode and bytes.
TEST(ConfineTest, HardLinksAreRefusedAndTheirOtherNamesKeepTheirMode) {
  TestPki pki = TestPki::Make();
  DaemonHarness daemon({.archive = true});
  ASSERT_TRUE(daemon.Start());
  const std::string pem = pki.leaf.CertPem() + pki.leaf.KeyPem();
  const fs::path victim = daemon.root() / "victim.pem";
  WriteAll(victim, pem, 0644);
  const fs::path victim_toml = daemon.root() / "victim.toml";
  WriteAll(victim_toml, "name = \"linked\"\n", 0644);

  ASSERT_EQ(::link(victim_toml.c_str(), (daemon.inbox() / "side.pem.toml").c_str()), 0);
  TestPki other = TestPki::Make();
  daemon.Drop("side.pem", other.leaf.CertPem() + other.leaf.KeyPem());
  ASSERT_EQ(::link(victim.c_str(), (daemon.inbox() / "linked.pem").c_str()), 0);

  daemon.WaitForEvents(
      [&](const std::vector<json>&) { return daemon.EventsOfType("import.rejected").size() >= 2; });
  auto rejected = RejectedByFile(daemon);
  for (const char* file : {"linked.pem", "side.pem"}) {
    SCOPED_TRACE(file);
    ASSERT_TRUE(rejected.contains(file)) << daemon.log();
    EXPECT_EQ(rejected[file]["reason"], "hard_link");
    EXPECT_TRUE(fs::exists(daemon.failed() / file));
    EXPECT_TRUE(fs::exists(daemon.failed() / (std::string(file) + ".error.json")));
  }
  EXPECT_TRUE(daemon.EventsOfType("cert.imported").empty());
  EXPECT_EQ(ModeOf(victim), 0644u);
  EXPECT_EQ(ReadFile(victim), pem);
  EXPECT_EQ(ModeOf(victim_toml), 0644u);
  EXPECT_EQ(ReadFile(victim_toml), "name = \"linked\"\n");
}

// Finding: password_file = "/etc/shadow" in a sidecar made the root daemon read any file. Now
// it may only name a hidden file (".NAME") directly in the inbox, opened without following a
// link and with one link only; anything else is bad_sidecar before anything outside is opened.
TEST(ConfineTest, ASidecarPasswordFileIsAHiddenFileInTheInboxOnly) {
  TestPki pki = TestPki::Make();
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  const std::string password = "a line of a root-only file";
  const fs::path secret = daemon.root() / "secret.pw";
  WriteAll(secret, "first\n" + password + "\nthird\n", 0600);
  std::ofstream(daemon.inbox() / ".web.pw") << password << "\n";
  fs::create_symlink(secret, daemon.inbox() / ".link.pw");
  ASSERT_EQ(::link(secret.c_str(), (daemon.inbox() / ".hard.pw").c_str()), 0);

  struct Case {
    std::string password_file;  // as written in the sidecar (a TOML basic string)
    std::string reason;         // "" for imported
  };
  const std::vector<Case> table = {
      {".web.pw", ""},
      {secret.string(), "bad_sidecar"},
      {"../secret.pw", "bad_sidecar"},
      {"/nonexistent/secret.pw", "bad_sidecar"},
      {"inbox/.web.pw", "bad_sidecar"},
      {"web.pw", "bad_sidecar"},  // not hidden: it would be taken for a drop itself
      {".", "bad_sidecar"},
      {"..", "bad_sidecar"},
      {".link.pw", "bad_sidecar"},
      {".hard.pw", "bad_sidecar"},
      {".missing.pw", "bad_sidecar"},
  };
  const std::string p12 = MakePkcs12(pki.leaf, {}, password);
  for (size_t i = 0; i < table.size(); ++i) {
    const std::string file = "p" + std::to_string(i) + ".p12";
    daemon.Drop(file + ".toml", "password_file = \"" + table[i].password_file + "\"\n");
    daemon.Drop(file, p12);
  }
  daemon.WaitForEvents([&](const std::vector<json>&) {
    return daemon.EventsOfType("import.rejected").size() +
               daemon.EventsOfType("cert.imported").size() >=
           table.size();
  });
  auto rejected = RejectedByFile(daemon);
  for (size_t i = 0; i < table.size(); ++i) {
    const std::string file = "p" + std::to_string(i) + ".p12";
    SCOPED_TRACE(file + " password_file = " + table[i].password_file);
    if (table[i].reason.empty()) {
      EXPECT_FALSE(rejected.contains(file)) << rejected[file].dump();
      continue;
    }
    ASSERT_TRUE(rejected.contains(file)) << daemon.log();
    EXPECT_EQ(rejected[file]["reason"], table[i].reason);
    // Nothing about a file outside the inbox: not whether it exists, not how many lines it has.
    const std::string message = rejected[file]["message"].get<std::string>();
    EXPECT_EQ(message.find("No such file"), std::string::npos) << message;
    EXPECT_EQ(message.find("candidate"), std::string::npos) << message;
  }
  EXPECT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);
  EXPECT_EQ(ModeOf(secret), 0600u);
}

// Finding: sidecar names and groups took "../../etc", control characters, 60,000 bytes and "/".
TEST(ConfineTest, SidecarNamesFollowTheOneRule) {
  TestPki pki = TestPki::Make();
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  struct Case {
    std::string sidecar;
    std::string reason;  // "" for imported
  };
  const std::vector<Case> table = {
      {"name = \"../../etc\"", "bad_sidecar"},
      {"name = \"a/b\"", "bad_sidecar"},
      {"group = \"a/b\"", "bad_sidecar"},
      {"name = \"..\"", "bad_sidecar"},
      {"name = \".\"", "bad_sidecar"},
      {"name = \"red\\u001b[31m\"", "bad_sidecar"},
      {"name = \"forged\\r\\nrow\"", "bad_sidecar"},
      {"name = \"nul\\u0000byte\"", "bad_sidecar"},
      {"name = \"c1\\u009bx\"", "bad_sidecar"},
      {"name = \"" + std::string(256, 'n') + "\"", "bad_sidecar"},
      {"group = \"" + std::string(60000, 'g') + "\"", "bad_sidecar"},
      {"labels = [\"ok\", \"bell\\u0007\"]", "bad_sidecar"},
      {"name = \"caf\u00e9 \u2713\"\ngroup = \"web \u00e9\"\nlabels = [\"a/b\"]", ""},
  };
  for (size_t i = 0; i < table.size(); ++i) {
    const std::string file = "n" + std::to_string(i) + ".pem";
    daemon.Drop(file + ".toml", table[i].sidecar + "\n");
    daemon.Drop(file, pki.leaf.CertPem() + pki.leaf.KeyPem());
  }
  daemon.WaitForEvents([&](const std::vector<json>&) {
    return daemon.EventsOfType("import.rejected").size() +
               daemon.EventsOfType("cert.imported").size() >=
           table.size();
  });
  auto rejected = RejectedByFile(daemon);
  for (size_t i = 0; i < table.size(); ++i) {
    const std::string file = "n" + std::to_string(i) + ".pem";
    SCOPED_TRACE(file + ": " + table[i].sidecar.substr(0, 80));
    if (table[i].reason.empty()) {
      EXPECT_FALSE(rejected.contains(file)) << rejected[file].dump();
    } else {
      ASSERT_TRUE(rejected.contains(file)) << daemon.log();
      EXPECT_EQ(rejected[file]["reason"], table[i].reason);
    }
  }
  auto imported = daemon.EventsOfType("cert.imported");
  ASSERT_EQ(imported.size(), 1u);
  EXPECT_EQ(imported[0]["certificate"]["name"], "caf\u00e9 \u2713");
}

// Finding: a sidecar's `group` and `name` let a drop in any inbox renew any entry, whichever
// inbox fed it (its bindings follow, so a deploy plugin pushed the dropper's certificate). An
// inbox with `groups` takes only those: a drop naming another group is group_not_allowed, and
// the entry keeps its version. A reload that changes `groups` applies to the next drop.
TEST(ConfineTest, AnInboxWithGroupsRenewsNoEntryOfAnotherGroup) {
  DaemonHarness daemon({
      .extra_inbox_toml = "group = \"shared\"\ngroups = [\"shared\"]\n",
      .extra_toml = "[[inbox]]\npath = \"prod\"\nname = \"prod\"\ngroup = \"prod\"\n"
                    "settle_ms = 100\nrescan_interval = \"2s\"\n",
  });
  ASSERT_TRUE(daemon.Start());
  const int64_t now = NowUnix();
  auto leaf_until = [&](int64_t not_after) {
    CertSpec spec = LeafSpec("web.groups.test");
    spec.not_before = now - 3600;
    spec.not_after = not_after;
    return Issue(spec);
  };
  auto drop_in = [](const fs::path& dir, const std::string& name, const std::string& bytes) {
    WriteAll(dir / ("." + name + ".tmp"), bytes, 0644);
    fs::rename(dir / ("." + name + ".tmp"), dir / name);
  };
  Issued v1 = leaf_until(now + 100 * 86400);
  drop_in(daemon.root() / "prod", "web.toml", "name = \"web\"\n");
  drop_in(daemon.root() / "prod", "web.pem", v1.CertPem() + v1.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported"));
  auto imported = daemon.EventsOfType("cert.imported");
  ASSERT_EQ(imported.size(), 1u) << daemon.log();
  EXPECT_EQ(imported[0]["certificate"]["group"], "prod");

  // The same name, a later expiry: a renewal, were the group allowed here.
  Issued v2 = leaf_until(now + 400 * 86400);
  const std::string sidecar = "group = \"prod\"\nname = \"web\"\n";
  daemon.Drop("web.toml", sidecar);
  daemon.Drop("web.pem", v2.CertPem() + v2.KeyPem());
  daemon.WaitForEvents(HasEvents("import.rejected"));
  auto rejected = RejectedByFile(daemon);
  ASSERT_TRUE(rejected.contains("web.pem")) << daemon.log();
  EXPECT_EQ(rejected["web.pem"]["reason"], "group_not_allowed");
  json error = json::parse(ReadFile(daemon.failed() / "web.pem.error.json"));
  EXPECT_EQ(error["reason"], "group_not_allowed");
  EXPECT_TRUE(fs::exists(daemon.failed() / "web.pem.toml"));
  EXPECT_TRUE(daemon.EventsOfType("cert.renewed").empty());
  json shown = json::parse(daemon.Cli({"show", "prod/web", "--json"}).out);
  EXPECT_EQ(shown["version"], 1);
  EXPECT_EQ(shown["fingerprint_sha256"], v1.Fingerprint());

  std::string config = ReadFile(daemon.config_file());
  const std::string narrow = "groups = [\"shared\"]";
  ASSERT_NE(config.find(narrow), std::string::npos);
  config.replace(config.find(narrow), narrow.size(), "groups = [\"shared\", \"prod\"]");
  daemon.ReplaceConfig(config);
  daemon.Signal(SIGHUP);
  daemon.WaitForEvents(HasEvents("config.reloaded"));
  daemon.Drop("web2.toml", sidecar);
  daemon.Drop("web2.pem", v2.CertPem() + v2.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.renewed"));
  auto renewed = daemon.EventsOfType("cert.renewed");
  ASSERT_EQ(renewed.size(), 1u) << daemon.log();
  EXPECT_EQ(renewed[0]["certificate"]["id"], imported[0]["certificate"]["id"]);
  EXPECT_EQ(renewed[0]["certificate"]["fingerprint_sha256"], v2.Fingerprint());
}

// The same rule where a request names an entry: csr create NAME/--group/--label and meta labels.
TEST(ConfineTest, RequestNamesFollowTheOneRule) {
  TestPki pki = TestPki::Make();
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  struct Case {
    json args;
    std::string code;
  };
  const std::vector<Case> table = {
      {{{"name", "a/b"}}, "bad_name"},
      {{{"name", "red\x1b[31m"}}, "bad_name"},
      {{{"name", "forged\r\nrow"}}, "bad_name"},
      {{{"name", ".."}}, "bad_name"},
      {{{"name", std::string(256, 'n')}}, "bad_name"},
      {{{"name", "ok"}, {"group", "a/b"}}, "bad_name"},
      {{{"name", "ok"}, {"labels", {"tab\there"}}}, "bad_name"},
  };
  for (const Case& c : table) {
    SCOPED_TRACE(c.args.dump());
    json args = c.args;
    args["cn"] = "named.test";
    args["key"] = "ec-p256";
    auto reply = daemon.control().Request("csr.create", args);
    ASSERT_FALSE(reply.has_value()) << reply->dump();
    EXPECT_EQ(reply.error().code, c.code);
  }
  daemon.Drop("web.pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
  daemon.WaitForEvents(
      [&](const std::vector<json>&) { return !daemon.EventsOfType("cert.imported").empty(); });
  const std::string name = daemon.EventsOfType("cert.imported")[0]["certificate"]["name"];
  auto meta = daemon.control().Request("meta", {{"entry", name}, {"add_labels", {"esc\x1b]0;x"}}});
  ASSERT_FALSE(meta.has_value());
  EXPECT_EQ(meta.error().code, "bad_name");
  auto bind = daemon.control().Request("bind", {{"entry", name}, {"resource", "bad\nresource"}});
  ASSERT_FALSE(bind.has_value());
  EXPECT_EQ(bind.error().code, "bad_resource");
  auto status = daemon.control().Request("status");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ((*status)["counts"]["entries"], 1);
}

// Finding: file names with newlines or escapes went raw into the log (forged lines), and a name
// that is not UTF-8 was recorded lossily, so the .error.json no longer named the file beside it.
TEST(ConfineTest, FileNamesAreEscapedInTheLogAndExactInTheErrorJson) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  const std::vector<std::string> names = {"bad\xff\xfe.pem", "x\n2026-01-01 [error] FORGED.pem",
                                          "esc\x1b]0;title\x07.pem"};
  for (const std::string& name : names) daemon.Drop(name, "not a certificate");
  daemon.WaitForEvents([&](const std::vector<json>&) {
    return daemon.EventsOfType("import.rejected").size() >= names.size();
  });
  ASSERT_EQ(daemon.EventsOfType("import.rejected").size(), names.size()) << daemon.log();
  auto hex = [](const std::string& bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) out += std::string{kHex[c >> 4], kHex[c & 0xF]};
    return out;
  };
  for (const std::string& name : names) {
    SCOPED_TRACE(hex(name));
    ASSERT_TRUE(fs::exists(daemon.failed() / name));
    json error = json::parse(ReadFile(daemon.failed() / (name + ".error.json")));
    EXPECT_EQ(error["file_hex"], hex(name));
    EXPECT_EQ(error["reason"], "unrecognized_format");
  }
  const std::string log = daemon.log();
  EXPECT_NE(log.find("x\\n2026-01-01 [error] FORGED.pem"), std::string::npos) << log;  // escaped
  EXPECT_EQ(log.find("\n2026-01-01 [error] FORGED"), std::string::npos) << log;
  EXPECT_EQ(log.find('\x1b'), std::string::npos);
  EXPECT_EQ(log.find("\xff\xfe"), std::string::npos);
}

}  // namespace
}  // namespace certinbox::testing
