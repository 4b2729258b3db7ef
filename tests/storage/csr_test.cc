// CSRs in the inventory: a pre_activation entry, its activation by a certificate for its key
// (across a reopen), the export material and the key export audit log.
#include "pipeline/csr.h"

#include <gtest/gtest.h>

#include "base/time.h"
#include "storage/summary.h"
#include "tests/storage/drop_fixture.h"

namespace certinbox::storage {
namespace {

using test::Drop;
using test::kDay;
using test::kNow;
using test::Payload;
using testing::Issue;
using testing::Issued;

class CsrStorageTest : public test::InventoryTest {
 protected:
  pipeline::GeneratedCsr Generate(const std::string& cn, std::vector<std::string> sans = {}) {
    auto checked =
        pipeline::CheckCsrSpec({.key_type = "ec-p256", .common_name = cn, .sans = std::move(sans)});
    EXPECT_TRUE(checked);
    auto csr = pipeline::GenerateCsr(*checked);
    EXPECT_TRUE(csr) << csr.error().message;
    return std::move(*csr);
  }

  Event MustCreate(const std::string& name, const pipeline::GeneratedCsr& csr,
                   const std::string& group = "default") {
    auto event = inventory_->CreateCsr({.name = name,
                                        .group = group,
                                        .description = "made here",
                                        .labels = {"web"},
                                        .key_type = "ec-p256",
                                        .csr = &csr,
                                        .now = kNow});
    EXPECT_TRUE(event) << event.error().code << ": " << event.error().message;
    return event ? *event : Event{};
  }

  // A certificate for the CSR's key, signed by `issuer`.
  static Issued SignFor(const pipeline::GeneratedCsr& csr, const Issued& issuer,
                        const std::string& cn) {
    return Issue(test::Leaf(cn, 200), &issuer, csr.key.pkey.get());
  }
};

TEST_F(CsrStorageTest, NewCsrIsAPreActivationEntryWithItsKeySealed) {
  pipeline::GeneratedCsr csr = Generate("web.example", {"DNS:www.web.example"});
  Event event = MustCreate("web", csr);
  EXPECT_EQ(event.type, "csr.created");
  nlohmann::json p = Payload(event);
  EXPECT_EQ(p["csr_pem"], csr.pem);
  const nlohmann::json& c = p["certificate"];
  EXPECT_EQ(c["name"], "web");
  EXPECT_EQ(c["kind"], "leaf");
  EXPECT_EQ(c["labels"], nlohmann::json::array({"web"}));
  EXPECT_EQ(c["status"], "pre_activation");
  EXPECT_EQ(c["version"], 0);
  EXPECT_TRUE(c["fingerprint_sha256"].is_null());
  EXPECT_TRUE(c["not_after"].is_null());
  EXPECT_TRUE(c["days_left"].is_null());
  EXPECT_EQ(c["subject"], "CN=web.example");
  EXPECT_EQ(c["sans"], nlohmann::json::array({"DNS:web.example", "DNS:www.web.example"}));
  EXPECT_EQ(c["has_private_key"], true);
  EXPECT_EQ(c["key_algorithm"], "EC");

  // ls, ls --status, show, counts; the CSR's key is not an "unmatched" key.
  nlohmann::json pending = MustList({.status = "pre_activation"});
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0], c);
  EXPECT_EQ(MustList({.status = "valid"}).size(), 0u);
  EXPECT_EQ(MustList({.sort = "expiry"}).size(), 1u);
  auto shown = inventory_->Show("web", kNow);
  ASSERT_TRUE(shown) << shown.error().message;
  EXPECT_EQ((*shown)["status"], "pre_activation");
  EXPECT_EQ((*shown)["description"], "made here");
  EXPECT_EQ((*shown)["versions"], nlohmann::json::array());
  auto counts = inventory_->Count(kNow);
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->entries, 1);
  EXPECT_EQ(counts->pre_activation, 1);
  EXPECT_EQ(counts->valid + counts->expiring_soon + counts->expired, 0);
  EXPECT_EQ(counts->unmatched_keys, 0);
  auto keys = inventory_->UnmatchedKeys();
  ASSERT_TRUE(keys);
  EXPECT_TRUE(keys->empty());
  auto key = inventory_->PrivateKeyFor(csr.key.spki_sha256);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->view(), csr.key.pkcs8_der.view());

  auto csr_of = inventory_->CsrOf("web", kNow);
  ASSERT_TRUE(csr_of) << csr_of.error().message;
  EXPECT_EQ((*csr_of)["csr_pem"], csr.pem);
  EXPECT_EQ((*csr_of)["key_type"], "ec-p256");
  EXPECT_TRUE((*csr_of)["activated_at"].is_null());

  auto material = inventory_->ExportMaterialFor("web", false, kNow);
  ASSERT_FALSE(material);
  EXPECT_EQ(material.error().code, "not_activated");
}

TEST_F(CsrStorageTest, NameTakenInTheGroupIsRefused) {
  pipeline::GeneratedCsr a = Generate("a.example");
  pipeline::GeneratedCsr b = Generate("b.example");
  MustCreate("web", a);
  auto again =
      inventory_->CreateCsr({.name = "web", .key_type = "ec-p256", .csr = &b, .now = kNow});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, "name_taken");
  // Nothing of the refused CSR was kept: not its key, not an event.
  EXPECT_FALSE(inventory_->PrivateKeyFor(b.key.spki_sha256));
  MustCreate("web", b, "other");  // another group is fine
  auto counts = inventory_->Count(kNow);
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->pre_activation, 2);
  EXPECT_EQ(counts->last_seq, 2);
}

