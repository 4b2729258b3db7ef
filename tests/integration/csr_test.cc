// The CSR round trip against the real daemon and CLI: csr create -> csr.created on the bus ->
// pre_activation -> restart -> the CA signs the CSR -> the certificate alone is dropped ->
// cert.activated -> export with the key, checked with OpenSSL; and the key export switch.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <sys/stat.h>

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

pipeline::X509Ptr ReadCert(const std::string& pem) {
  pipeline::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return pipeline::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

pipeline::EvpPkeyPtr ReadKey(const std::string& pem) {
  pipeline::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return pipeline::EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

unsigned ModeOf(const fs::path& file) {
  struct stat st {};
  ::stat(file.c_str(), &st);
  return st.st_mode & 0777;
}

std::string Describe(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

TEST(CsrTest, RoundTripCreateRestartSignDropActivateExport) {
  TestPki pki = TestPki::Make();
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());

  // 1. The CSR: RSA-2048 by default, the CN also a DNS SAN.
  CommandResult made = daemon.Cli({"csr", "create", "web", "--cn", "web.example", "--san",
                                   "DNS:www.web.example", "--label", "frontend"});
  ASSERT_EQ(made.exit_code, 0) << Describe(made);
  const std::string csr_pem = made.out;
  ASSERT_TRUE(csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----")) << csr_pem;
  daemon.WaitForEvents(HasEvents("csr.created", 1));
  auto created = daemon.EventsOfType("csr.created");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0]["csr_pem"], csr_pem);
  EXPECT_EQ(created[0]["certificate"]["status"], "pre_activation");
  EXPECT_EQ(created[0]["certificate"]["key_algorithm"], "RSA");
  EXPECT_EQ(created[0]["certificate"]["key_bits"], 2048);
  EXPECT_EQ(created[0]["certificate"]["sans"],
            json::array({"DNS:web.example", "DNS:www.web.example"}));

  CommandResult pending = daemon.Cli({"ls", "--status", "pre_activation", "--json"});
  ASSERT_EQ(pending.exit_code, 0) << Describe(pending);
  json listed = json::parse(pending.out);
  ASSERT_EQ(listed["entries"].size(), 1u) << pending.out;
  EXPECT_EQ(listed["entries"][0]["name"], "web");
  EXPECT_TRUE(listed["unmatched_keys"].empty());  // the CSR's key is not "unmatched"
  CommandResult shown = daemon.Cli({"csr", "show", "web"});
  ASSERT_EQ(shown.exit_code, 0) << Describe(shown);
  EXPECT_EQ(shown.out, csr_pem);
  // `show --pem` of the entry before its certificate arrives prints the request.
  CommandResult shown_pem = daemon.Cli({"show", "web", "--pem"});
  ASSERT_EQ(shown_pem.exit_code, 0) << Describe(shown_pem);
  EXPECT_EQ(shown_pem.out, csr_pem);
  CommandResult early = daemon.Cli({"export", "web", "--out", (daemon.root() / "early").string()});
  EXPECT_EQ(early.exit_code, 1) << Describe(early);
  EXPECT_NE(early.err.find("not_activated"), std::string::npos) << early.err;

  // 2. The CSR is saved: a restart later, the CA's answer arrives.
  daemon.Stop(SIGTERM);
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("chain.pem", CertsPem({&pki.intermediate, &pki.root}));
  daemon.WaitForEvents(HasEvents("cert.imported", 2));
  CertSpec spec = LeafSpec("web.example");
  spec.sans = {"DNS:web.example", "DNS:www.web.example"};
  Issued signed_cert = SignCsr(csr_pem, spec, pki.intermediate);
  daemon.Drop("web.crt", signed_cert.CertPem());  // the certificate alone, no key
  daemon.WaitForEvents(HasEvents("cert.activated", 1));
  auto activated = daemon.EventsOfType("cert.activated");
  ASSERT_EQ(activated.size(), 1u) << daemon.log();
  const json& cert = activated[0]["certificate"];
  EXPECT_EQ(cert["name"], "web");
  EXPECT_EQ(cert["id"], created[0]["certificate"]["id"]);
  EXPECT_EQ(cert["version"], 1);
  EXPECT_EQ(cert["fingerprint_sha256"], signed_cert.Fingerprint());
  EXPECT_EQ(cert["has_private_key"], true);
  EXPECT_EQ(cert["labels"], json::array({"frontend"}));
  EXPECT_NE(cert["status"], "pre_activation");
  for (const auto& event : daemon.EventsOfType("cert.imported")) {
    EXPECT_NE(event["certificate"]["fingerprint_sha256"], signed_cert.Fingerprint());
  }
  json ls = daemon.LsJson();
  ASSERT_EQ(ls["entries"].size(), 3u) << ls.dump(2);  // web, intermediate, root
  EXPECT_EQ(daemon.Cli({"show", "web", "--pem"}).out, signed_cert.CertPem());  // no longer the CSR

  // 3. Export with the key: OpenSSL says key and certificate match.
  fs::path out = daemon.root() / "export";
  CommandResult exported = daemon.Cli({"export", "web", "--out", out.string(), "--key"});
  ASSERT_EQ(exported.exit_code, 0) << Describe(exported);
  const std::string cert_pem = ReadFile(out / "cert.pem");
  const std::string chain_pem = ReadFile(out / "chain.pem");
  EXPECT_EQ(cert_pem, signed_cert.CertPem());
  EXPECT_EQ(chain_pem, pki.intermediate.CertPem());  // issuer first, no root
  EXPECT_EQ(ReadFile(out / "fullchain.pem"), cert_pem + chain_pem);
  ASSERT_TRUE(fs::exists(out / "privkey.pem"));
  EXPECT_EQ(ModeOf(out / "privkey.pem"), 0600u);
  pipeline::X509Ptr x509 = ReadCert(cert_pem);
  pipeline::EvpPkeyPtr key = ReadKey(ReadFile(out / "privkey.pem"));
  ASSERT_TRUE(x509);
  ASSERT_TRUE(key);
  EXPECT_EQ(X509_check_private_key(x509.get(), key.get()), 1);
  // Not replaced without --force, and the refusal hands out no key.
  CommandResult again = daemon.Cli({"export", "web", "--out", out.string(), "--key"});
  EXPECT_EQ(again.exit_code, 2) << Describe(again);

  // 4. Without --key there is no key file.
  fs::path public_only = daemon.root() / "public";
  CommandResult plain = daemon.Cli({"export", "web", "--out", public_only.string(), "--chain"});
  ASSERT_EQ(plain.exit_code, 0) << Describe(plain);
  EXPECT_TRUE(fs::exists(public_only / "fullchain.pem"));
  EXPECT_FALSE(fs::exists(public_only / "privkey.pem"));

  // 5. PKCS#12 with a password from a file.
  fs::path password_file = daemon.root() / "p12.pass";
  std::ofstream(password_file) << "correct horse\nignored second line\n";
  fs::path pfx_dir = daemon.root() / "pfx";
  CommandResult pfx = daemon.Cli({"export", "web", "--out", pfx_dir.string(), "--pfx",
                                  "--password-file", password_file.string()});
  ASSERT_EQ(pfx.exit_code, 0) << Describe(pfx);
  ASSERT_TRUE(fs::exists(pfx_dir / "web.p12"));
  EXPECT_EQ(ModeOf(pfx_dir / "web.p12"), 0600u);
  std::string p12_der = ReadFile(pfx_dir / "web.p12");
  const unsigned char* p = reinterpret_cast<const unsigned char*>(p12_der.data());
  pipeline::Pkcs12Ptr p12(d2i_PKCS12(nullptr, &p, static_cast<long>(p12_der.size())));
  ASSERT_TRUE(p12);
  EXPECT_EQ(PKCS12_verify_mac(p12.get(), "wrong", -1), 0);
  EVP_PKEY* p12_key = nullptr;
  X509* p12_cert = nullptr;
  STACK_OF(X509)* p12_ca = nullptr;
  ASSERT_EQ(PKCS12_parse(p12.get(), "correct horse", &p12_key, &p12_cert, &p12_ca), 1);
  EXPECT_EQ(X509_cmp(p12_cert, x509.get()), 0);
  EXPECT_EQ(X509_check_private_key(p12_cert, p12_key), 1);
  EXPECT_EQ(sk_X509_num(p12_ca), 1);
  EVP_PKEY_free(p12_key);
  X509_free(p12_cert);
  sk_X509_pop_free(p12_ca, X509_free);

  // 6. Both key exports are in the audit log.
  CommandResult audit = daemon.Cli({"show", "web", "--json"});
  ASSERT_EQ(audit.exit_code, 0) << Describe(audit);
  json exports = json::parse(audit.out)["key_exports"];
  ASSERT_EQ(exports.size(), 2u) << exports.dump(2);
  EXPECT_EQ(exports[0]["what"], "key");
  EXPECT_EQ(exports[0]["outcome"], "exported");
  EXPECT_EQ(exports[1]["what"], "pkcs12");
  EXPECT_EQ(exports[1]["outcome"], "exported");
}

TEST(CsrTest, BadCsrInputAndTakenNamesAreRefused) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  CommandResult bad_ip =
      daemon.Cli({"csr", "create", "x", "--cn", "x.example", "--san", "IP:300.1.2.3"});
  EXPECT_EQ(bad_ip.exit_code, 1) << Describe(bad_ip);
  EXPECT_NE(bad_ip.err.find("csr_bad_san"), std::string::npos) << bad_ip.err;
  CommandResult bad_type = daemon.Cli({"csr", "create", "x", "--cn", "x.example", "--key", "dsa"});
  EXPECT_EQ(bad_type.exit_code, 2) << Describe(bad_type);  // refused by the CLI's parser
  CommandResult ok = daemon.Cli({"csr", "create", "x", "--cn", "x.example", "--key", "ec-p256"});
  ASSERT_EQ(ok.exit_code, 0) << Describe(ok);
  CommandResult taken = daemon.Cli({"csr", "create", "x", "--cn", "y.example", "--key", "ec-p256"});
  EXPECT_EQ(taken.exit_code, 1) << Describe(taken);
  EXPECT_NE(taken.err.find("name_taken"), std::string::npos) << taken.err;
  CommandResult status = daemon.Cli({"status", "--json"});
  ASSERT_EQ(status.exit_code, 0);
  EXPECT_EQ(json::parse(status.out)["counts"]["pre_activation"], 1);
}

