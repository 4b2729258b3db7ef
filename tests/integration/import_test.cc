// The whole path: a file dropped into the inbox -> SQLite -> an event on the bus -> `certinbox ls`.
#include <gtest/gtest.h>

#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Events = std::vector<json>;

constexpr int64_t kDay = 86400;

// Waits (bounded) until the inbox holds no file of that name: its import committed.
bool WaitGone(const fs::path& file) {
  return WaitUntil([&] { return !fs::exists(fs::symlink_status(file)); }, std::chrono::seconds(20),
                   std::chrono::milliseconds(20));
}

std::vector<std::string> Strings(const json& array) {
  std::vector<std::string> out;
  for (const auto& item : array) out.push_back(item.get<std::string>());
  return out;
}

// A leaf with fixed dates and several kinds of SAN, so the event can be checked field by field.
CertSpec WebSpec(int64_t now) {
  CertSpec spec = LeafSpec("www.example.test");
  spec.sans = {"DNS:www.example.test", "DNS:example.test", "IP:192.0.2.7"};
  spec.not_before = now - kDay;
  spec.not_after = now + 200 * kDay;
  return spec;
}

TEST(ImportTest, SeparateFilesInMixedOrderMeetInOneEntry) {
  int64_t now = NowUnix();
  TestPki pki = TestPki::Make(WebSpec(now));
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());

  // The key first: it waits, sealed, as an unmatched key.
  daemon.Drop("web.key", pki.leaf.KeyPem());
  ASSERT_TRUE(WaitGone(daemon.inbox() / "web.key"));
  json ls = daemon.LsJson();
  ASSERT_EQ(ls["unmatched_keys"].size(), 1u) << ls.dump(2);
  EXPECT_EQ(ls["unmatched_keys"][0]["spki_sha256"], pki.leaf.SpkiFingerprint());

  // The leaf meets its key; its issuer is not known yet.
  daemon.Drop("web.crt", pki.leaf.CertPem());
  const Events& events = daemon.WaitForEvents(HasEvents("cert.imported", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);
  json imported = daemon.EventsOfType("cert.imported")[0];
  const json& cert = imported["certificate"];
  EXPECT_EQ(cert["fingerprint_sha256"], pki.leaf.Fingerprint());
  EXPECT_EQ(cert["not_after"], Rfc3339(now + 200 * kDay));
  EXPECT_EQ(Strings(cert["sans"]),
            (std::vector<std::string>{"DNS:www.example.test", "DNS:example.test", "IP:192.0.2.7"}));
  EXPECT_EQ(Strings(imported["findings"]), std::vector<std::string>{"chain_incomplete"});
  EXPECT_EQ(imported["source"]["file"], "web.crt");
  EXPECT_TRUE(cert["has_private_key"].get<bool>());
  EXPECT_GT(imported["seq"].get<int64_t>(), 0);

  // The intermediate, then the root: the leaf's chain completes.
  daemon.Drop("intermediate.pem", pki.intermediate.CertPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 2));
  daemon.Drop("root.der", pki.root.CertDer());
  // `ls` rows are short: the chain is in `show`.
  auto shown_chain = [&] {
    auto shown = daemon.control().Request("show", {{"entry", "www.example.test"}});
    return shown ? (*shown)["entry"]["chain"] : json::array();
  };
  daemon.WaitForEvents([&](const Events&) { return shown_chain().size() == 2; });

  EXPECT_EQ(CountByFingerprint(daemon.EventsOfType("cert.imported"), pki.leaf.Fingerprint()), 1);
  ls = daemon.LsJson();
  json leaf = EntryByFingerprint(ls, pki.leaf.Fingerprint());
  ASSERT_FALSE(leaf.is_null()) << ls.dump(2);
  EXPECT_EQ(leaf["name"], "www.example.test");
  EXPECT_EQ(leaf["kind"], "leaf");
  EXPECT_EQ(leaf["not_after"], Rfc3339(now + 200 * kDay));
  EXPECT_EQ(Strings(shown_chain()),
            (std::vector<std::string>{pki.intermediate.Fingerprint(), pki.root.Fingerprint()}));
  EXPECT_EQ(Strings(leaf["findings"]), std::vector<std::string>{"untrusted_root"});
  EXPECT_TRUE(leaf["has_private_key"].get<bool>());
  EXPECT_EQ(ls["unmatched_keys"].size(), 0u);
  json root = EntryByFingerprint(ls, pki.root.Fingerprint());
  ASSERT_FALSE(root.is_null());
  EXPECT_EQ(root["kind"], "ca");
  EXPECT_EQ(ls["entries"].size(), 3u);
  EXPECT_TRUE(fs::is_empty(daemon.failed()));
  (void)events;
}

