// Drops that go through the real parser and validator before storage, as in the daemon:
// checks that storage and the pipeline agree on keys, chains and findings.
#include <gtest/gtest.h>

#include "pipeline/parse.h"
#include "pipeline/validate.h"
#include "tests/storage/drop_fixture.h"

namespace certinbox::storage {
namespace {

using test::kNow;
using test::Payload;
using testing::Issue;
using testing::Issued;

class PipelineImportTest : public test::InventoryTest {
 protected:
  struct Parsed {
    pipeline::ParsedFile parsed;
    pipeline::Validation validation;
  };

  // Parses and validates `bytes` against the CA certificates the inventory holds, with
  // `anchor` as the only trust anchor.
  std::unique_ptr<Parsed> ParseAndValidate(const std::string& bytes, const Issued& anchor) {
    auto parsed = pipeline::ParseFile(bytes, {});
    EXPECT_TRUE(parsed) << parsed.error().code << ": " << parsed.error().message;
    if (!parsed) return nullptr;
    auto cas = inventory_->CaCertificates();
    EXPECT_TRUE(cas);
    auto trust = pipeline::TrustContext::Create(*cas, false, {anchor.CertDer()});
    auto out = std::make_unique<Parsed>();
    out->parsed = std::move(*parsed);
    auto validation = pipeline::Validate(out->parsed, *trust, {.now = kNow});
    EXPECT_TRUE(validation) << validation.error().code << ": " << validation.error().message;
    if (!validation) return nullptr;
    out->validation = std::move(*validation);
    return out;
  }

  ImportOutcome ImportBytes(const std::string& bytes, const Issued& anchor,
                            const std::string& file) {
    auto p = ParseAndValidate(bytes, anchor);
    if (!p) return {};
    ImportRequest r;
    r.inbox = "main";
    r.file = file;
    r.parsed = &p->parsed;
    r.validation = &p->validation;
    r.now = kNow;
    return MustImport(r);
  }
};

TEST_F(PipelineImportTest, PemBundleWithKeyAndChain) {
  testing::TestPki pki = testing::TestPki::Make(test::Leaf("bundle.example"));
  std::string pem = pki.leaf.CertPem() + pki.leaf.KeyPem() + pki.intermediate.CertPem();
  ImportOutcome out = ImportBytes(pem, pki.root, "bundle.pem");
  EXPECT_EQ(out.new_entries, 2);
  EXPECT_EQ(out.new_keys, 1);
  EXPECT_TRUE(out.stored_ca);
  ASSERT_EQ(out.events.size(), 2u);
  nlohmann::json leaf = Payload(out.events[0])["certificate"];
  EXPECT_EQ(leaf["fingerprint_sha256"], pki.leaf.Fingerprint());
  EXPECT_EQ(leaf["has_private_key"], true);
  EXPECT_EQ(leaf["name"], "bundle.example");
  EXPECT_EQ(leaf["findings"], nlohmann::json::array());
  EXPECT_EQ(leaf["chain"][0], pki.intermediate.Fingerprint());
  EXPECT_EQ(Payload(out.events[1])["certificate"]["kind"], "ca");
  auto key = inventory_->PrivateKeyFor(pki.leaf.SpkiFingerprint());
  ASSERT_TRUE(key);
  EXPECT_EQ(key->view(), testing::KeyPkcs8Der(pki.leaf.key.get()));
}

TEST_F(PipelineImportTest, KeyThenCertificateThenChainCompletion) {
  testing::TestPki pki = testing::TestPki::Make(test::Leaf("late.example"));
  ImportOutcome key = ImportBytes(pki.leaf.KeyPem(), pki.root, "late.key");
  EXPECT_EQ(key.new_keys, 1);
  EXPECT_TRUE(key.events.empty());

  // The leaf alone: its issuer is unknown yet.
  ImportOutcome cert = ImportBytes(pki.leaf.CertPem(), pki.root, "late.pem");
  ASSERT_EQ(cert.events.size(), 1u);
  nlohmann::json c = Payload(cert.events[0])["certificate"];
  EXPECT_EQ(c["has_private_key"], true);
  EXPECT_EQ(c["findings"], nlohmann::json::array({"chain_incomplete"}));

  // The intermediate arrives; the daemon validates the incomplete chains again.
  ImportOutcome ca = ImportBytes(pki.intermediate.CertPem(), pki.root, "inter.pem");
  EXPECT_TRUE(ca.stored_ca);
  auto incomplete = inventory_->IncompleteChains();
  ASSERT_TRUE(incomplete);
  ASSERT_EQ(incomplete->size(), 1u);
  auto again = ParseAndValidate(testing::CertPem(pki.leaf.cert.get()), pki.root);
  ASSERT_TRUE(again);
  const auto& vc = again->validation.certificates.at(0);
  auto updated = inventory_->UpdateChain((*incomplete)[0].first, vc.chain, vc.findings, kNow);
  ASSERT_TRUE(updated) << updated.error().message;
  ASSERT_TRUE(updated->has_value());
  nlohmann::json p = Payload(**updated);
  EXPECT_EQ(p["certificate"]["findings"], nlohmann::json::array());
  EXPECT_EQ(p["certificate"]["chain"][0], pki.intermediate.Fingerprint());
}

TEST_F(PipelineImportTest, Pkcs12WithChain) {
  testing::TestPki pki = testing::TestPki::Make(test::Leaf("pfx.example"));
  std::string pfx = testing::MakePkcs12(pki.leaf, {&pki.intermediate}, std::nullopt);
  ImportOutcome out = ImportBytes(pfx, pki.root, "pfx.pfx");
  EXPECT_EQ(out.new_entries, 2);
  EXPECT_EQ(out.new_keys, 1);
  ImportOutcome twice = ImportBytes(pfx, pki.root, "pfx-again.pfx");
  EXPECT_EQ(twice.new_entries, 0);
  EXPECT_EQ(twice.duplicates, 3);
  EXPECT_TRUE(twice.events.empty());
}

}  // namespace
}  // namespace certinbox::storage