TEST(CsrTest, KeyExportRefusedWhenTheConfigTurnsItOff) {
  TestPki pki = TestPki::Make();
  DaemonHarness daemon({.bus_toml = "allow_key_export = false"});
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("leaf.pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);
  const std::string name = daemon.EventsOfType("cert.imported")[0]["certificate"]["name"];

  fs::path out = daemon.root() / "export";
  CommandResult refused = daemon.Cli({"export", name, "--out", out.string(), "--key"});
  EXPECT_EQ(refused.exit_code, 1) << Describe(refused);
  EXPECT_NE(refused.err.find("key_export_disabled"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(out / "privkey.pem"));
  fs::path password_file = daemon.root() / "p12.pass";
  std::ofstream(password_file) << "pw\n";
  CommandResult pfx = daemon.Cli(
      {"export", name, "--out", out.string(), "--pfx", "--password-file", password_file.string()});
  EXPECT_EQ(pfx.exit_code, 1) << Describe(pfx);
  EXPECT_FALSE(fs::exists(out / (name + ".p12")));

  // The certificate itself is still exported.
  CommandResult plain = daemon.Cli({"export", name, "--out", out.string()});
  ASSERT_EQ(plain.exit_code, 0) << Describe(plain);
  EXPECT_EQ(ReadFile(out / "cert.pem"), pki.leaf.CertPem());
  EXPECT_FALSE(fs::exists(out / "privkey.pem"));

  CommandResult audit = daemon.Cli({"show", name, "--json"});
  ASSERT_EQ(audit.exit_code, 0) << Describe(audit);
  json exports = json::parse(audit.out)["key_exports"];
  ASSERT_EQ(exports.size(), 2u) << exports.dump(2);
  EXPECT_EQ(exports[0]["outcome"], "refused");
  EXPECT_EQ(exports[0]["reason"], "key_export_disabled");
  EXPECT_EQ(exports[1]["what"], "pkcs12");
  EXPECT_EQ(exports[1]["outcome"], "refused");
  EXPECT_NE(daemon.log().find("key export"), std::string::npos);
}

}  // namespace
}  // namespace certinbox::testing