TEST(ImportTest, Pkcs12WithPasswordInSidecar) {
  int64_t now = NowUnix();
  TestPki pki = TestPki::Make(WebSpec(now));
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  // The sidecar first, then the file, as docs/inbox.md says.
  daemon.Drop("web.pfx.toml",
              "name = \"web-prod\"\npassword = \"s3cret pass\"\nlabels = [\"prod\", \"web\"]\n"
              "description = \"front door\"\n[metadata]\nowner = \"team-web\"\n");
  daemon.Drop("web.pfx", MakePkcs12(pki.leaf, {&pki.intermediate, &pki.root}, "s3cret pass",
                                    Pkcs12Cipher::kLegacy));
  daemon.WaitForEvents(HasEvents("cert.imported", 3));
  json imported = FindByFingerprint(daemon.EventsOfType("cert.imported"), pki.leaf.Fingerprint());
  ASSERT_FALSE(imported.is_null()) << daemon.log();
  EXPECT_EQ(imported["certificate"]["name"], "web-prod");
  EXPECT_EQ(Strings(imported["certificate"]["labels"]), (std::vector<std::string>{"prod", "web"}));
  EXPECT_EQ(Strings(imported["findings"]), std::vector<std::string>{"untrusted_root"});
  EXPECT_TRUE(imported["certificate"]["has_private_key"].get<bool>());

  json leaf = EntryByFingerprint(daemon.LsJson(), pki.leaf.Fingerprint());
  ASSERT_FALSE(leaf.is_null());
  EXPECT_EQ(leaf["name"], "web-prod");
  auto shown = daemon.Cli({"show", "web-prod", "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  json entry = json::parse(shown.out);
  EXPECT_EQ(entry["description"], "front door");
  EXPECT_EQ(entry["metadata"]["owner"], "team-web");
  // The certificate itself, as PEM, for piping into openssl or a file.
  auto pem = daemon.Cli({"show", "web-prod", "--pem"});
  ASSERT_EQ(pem.exit_code, 0) << pem.err;
  EXPECT_EQ(pem.out, pki.leaf.CertPem());
  // The file and its sidecar are gone: the key lives encrypted in the database now.
  EXPECT_TRUE(WaitGone(daemon.inbox() / "web.pfx"));
  EXPECT_TRUE(WaitGone(daemon.inbox() / "web.pfx.toml"));
}

TEST(ImportTest, DerCertificateAlone) {
  TestPki pki = TestPki::Make(WebSpec(NowUnix()));
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("cert.der", pki.leaf.CertDer());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  auto imported = daemon.EventsOfType("cert.imported");
  ASSERT_EQ(imported.size(), 1u);
  EXPECT_EQ(imported[0]["certificate"]["fingerprint_sha256"], pki.leaf.Fingerprint());
  EXPECT_EQ(Strings(imported[0]["findings"]),
            (std::vector<std::string>{"chain_incomplete", "no_private_key"}));
  EXPECT_EQ(daemon.LsJson()["entries"].size(), 1u);
}

TEST(ImportTest, Pkcs7Bundle) {
  TestPki pki = TestPki::Make(WebSpec(NowUnix()));
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("bundle.p7b", Pkcs7Der({&pki.root, &pki.leaf, &pki.intermediate}));
  daemon.WaitForEvents(HasEvents("cert.imported", 3));
  json imported = FindByFingerprint(daemon.EventsOfType("cert.imported"), pki.leaf.Fingerprint());
  ASSERT_FALSE(imported.is_null());
  EXPECT_EQ(Strings(imported["findings"]),
            (std::vector<std::string>{"no_private_key", "untrusted_root"}));
  EXPECT_EQ(Strings(imported["certificate"]["chain"]),
            (std::vector<std::string>{pki.intermediate.Fingerprint(), pki.root.Fingerprint()}));
  EXPECT_EQ(daemon.LsJson()["entries"].size(), 3u);
}

TEST(ImportTest, EncryptedPkcs8KeyWithItsPassword) {
  TestPki pki = TestPki::Make(WebSpec(NowUnix()));
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("api.toml", "password = \"correct horse\"\n");
  daemon.Drop("api.pem",
              pki.leaf.CertPem() + KeyEncryptedPkcs8Pem(pki.leaf.key.get(), "correct horse"));
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  auto imported = daemon.EventsOfType("cert.imported");
  ASSERT_EQ(imported.size(), 1u) << daemon.log();
  EXPECT_EQ(imported[0]["certificate"]["fingerprint_sha256"], pki.leaf.Fingerprint());
  EXPECT_TRUE(imported[0]["certificate"]["has_private_key"].get<bool>());
  EXPECT_EQ(Strings(imported[0]["findings"]), std::vector<std::string>{"chain_incomplete"});
}

TEST(ImportTest, BundleOfFiftyCertificates) {
  int64_t now = NowUnix();
  Issued ca = Issue(CaSpec("Bundle CA"));
  std::string pem;
  std::vector<std::string> fingerprints;
  for (int i = 0; i < 50; ++i) {
    CertSpec spec = LeafSpec("host" + std::to_string(i) + ".bundle.test");
    spec.not_after = now + (100 + i) * kDay;
    Issued leaf = Issue(spec, &ca);
    pem += leaf.CertPem();
    fingerprints.push_back(leaf.Fingerprint());
  }
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("fifty.pem", pem);
  daemon.WaitForEvents(HasEvents("cert.imported", 50));
  auto imported = daemon.EventsOfType("cert.imported");
  ASSERT_EQ(imported.size(), 50u);
  json ls = daemon.LsJson();
  ASSERT_EQ(ls["entries"].size(), 50u);
  for (int i = 0; i < 50; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(CountByFingerprint(imported, fingerprints[i]), 1);
    json entry = EntryByFingerprint(ls, fingerprints[i]);
    ASSERT_FALSE(entry.is_null());
    EXPECT_EQ(entry["name"], "host" + std::to_string(i) + ".bundle.test");
    EXPECT_EQ(entry["not_after"], Rfc3339(now + (100 + i) * kDay));
    EXPECT_EQ(Strings(entry["findings"]),
              (std::vector<std::string>{"chain_incomplete", "no_private_key"}));
  }
  // `ls --sort expiry` orders by not_after.
  auto sorted = daemon.Cli({"ls", "--json", "--sort", "expiry"});
  ASSERT_EQ(sorted.exit_code, 0);
  json by_expiry = json::parse(sorted.out)["entries"];
  ASSERT_EQ(by_expiry.size(), 50u);
  EXPECT_EQ(by_expiry[0]["fingerprint_sha256"], fingerprints[0]);
  EXPECT_EQ(by_expiry[49]["fingerprint_sha256"], fingerprints[49]);
}

TEST(ImportTest, SameCertificateTwiceIsOneVersion) {
  TestPki pki = TestPki::Make(WebSpec(NowUnix()));
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("a.pem", pki.leaf.CertPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  daemon.Drop("b.pem", pki.leaf.CertPem());
  ASSERT_TRUE(WaitGone(daemon.inbox() / "b.pem"));
  // Then its key: the entry is updated, not duplicated.
  daemon.Drop("b.key", pki.leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.updated", 1));
  EXPECT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);
  auto updated = daemon.EventsOfType("cert.updated");
  ASSERT_EQ(updated.size(), 1u);
  EXPECT_TRUE(updated[0]["certificate"]["has_private_key"].get<bool>());
  json ls = daemon.LsJson();
  ASSERT_EQ(ls["entries"].size(), 1u);
  EXPECT_EQ(ls["entries"][0]["version"], 1);
}

TEST(ImportTest, ReplayMatchesWhatWasPublished) {
  TestPki pki = TestPki::Make(WebSpec(NowUnix()));
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("leaf.pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
  daemon.Drop("junk.pem", "not a certificate\n");
  daemon.WaitForEvents([](const Events& events) { return events.size() >= 2; });
  auto replay = daemon.Cli({"events", "--since", "0", "--json"});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  std::vector<json> replayed;
  std::istringstream lines(replay.out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) replayed.push_back(json::parse(line));
  }
  ASSERT_EQ(replayed.size(), 2u) << replay.out;
  std::set<int64_t> published, stored;
  for (const auto& event : daemon.WaitForEvents([](const Events&) { return true; })) {
    published.insert(event["seq"].get<int64_t>());
  }
  for (const auto& event : replayed) stored.insert(event["seq"].get<int64_t>());
  EXPECT_EQ(published, stored);
}

}  // namespace
}  // namespace certinbox::testing
