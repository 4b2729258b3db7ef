// Bad input: every bad file ends in failed/ beside its reason, with an import.rejected event,
// and the daemon keeps running.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <random>
#include <set>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/test_ca.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct BadInput {
  std::string file;
  std::string reason;
  std::function<void(DaemonHarness&)> drop;
};

std::string RandomBytes(size_t n) {
  std::mt19937 random(42);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(random() & 0xff);
  return out;
}

TEST(BadInputTest, EachBadFileEndsInFailedWithItsReason) {
  TestPki pki = TestPki::Make();
  Issued stranger = Issue(LeafSpec("stranger.test"));
  CertSpec expired_spec = LeafSpec("expired.test");
  expired_spec.not_before = NowUnix() - 100 * 86400;
  expired_spec.not_after = NowUnix() - 86400;
  Issued expired = Issue(expired_spec);
  std::string cert_pem = pki.leaf.CertPem();

  std::vector<BadInput> table = {
      {"random.bin", "unrecognized_format",
       [](DaemonHarness& d) { d.Drop("random.bin", RandomBytes(4096)); }},
      {"truncated.pem", "malformed_pem",
       [&](DaemonHarness& d) { d.Drop("truncated.pem", cert_pem.substr(0, cert_pem.size() / 2)); }},
      {"empty.pem", "empty_file", [](DaemonHarness& d) { d.Drop("empty.pem", ""); }},
      {"unknown-password.p12", "pkcs12_bad_password",
       [&](DaemonHarness& d) {
         d.Drop("unknown-password.p12", MakePkcs12(pki.leaf, {}, "nobody knows this"));
       }},
      {"encrypted.key", "key_password_required",
       [&](DaemonHarness& d) {
         d.Drop("encrypted.key", KeyEncryptedPkcs8Pem(pki.leaf.key.get(), "secret"));
       }},
      {"mismatch.pem", "key_mismatch",
       [&](DaemonHarness& d) { d.Drop("mismatch.pem", pki.leaf.CertPem() + stranger.KeyPem()); }},
      {"request.csr", "unsupported_object",
       [](DaemonHarness& d) { d.Drop("request.csr", MakeCsr().Pem()); }},
      {"expired.pem", "expired",
       [&](DaemonHarness& d) { d.Drop("expired.pem", expired.CertPem() + expired.KeyPem()); }},
      {"link.pem", "symlink",
       [](DaemonHarness& d) {
         fs::path outside = d.root() / "outside.pem";
         std::ofstream(outside) << "outside the inbox\n";
         fs::create_symlink(outside, d.inbox() / "link.pem");
       }},
      {"pipe.pem", "not_regular_file",
       [](DaemonHarness& d) { ASSERT_EQ(::mkfifo((d.inbox() / "pipe.pem").c_str(), 0600), 0); }},
      {"huge.pem", "file_too_large",
       [](DaemonHarness& d) { d.Drop("huge.pem", std::string(5 << 20, 'A')); }},
  };

  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  for (const auto& input : table) input.drop(daemon);

  daemon.WaitForEvents([&](const std::vector<json>&) {
    return daemon.EventsOfType("import.rejected").size() >= table.size();
  });
  std::map<std::string, json> rejected;
  for (const auto& event : daemon.EventsOfType("import.rejected")) {
    rejected[event["source"]["file"].get<std::string>()] = event;
  }
  for (const auto& input : table) {
    SCOPED_TRACE(input.file);
    ASSERT_TRUE(rejected.contains(input.file)) << daemon.log();
    EXPECT_EQ(rejected[input.file]["reason"], input.reason);
    EXPECT_FALSE(rejected[input.file]["message"].get<std::string>().empty());
    // In failed/, untouched, beside its reason; gone from the inbox.
    EXPECT_TRUE(fs::exists(fs::symlink_status(daemon.failed() / input.file)));
    EXPECT_FALSE(fs::exists(fs::symlink_status(daemon.inbox() / input.file)));
    std::ifstream error_file(daemon.failed() / (input.file + ".error.json"));
    ASSERT_TRUE(error_file.good());
    json error = json::parse(error_file);
    EXPECT_EQ(error["reason"], input.reason);
  }
  EXPECT_EQ(rejected.size(), table.size());
  // The symlink was moved, not followed: its target is untouched and still outside.
  EXPECT_TRUE(fs::is_symlink(daemon.failed() / "link.pem"));
  EXPECT_TRUE(fs::exists(daemon.root() / "outside.pem"));
  EXPECT_EQ(fs::file_size(daemon.failed() / "huge.pem"), 5u << 20);

  // Still running, and nothing was stored.
  auto status = daemon.control().Request("status");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ((*status)["counts"]["entries"], 0);
  EXPECT_EQ((*status)["counts"]["rejections"], static_cast<int>(table.size()));
  TestPki good = TestPki::Make();
  daemon.Drop("good.pem", good.leaf.CertPem() + good.leaf.KeyPem());
  daemon.WaitForEvents(
      [&](const std::vector<json>&) { return !daemon.EventsOfType("cert.imported").empty(); });
  EXPECT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);
}