namespace certinbox::testing {
namespace {

// docs/protocol.md "Late replies": a csr.create waiting for its key when the daemon stops is
// answered `stopping` at once (not left without a reply), and the daemon still stops promptly.
TEST(CsrStopTest, RequestsWaitingForTheirKeyAreAnsweredStoppingWhenTheDaemonStops) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  zmq::context_t context(1);
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(daemon.control_endpoint());
  constexpr int kRequests = 3;
  for (int i = 0; i < kRequests; ++i) {
    const json request = {{"op", "csr.create"},
                          {"name", "slow" + std::to_string(i)},
                          {"cn", "slow" + std::to_string(i) + ".csr.test"},
                          {"key", "rsa-4096"}};
    ASSERT_TRUE(dealer.send(zmq::buffer(request.dump()), zmq::send_flags::none));
  }
  // Requests on one socket are dispatched in order: once status is answered, every csr.create
  // has started its key generation (none of which ends in a few milliseconds).
  ASSERT_TRUE(dealer.send(zmq::buffer(std::string(R"({"op": "status"})")), zmq::send_flags::none));
  std::vector<json> replies;
  auto receive = [&](std::chrono::milliseconds deadline) {
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, deadline) <= 0) return false;
    zmq::message_t message;
    if (!dealer.recv(message, zmq::recv_flags::none)) return false;
    replies.push_back(json::parse(message.to_string_view(), nullptr, false));
    return true;
  };
  while (replies.empty() || !replies.back().contains("pid")) {
    ASSERT_TRUE(receive(std::chrono::seconds(10))) << "no status reply";
  }
  replies.pop_back();  // status; anything before it is a csr.create that was quicker

  const auto stop_started = std::chrono::steady_clock::now();
  EXPECT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, std::chrono::seconds(10));
  while (replies.size() < kRequests && receive(std::chrono::seconds(2))) {
  }
  ASSERT_EQ(replies.size(), static_cast<size_t>(kRequests)) << daemon.log();
  int stopping = 0;
  for (const json& reply : replies) {
    if (reply.contains("error")) {
      EXPECT_EQ(reply["error"]["code"], "stopping") << reply.dump();
      ++stopping;
    } else {
      EXPECT_TRUE(reply.contains("csr_pem")) << reply.dump();  // finished before the stop
    }
  }
  EXPECT_GT(stopping, 0) << "every RSA-4096 key was made before SIGTERM was handled";
}

}  // namespace
}  // namespace certinbox::testing