TEST_F(CsrStorageTest, CertificateForTheKeyActivatesTheEntryAfterAReopen) {
  testing::TestPki pki = testing::TestPki::Make();
  pipeline::GeneratedCsr csr = Generate("web.example");
  Event created = MustCreate("web", csr);
  const int64_t entry_id = Payload(created)["certificate"]["id"];

  Reopen();  // the CSR was saved; the certificate comes days later
  Drop chain;
  chain.Cert(pki.root, false, {"self_signed"})
      .Cert(pki.intermediate, false, {}, {pki.root.Fingerprint()});
  MustImport(chain.Request("chain.pem"));

  Issued signed_cert = SignFor(csr, pki.intermediate, "web.example");
  Drop drop;  // the certificate alone: its key is the CSR's
  drop.Cert(signed_cert, false, {}, {pki.intermediate.Fingerprint(), pki.root.Fingerprint()});
  ImportOutcome out = MustImport(drop.Request("web.crt", {}, kNow + 3 * kDay));
  EXPECT_EQ(out.new_entries, 0);
  EXPECT_EQ(out.activated, 1);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].type, "cert.activated");
  const nlohmann::json c = Payload(out.events[0])["certificate"];
  EXPECT_EQ(c["id"], entry_id);
  EXPECT_EQ(c["name"], "web");
  EXPECT_EQ(c["labels"], nlohmann::json::array({"web"}));
  EXPECT_EQ(c["version"], 1);
  EXPECT_EQ(c["status"], "valid");
  EXPECT_EQ(c["fingerprint_sha256"], signed_cert.Fingerprint());
  EXPECT_EQ(c["has_private_key"], true);
  EXPECT_EQ(c["findings"], nlohmann::json::array());  // no no_private_key: the CSR's key is there

  EXPECT_EQ(MustList({.status = "pre_activation"}).size(), 0u);
  auto counts = inventory_->Count(kNow);
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->pre_activation, 0);
  EXPECT_EQ(counts->leaf, 1);
  auto csr_of = inventory_->CsrOf("web", kNow);
  ASSERT_TRUE(csr_of);
  EXPECT_EQ((*csr_of)["activated_at"], base::FormatRfc3339(kNow + 3 * kDay));

  // Export: the certificate, the intermediate (not the root), the CSR's key.
  auto material = inventory_->ExportMaterialFor("web", true, kNow);
  ASSERT_TRUE(material) << material.error().message;
  EXPECT_EQ(material->entry_id, entry_id);
  EXPECT_EQ(material->version, 1);
  EXPECT_EQ(material->cert_der, signed_cert.CertDer());
  EXPECT_EQ(material->chain_der, std::vector<std::string>{pki.intermediate.CertDer()});
  EXPECT_EQ(material->key_pkcs8.view(), csr.key.pkcs8_der.view());
  auto without_key = inventory_->ExportMaterialFor("web", false, kNow);
  ASSERT_TRUE(without_key);
  EXPECT_TRUE(without_key->key_pkcs8.empty());

  // The same certificate again is a duplicate, not a second activation.
  ImportOutcome again = MustImport(drop.Request("web-again.crt", {}, kNow + 4 * kDay));
  EXPECT_EQ(again.activated, 0);
  EXPECT_EQ(again.duplicates, 1);
  EXPECT_TRUE(again.events.empty());
}

TEST_F(CsrStorageTest, KeyExportsAreRecordedPerEntry) {
  Issued leaf = Issue(test::Leaf("web.example"));
  Drop drop;
  drop.Cert(leaf, true);
  ImportOutcome out = MustImport(drop.Request("web.pem"));
  const int64_t id = Payload(out.events[0])["certificate"]["id"];
  ASSERT_TRUE(inventory_->RecordKeyExport({.entry_id = id,
                                           .entry_name = "default/web.example",
                                           .version = 1,
                                           .what = "key",
                                           .outcome = "exported",
                                           .endpoint = "ipc:///run/c.sock",
                                           .now = kNow}));
  ASSERT_TRUE(inventory_->RecordKeyExport({.entry_id = id,
                                           .entry_name = "default/web.example",
                                           .version = 1,
                                           .what = "pkcs12",
                                           .outcome = "refused",
                                           .reason = "key_export_disabled",
                                           .endpoint = "ipc:///run/c.sock",
                                           .now = kNow + 60}));
  auto exports = inventory_->KeyExports(id);
  ASSERT_TRUE(exports);
  ASSERT_EQ(exports->size(), 2u);
  EXPECT_EQ((*exports)[0]["what"], "key");
  EXPECT_EQ((*exports)[0]["outcome"], "exported");
  EXPECT_TRUE((*exports)[0]["reason"].is_null());
  EXPECT_EQ((*exports)[0]["time"], "2026-11-23T09:00:00Z");
  EXPECT_EQ((*exports)[1]["what"], "pkcs12");
  EXPECT_EQ((*exports)[1]["outcome"], "refused");
  EXPECT_EQ((*exports)[1]["reason"], "key_export_disabled");
  EXPECT_EQ((*exports)[1]["version"], 1);
  auto none = inventory_->KeyExports(id + 1);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace certinbox::storage