// Finding: a rejected file whose name left no room for ".error.json" stayed in the inbox and
// was parsed again at every start. It goes to failed/ under a shortened name (a prefix, "~", 8
// hex digits of the SHA-256 of the name, its extension); its reason keeps the name it had.
TEST(BadInputTest, ALongNameEndsInFailedUnderAShortenedName) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  const std::string name = std::string(246, 'a') + ".pem";  // 250 bytes
  const std::string shortened = std::string(226, 'a') + "~5b75cefe.pem";
  daemon.Drop(name, "garbage, not a certificate\n");
  daemon.WaitForEvents(HasEvents("import.rejected"));
  auto rejected = daemon.EventsOfType("import.rejected");
  ASSERT_EQ(rejected.size(), 1u) << daemon.log();
  EXPECT_EQ(rejected[0]["source"]["file"], name);
  EXPECT_EQ(rejected[0]["reason"], "unrecognized_format");
  auto names_in = [](const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
    return names;
  };
  EXPECT_EQ(names_in(daemon.failed()),
            (std::set<std::string>{shortened, shortened + ".error.json"}));
  json error = json::parse(std::ifstream(daemon.failed() / (shortened + ".error.json")));
  EXPECT_EQ(error["file"], name);
  EXPECT_EQ(error["reason"], "unrecognized_format");
  EXPECT_EQ(names_in(daemon.inbox()), std::set<std::string>{"failed"});
}

TEST(BadInputTest, ExpiredIsImportedWhereTheInboxAcceptsIt) {
  CertSpec spec = LeafSpec("old.test");
  spec.not_before = NowUnix() - 100 * 86400;
  spec.not_after = NowUnix() - 86400;
  Issued old = Issue(spec);
  DaemonHarness daemon({.accept_expired = true});
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("old.pem", old.CertPem() + old.KeyPem());
  daemon.WaitForEvents([&](const std::vector<json>& events) { return !events.empty(); });
  auto imported = daemon.EventsOfType("cert.imported");
  ASSERT_EQ(imported.size(), 1u) << daemon.log();
  auto findings = imported[0]["findings"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(findings.begin(), findings.end(), "expired"), findings.end());
  EXPECT_EQ(imported[0]["certificate"]["status"], "expired");
}

TEST(BadInputTest, BadSidecarIsARejectionWithItsLine) {
  TestPki pki = TestPki::Make();
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("web.toml", "name = \"web\"\ncolour = \"blue\"\n");
  daemon.Drop("web.pem", pki.leaf.CertPem());
  daemon.WaitForEvents([&](const std::vector<json>& events) { return !events.empty(); });
  auto rejected = daemon.EventsOfType("import.rejected");
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0]["reason"], "bad_sidecar");
  EXPECT_NE(rejected[0]["message"].get<std::string>().find("web.toml:2:1"), std::string::npos)
      << rejected[0]["message"];
  EXPECT_TRUE(fs::exists(daemon.failed() / "web.pem"));
  // The sidecar goes with it, named after the file so that each failed file keeps its own.
  EXPECT_TRUE(fs::exists(daemon.failed() / "web.pem.toml"));
  EXPECT_FALSE(fs::exists(daemon.inbox() / "web.toml"));
}

}  // namespace
}  // namespace certinbox::testing
