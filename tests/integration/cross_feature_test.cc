// Where features meet, against the real daemon and the real CLI: a binding made with
// `certinbox bind` survives a renewal and a rollback (and export follows both); a sidecar's
// `bind` on a renewal; CSRs with [[binding]], the renewal matcher, rm, ls, status and events.
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <fstream>
#include <sstream>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/test_ca.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Events = std::vector<json>;

constexpr int64_t kDay = 86400;

std::string Describe(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

Issued LeafUntil(const std::string& cn, int64_t not_after) {
  CertSpec spec = LeafSpec(cn);
  spec.not_before = NowUnix() - 3600;
  spec.not_after = not_after;
  return Issue(spec);
}

json ShowJson(const DaemonHarness& daemon, const std::string& entry) {
  CommandResult shown = daemon.Cli({"show", entry, "--json"});
  EXPECT_EQ(shown.exit_code, 0) << Describe(shown);
  return json::parse(shown.out, nullptr, false);
}

json StatusJson(const DaemonHarness& daemon) {
  CommandResult status = daemon.Cli({"status", "--json"});
  EXPECT_EQ(status.exit_code, 0) << Describe(status);
  return json::parse(status.out, nullptr, false);
}

// `certinbox export ENTRY --key` into a fresh folder: {cert.pem, privkey.pem}.
std::pair<std::string, std::string> ExportWithKey(const DaemonHarness& daemon,
                                                  const std::string& entry,
                                                  const std::string& folder) {
  fs::path out = daemon.root() / folder;
  CommandResult exported = daemon.Cli({"export", entry, "--out", out.string(), "--key"});
  EXPECT_EQ(exported.exit_code, 0) << Describe(exported);
  return {ReadFile(out / "cert.pem"), ReadFile(out / "privkey.pem")};
}

bool KeyMatches(const std::string& cert_pem, const std::string& key_pem) {
  pipeline::BioPtr cert_bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  pipeline::X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  pipeline::BioPtr key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  pipeline::EvpPkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  return cert && key && X509_check_private_key(cert.get(), key.get()) == 1;
}

TEST(CrossFeatureTest, BindingSurvivesRenewalAndRollbackAndExportFollows) {
  DaemonHarness daemon({.extra_toml = "[[plugin]]\nname = \"deploy\"\ncommand = \"/bin/true\"\n"
                                      "enabled = false\n"});
  ASSERT_TRUE(daemon.Start());
  const int64_t now = NowUnix();
  Issued v1 = LeafUntil("web.example.test", now + 100 * kDay);
  daemon.Drop("web-1.pem", v1.CertPem() + v1.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();
  const int64_t id = daemon.EventsOfType("cert.imported")[0]["certificate"]["id"];

  CommandResult bound =
      daemon.Cli({"bind", "web.example.test", "lb-prod:443", "--plugin", "deploy"});
  ASSERT_EQ(bound.exit_code, 0) << Describe(bound);

  // The renewal: same CN and SANs, a new key, a later expiry.
  Issued v2 = LeafUntil("web.example.test", now + 300 * kDay);
  daemon.Drop("web-2.pem", v2.CertPem() + v2.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.renewed", 1));
  auto renewed = daemon.EventsOfType("cert.renewed");
  ASSERT_EQ(renewed.size(), 1u) << daemon.log();
  const json& certificate = renewed[0]["certificate"];
  EXPECT_EQ(certificate["id"], id);
  EXPECT_EQ(certificate["version"], 2);
  EXPECT_EQ(certificate["fingerprint_sha256"], v2.Fingerprint());
  EXPECT_EQ(certificate["bindings"],
            json::array({{{"resource", "lb-prod:443"}, {"plugin", "deploy"}}}));
  EXPECT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);  // not a new entry

  json shown = ShowJson(daemon, "web.example.test");
  EXPECT_EQ(shown["id"], id);
  EXPECT_EQ(shown["version"], 2);
  ASSERT_EQ(shown["bindings"].size(), 1u) << shown.dump(2);
  EXPECT_EQ(shown["bindings"][0]["resource"], "lb-prod:443");
  EXPECT_EQ(shown["bindings"][0]["plugin"], "deploy");
  EXPECT_EQ(shown["bindings"][0]["source"], "cli");

  // export: the new version, with its own key.
  auto [cert2, key2] = ExportWithKey(daemon, "web.example.test", "export-2");
  EXPECT_EQ(cert2, v2.CertPem());
  EXPECT_TRUE(KeyMatches(cert2, key2));

  // rollback: consumers follow, the binding stays.
  CommandResult rolled = daemon.Cli({"rollback", "web.example.test", "--to", "1"});
  ASSERT_EQ(rolled.exit_code, 0) << Describe(rolled);
  daemon.WaitForEvents(HasEvents("cert.renewed", 2));
  renewed = daemon.EventsOfType("cert.renewed");
  ASSERT_EQ(renewed.size(), 2u) << daemon.log();
  EXPECT_EQ(renewed[1]["rollback"], true);
  EXPECT_EQ(renewed[1]["certificate"]["id"], id);
  EXPECT_EQ(renewed[1]["certificate"]["version"], 1);
  EXPECT_EQ(renewed[1]["certificate"]["bindings"][0]["resource"], "lb-prod:443");
  EXPECT_EQ(renewed[1]["previous"]["version"], 2);
  shown = ShowJson(daemon, "web.example.test");
  EXPECT_EQ(shown["version"], 1);
  ASSERT_EQ(shown["bindings"].size(), 1u) << shown.dump(2);
  EXPECT_EQ(shown["bindings"][0]["resource"], "lb-prod:443");

  // export: the rolled-back version, with its key.
  auto [cert1, key1] = ExportWithKey(daemon, "web.example.test", "export-1");
  EXPECT_EQ(cert1, v1.CertPem());
  EXPECT_TRUE(KeyMatches(cert1, key1));
  EXPECT_FALSE(KeyMatches(cert1, key2));

  // Still bound, so rm refuses it.
  CommandResult rm = daemon.Cli({"rm", "web.example.test"});
  EXPECT_EQ(rm.exit_code, 1) << Describe(rm);
}

TEST(CrossFeatureTest, SidecarBindOnARenewalBindsTheRenewedEntry) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  const int64_t now = NowUnix();
  Issued v1 = LeafUntil("web.example.test", now + 100 * kDay);
  daemon.Drop("web.pem.toml", "name = \"web\"\n");
  daemon.Drop("web.pem", v1.CertPem() + v1.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));

  Issued v2 = LeafUntil("web.example.test", now + 300 * kDay);
  daemon.Drop("web-2.pem.toml", "name = \"web\"\nbind = [\"lb-prod:443\"]\n");
  daemon.Drop("web-2.pem", v2.CertPem() + v2.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.bound", 1));
  auto renewed = daemon.EventsOfType("cert.renewed");
  auto bound = daemon.EventsOfType("cert.bound");
  ASSERT_EQ(renewed.size(), 1u) << daemon.log();
  ASSERT_EQ(bound.size(), 1u) << daemon.log();
  EXPECT_GT(bound[0]["seq"].get<int64_t>(), renewed[0]["seq"].get<int64_t>());
  EXPECT_EQ(bound[0]["certificate"]["name"], "web");
  EXPECT_EQ(bound[0]["certificate"]["version"], 2);
  EXPECT_EQ(bound[0]["resource"], "lb-prod:443");
  json shown = ShowJson(daemon, "web");
  ASSERT_EQ(shown["bindings"].size(), 1u) << shown.dump(2);
  EXPECT_EQ(shown["bindings"][0]["source"], "sidecar");
  EXPECT_EQ(daemon.LsJson()["entries"].size(), 1u);
}

// [[binding]] for a name `csr create` makes: bound as soon as the CSR entry exists. The signed
// certificate, whose CN and SANs equal another entry's, activates the CSR's entry (matched by
// its key) instead of renewing that entry.
TEST(CrossFeatureTest, CsrWithDeclaredBindingActivatesInsteadOfRenewing) {
  DaemonHarness daemon(
      {.extra_toml = "\n[[binding]]\nentry = \"web-2027\"\nresource = \"lb-prod:443\"\n"});
  ASSERT_TRUE(daemon.Start());
  TestPki pki = TestPki::Make(LeafSpec("web.example.test"));
  daemon.Drop("chain.pem", CertsPem({&pki.intermediate, &pki.root}));
  daemon.Drop("web.pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 3));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 3u) << daemon.log();
  EXPECT_EQ(StatusJson(daemon)["binding_problems"].size(), 1u);

  CommandResult made =
      daemon.Cli({"csr", "create", "web-2027", "--cn", "web.example.test", "--key", "ec-p256"});
  ASSERT_EQ(made.exit_code, 0) << Describe(made);
  daemon.WaitForEvents(HasEvents("cert.bound", 1));
  auto bound = daemon.EventsOfType("cert.bound");
  ASSERT_EQ(bound.size(), 1u) << daemon.log();
  EXPECT_EQ(bound[0]["certificate"]["name"], "web-2027");
  EXPECT_EQ(bound[0]["certificate"]["status"], "pre_activation");
  EXPECT_EQ(bound[0]["resource"], "lb-prod:443");

  // ls --status pre_activation, status counts, events: the CSR entry and its binding.
  CommandResult pending = daemon.Cli({"ls", "--status", "pre_activation", "--json"});
  ASSERT_EQ(pending.exit_code, 0) << Describe(pending);
  json listed = json::parse(pending.out);
  ASSERT_EQ(listed["entries"].size(), 1u) << pending.out;
  EXPECT_EQ(listed["entries"][0]["name"], "web-2027");
  EXPECT_EQ(listed["entries"][0]["binding_count"], 1);  // an ls row counts; show names them
  EXPECT_TRUE(listed["unmatched_keys"].empty());
  CommandResult shown = daemon.Cli({"show", "web-2027", "--json"});
  ASSERT_EQ(shown.exit_code, 0) << Describe(shown);
  EXPECT_EQ(json::parse(shown.out)["bindings"][0]["resource"], "lb-prod:443");
  CommandResult table = daemon.Cli({"ls", "--status", "pre_activation"});
  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  EXPECT_NE(table.out.find("web-2027"), std::string::npos) << table.out;
  json status = StatusJson(daemon);
  EXPECT_EQ(status["counts"]["entries"], 4);
  EXPECT_EQ(status["counts"]["pre_activation"], 1);
  EXPECT_EQ(status["counts"]["valid"], 3);
  EXPECT_EQ(status["counts"]["unmatched_keys"], 0);
  EXPECT_TRUE(status["binding_problems"].empty()) << status.dump(2);
  CommandResult show = daemon.Cli({"show", "web-2027", "--versions"});
  ASSERT_EQ(show.exit_code, 0) << Describe(show);
  EXPECT_NE(show.out.find("pre_activation"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("lb-prod:443"), std::string::npos) << show.out;
  CommandResult events = daemon.Cli({"events", "--since", "0"});
  ASSERT_EQ(events.exit_code, 0) << Describe(events);
  EXPECT_NE(events.out.find("csr.created"), std::string::npos) << events.out;
  EXPECT_NE(events.out.find("bound to lb-prod:443"), std::string::npos) << events.out;

  // The CA signs it, same CN and SAN set as the entry web.example.test, later expiry.
  CertSpec spec = LeafSpec("web.example.test");
  spec.not_before = NowUnix() - 3600;
  spec.not_after = NowUnix() + 500 * kDay;
  Issued signed_cert = SignCsr(made.out, spec, pki.intermediate);
  daemon.Drop("web-2027.crt", signed_cert.CertPem());
  daemon.WaitForEvents(HasEvents("cert.activated", 1));
  auto activated = daemon.EventsOfType("cert.activated");
  ASSERT_EQ(activated.size(), 1u) << daemon.log();
  EXPECT_EQ(activated[0]["certificate"]["name"], "web-2027");
  EXPECT_EQ(activated[0]["certificate"]["fingerprint_sha256"], signed_cert.Fingerprint());
  EXPECT_EQ(activated[0]["certificate"]["bindings"][0]["resource"], "lb-prod:443");
  EXPECT_EQ(daemon.EventsOfType("cert.renewed").size(), 0u);
  EXPECT_EQ(ShowJson(daemon, "web.example.test")["version"], 1);
  EXPECT_EQ(ShowJson(daemon, "web-2027")["version"], 1);
  status = StatusJson(daemon);
  EXPECT_EQ(status["counts"]["pre_activation"], 0);
  EXPECT_EQ(status["counts"]["valid"], 4);
}

// rm of a CSR entry: pending (no version) or activated; the key goes with it.
TEST(CrossFeatureTest, RmOfCsrEntriesTakesTheirKeys) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  CommandResult made =
      daemon.Cli({"csr", "create", "api", "--cn", "api.example.test", "--key", "ec-p256"});
  ASSERT_EQ(made.exit_code, 0) << Describe(made);
  CommandResult other =
      daemon.Cli({"csr", "create", "www", "--cn", "www.example.test", "--key", "ec-p256"});
  ASSERT_EQ(other.exit_code, 0) << Describe(other);
  TestPki pki = TestPki::Make();
  Issued signed_cert = SignCsr(other.out, LeafSpec("www.example.test"), pki.intermediate);
  daemon.Drop("www.crt", signed_cert.CertPem());
  daemon.WaitForEvents(HasEvents("cert.activated", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.activated").size(), 1u) << daemon.log();

  CommandResult rm = daemon.Cli({"rm", "api", "www", "--json"});
  ASSERT_EQ(rm.exit_code, 0) << Describe(rm);
  json results = json::parse(rm.out, nullptr, false);
  EXPECT_EQ(results["deleted"], 2) << rm.out;
  daemon.WaitForEvents(HasEvents("cert.deleted", 2));
  auto deleted = daemon.EventsOfType("cert.deleted");
  ASSERT_EQ(deleted.size(), 2u) << daemon.log();
  EXPECT_EQ(deleted[0]["certificate"]["name"], "api");
  EXPECT_EQ(deleted[0]["certificate"]["status"], "pre_activation");
  EXPECT_EQ(deleted[0]["certificate"]["subject"], "CN=api.example.test");
  EXPECT_EQ(deleted[1]["certificate"]["name"], "www");
  EXPECT_EQ(deleted[1]["certificate"]["version"], 1);

  json ls = daemon.LsJson();
  EXPECT_TRUE(ls["entries"].empty()) << ls.dump(2);
  EXPECT_TRUE(ls["unmatched_keys"].empty()) << ls.dump(2);
  CommandResult table = daemon.Cli({"ls"});
  EXPECT_EQ(table.out.find("unmatched keys"), std::string::npos) << table.out;
  json status = StatusJson(daemon);
  EXPECT_EQ(status["counts"]["unmatched_keys"], 0);
  EXPECT_EQ(status["counts"]["pre_activation"], 0);
  CommandResult csr_show = daemon.Cli({"csr", "show", "api"});
  EXPECT_EQ(csr_show.exit_code, 1) << Describe(csr_show);
}

// With max_versions = 1, a bound CSR entry renewed with a new key: its version 1 (the CSR's key)
// is pruned without a foreign-key failure, the binding stays, the CSR's key stays with its CSR.
TEST(CrossFeatureTest, PruningABoundActivatedCsrEntry) {
  DaemonHarness daemon({.daemon_toml = "max_versions = 1\n"});
  ASSERT_TRUE(daemon.Start());
  CommandResult made =
      daemon.Cli({"csr", "create", "web", "--cn", "web.example.test", "--key", "ec-p256"});
  ASSERT_EQ(made.exit_code, 0) << Describe(made);
  ASSERT_EQ(daemon.Cli({"bind", "web", "lb-prod:443"}).exit_code, 0);
  TestPki pki = TestPki::Make();
  Issued signed_cert = SignCsr(made.out, LeafSpec("web.example.test"), pki.intermediate);
  daemon.Drop("web.crt", signed_cert.CertPem());
  daemon.WaitForEvents(HasEvents("cert.activated", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.activated").size(), 1u) << daemon.log();

  Issued renewal = LeafUntil("web.example.test", NowUnix() + 500 * kDay);
  daemon.Drop("web-2.pem", renewal.CertPem() + renewal.KeyPem());
  daemon.WaitForEvents([](const Events& events) {
    return CountOf(events, "cert.renewed") + CountOf(events, "import.rejected") >= 1;
  });
  EXPECT_TRUE(daemon.EventsOfType("import.rejected").empty()) << daemon.log();
  auto renewed = daemon.EventsOfType("cert.renewed");
  ASSERT_EQ(renewed.size(), 1u) << daemon.log();
  EXPECT_EQ(renewed[0]["certificate"]["name"], "web");
  EXPECT_EQ(renewed[0]["certificate"]["version"], 2);
  EXPECT_EQ(renewed[0]["certificate"]["bindings"][0]["resource"], "lb-prod:443");
  json shown = ShowJson(daemon, "web");
  ASSERT_EQ(shown["versions"].size(), 1u) << shown.dump(2);
  EXPECT_EQ(shown["versions"][0]["version"], 2);
  EXPECT_EQ(shown["bindings"][0]["resource"], "lb-prod:443");
  EXPECT_TRUE(daemon.LsJson()["unmatched_keys"].empty());
  CommandResult csr = daemon.Cli({"csr", "show", "web"});
  EXPECT_EQ(csr.exit_code, 0) << Describe(csr);
  auto [cert, key] = ExportWithKey(daemon, "web", "export");
  EXPECT_EQ(cert, renewal.CertPem());
  EXPECT_TRUE(KeyMatches(cert, key));
}

}  // namespace
}  // namespace certinbox::testing
