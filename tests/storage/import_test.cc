// Inventory::Import: entries, keys in any order, duplicates, CA certificates, names.
#include <gtest/gtest.h>

#include <algorithm>

#include "base/error.h"
#include "tests/storage/drop_fixture.h"

namespace certinbox::storage {
namespace {

using test::Drop;
using test::kNow;
using test::Payload;
using testing::Issue;
using testing::Issued;

using ImportTest = test::InventoryTest;

bool Has(const nlohmann::json& array, const std::string& value) {
  return std::find(array.begin(), array.end(), value) != array.end();
}

TEST_F(ImportTest, LeafWithKeyBecomesOneEntryWithItsKey) {
  Issued leaf = Issue(test::Leaf("web.example"));
  Drop drop;
  drop.Cert(leaf, /*with_key=*/true);
  ImportOutcome out = MustImport(drop.Request("web.pem"));
  EXPECT_EQ(out.new_entries, 1);
  EXPECT_EQ(out.new_keys, 1);
  EXPECT_EQ(out.duplicates, 0);
  EXPECT_FALSE(out.stored_ca);
  ASSERT_EQ(out.events.size(), 1u);
  const Event& event = out.events[0];
  EXPECT_EQ(event.type, "cert.imported");
  nlohmann::json p = Payload(event);
  EXPECT_EQ(p["seq"], event.seq);
  EXPECT_EQ(p["type"], "cert.imported");
  EXPECT_EQ(p["time"], "2026-11-23T09:00:00Z");
  EXPECT_EQ(p["source"], (nlohmann::json{{"inbox", "main"}, {"file", "web.pem"}}));
  const nlohmann::json& c = p["certificate"];
  EXPECT_EQ(c["fingerprint_sha256"], leaf.Fingerprint());
  EXPECT_EQ(c["has_private_key"], true);
  EXPECT_EQ(c["name"], "web.example");
  EXPECT_EQ(c["group"], "default");
  EXPECT_EQ(c["kind"], "leaf");
  EXPECT_EQ(c["status"], "valid");
  EXPECT_EQ(c["version"], 1);
  EXPECT_EQ(c["days_left"], 365);
  EXPECT_EQ(c["bindings"], nlohmann::json::array());
  EXPECT_EQ(c["sans"], nlohmann::json::array({"DNS:web.example"}));
  EXPECT_EQ(c["not_after"], "2027-11-23T09:00:00Z");
  EXPECT_FALSE(Has(c["findings"], "no_private_key"));
  EXPECT_EQ(p["findings"], c["findings"]);

  auto key = inventory_->PrivateKeyFor(leaf.SpkiFingerprint());
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->view(), testing::KeyPkcs8Der(leaf.key.get()));
  auto counts = inventory_->Count(kNow);
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->entries, 1);
  EXPECT_EQ(counts->leaf, 1);
  EXPECT_EQ(counts->unmatched_keys, 0);
  EXPECT_EQ(counts->imports, 1);
  EXPECT_EQ(counts->last_seq, event.seq);
}

TEST_F(ImportTest, LeafWithoutKeyGetsNoPrivateKeyFinding) {
  Issued leaf = Issue(test::Leaf("nokey.example"));
  Drop drop;
  drop.Cert(leaf, false, {"self_signed"});
  ImportOutcome out = MustImport(drop.Request("nokey.pem"));
  ASSERT_EQ(out.events.size(), 1u);
  nlohmann::json c = Payload(out.events[0])["certificate"];
  EXPECT_EQ(c["has_private_key"], false);
  EXPECT_EQ(c["findings"], nlohmann::json::array({"no_private_key", "self_signed"}));
  EXPECT_FALSE(inventory_->PrivateKeyFor(leaf.SpkiFingerprint()));
}

TEST_F(ImportTest, KeyFirstWaitsThenAttachesToItsCertificate) {
  Issued leaf = Issue(test::Leaf("later.example"));
  Drop key_drop;
  key_drop.Key(leaf);
  ImportOutcome first = MustImport(key_drop.Request("later.key"));
  EXPECT_EQ(first.new_keys, 1);
  EXPECT_TRUE(first.events.empty());
  auto waiting = inventory_->UnmatchedKeys();
  ASSERT_TRUE(waiting);
  ASSERT_EQ(waiting->size(), 1u);
  EXPECT_EQ((*waiting)[0]["spki_sha256"], leaf.SpkiFingerprint());
  EXPECT_EQ((*waiting)[0]["algorithm"], "EC");
  EXPECT_EQ((*waiting)[0]["bits"], 256);
  EXPECT_EQ((*waiting)[0]["source"]["file"], "later.key");
  EXPECT_FALSE((*waiting)[0].contains("sealed"));
  EXPECT_EQ(inventory_->Count(kNow)->unmatched_keys, 1);

  Drop cert_drop;
  cert_drop.Cert(leaf);
  ImportOutcome second = MustImport(cert_drop.Request("later.pem"));
  EXPECT_EQ(second.new_entries, 1);
  EXPECT_EQ(second.new_keys, 0);
  ASSERT_EQ(second.events.size(), 1u);
  EXPECT_EQ(second.events[0].type, "cert.imported");
  nlohmann::json c = Payload(second.events[0])["certificate"];
  EXPECT_EQ(c["has_private_key"], true);
  EXPECT_FALSE(Has(c["findings"], "no_private_key"));
  EXPECT_TRUE(inventory_->UnmatchedKeys()->empty());
  EXPECT_EQ(inventory_->Count(kNow)->unmatched_keys, 0);
}

TEST_F(ImportTest, CertificateFirstThenKeyIsAnUpdate) {
  Issued leaf = Issue(test::Leaf("keyless.example"));
  Drop cert_drop;
  cert_drop.Cert(leaf, false, {"untrusted_root"});
  MustImport(cert_drop.Request("keyless.pem"));

  Drop key_drop;
  key_drop.Key(leaf);
  ImportOutcome out = MustImport(key_drop.Request("keyless.key"));
  EXPECT_EQ(out.new_keys, 1);
  EXPECT_EQ(out.new_entries, 0);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].type, "cert.updated");
  nlohmann::json p = Payload(out.events[0]);
  EXPECT_EQ(p["changed"], nlohmann::json::array({"findings", "private_key"}));
  EXPECT_EQ(p["certificate"]["has_private_key"], true);
  EXPECT_EQ(p["certificate"]["findings"], nlohmann::json::array({"untrusted_root"}));
  EXPECT_TRUE(inventory_->UnmatchedKeys()->empty());

  // The same key again: stored already, nothing to attach.
  ImportOutcome again = MustImport(key_drop.Request("keyless-again.key"));
  EXPECT_EQ(again.duplicates, 1);
  EXPECT_EQ(again.new_keys, 0);
  EXPECT_TRUE(again.events.empty());
}

TEST_F(ImportTest, SameCertificateTwiceIsADuplicate) {
  Issued leaf = Issue(test::Leaf("twice.example"));
  Drop drop;
  drop.Cert(leaf, true);
  MustImport(drop.Request("a.pem"));
  ImportOutcome again = MustImport(drop.Request("b.pem"));
  EXPECT_EQ(again.new_entries, 0);
  EXPECT_EQ(again.new_keys, 0);
  EXPECT_EQ(again.duplicates, 2);  // the certificate and its key
  EXPECT_TRUE(again.events.empty());
  EXPECT_EQ(MustList().size(), 1u);
  auto events = inventory_->EventsSince(0, 0);
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), 1u);
  auto counts = inventory_->Count(kNow);
  EXPECT_EQ(counts->imports, 2);
  EXPECT_EQ(counts->entries, 1);
}

TEST_F(ImportTest, DuplicateCertificateBringingItsMissingKeyAttachesIt) {
  Issued leaf = Issue(test::Leaf("bundle.example"));
  Drop cert_only;
  cert_only.Cert(leaf);
  MustImport(cert_only.Request("cert.pem"));
  Drop both;
  both.Cert(leaf, true);
  ImportOutcome out = MustImport(both.Request("bundle.pem"));
  EXPECT_EQ(out.duplicates, 1);
  EXPECT_EQ(out.new_keys, 1);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].type, "cert.updated");
  EXPECT_EQ(Payload(out.events[0])["certificate"]["has_private_key"], true);
}

TEST_F(ImportTest, ChainDropMakesCaEntriesInTheDropsGroup) {
  testing::TestPki pki = testing::TestPki::Make(test::Leaf("app.example"));
  Drop drop;
  drop.Cert(pki.leaf, true, {}, {pki.intermediate.Fingerprint(), pki.root.Fingerprint()});
  drop.Cert(pki.intermediate, false, {}, {pki.root.Fingerprint()});
  drop.Cert(pki.root, false, {"self_signed"});
  DropMetadata meta = test::Named("app", "prod");
  meta.labels = {"team-a"};
  meta.description = "the app's certificate";
  ImportOutcome out = MustImport(drop.Request("app.pem", meta));
  EXPECT_EQ(out.new_entries, 3);
  EXPECT_TRUE(out.stored_ca);
  ASSERT_EQ(out.events.size(), 3u);
  nlohmann::json leaf = Payload(out.events[0])["certificate"];
  nlohmann::json inter = Payload(out.events[1])["certificate"];
  nlohmann::json root = Payload(out.events[2])["certificate"];
  EXPECT_EQ(leaf["name"], "app");
  EXPECT_EQ(leaf["kind"], "leaf");
  EXPECT_EQ(leaf["labels"], nlohmann::json::array({"team-a"}));
  EXPECT_EQ(leaf["chain"],
            nlohmann::json::array({pki.intermediate.Fingerprint(), pki.root.Fingerprint()}));
  for (const nlohmann::json& ca : {inter, root}) {
    EXPECT_EQ(ca["kind"], "ca");
    EXPECT_EQ(ca["group"], "prod");
    EXPECT_EQ(ca["labels"], nlohmann::json::array());
    EXPECT_FALSE(Has(ca["findings"], "no_private_key"));  // CA entries never lack a key
  }
  EXPECT_NE(inter["name"], "app");
  EXPECT_NE(root["name"], inter["name"]);

  auto cas = inventory_->CaCertificates();
  ASSERT_TRUE(cas);
  ASSERT_EQ(cas->size(), 2u);
  EXPECT_EQ((*cas)[0], pki.intermediate.CertDer());
  EXPECT_EQ((*cas)[1], pki.root.CertDer());
  auto counts = inventory_->Count(kNow);
  EXPECT_EQ(counts->ca, 2);
  EXPECT_EQ(counts->leaf, 1);
}

// cert.imported describes the new entry from what Import wrote; `ls` reads it back from the
// database. Both must say the same, down to the serialized text.
TEST_F(ImportTest, ImportedEventSummaryIsTheStoredSummary) {
  testing::TestPki pki = testing::TestPki::Make(test::Leaf("same.example"));
  Issued keyless = Issue(test::Leaf("keyless.example"));
  Drop drop;
  drop.Cert(pki.leaf, true, {"untrusted_root"},
            {pki.intermediate.Fingerprint(), pki.root.Fingerprint()});
  drop.Cert(pki.intermediate, false, {}, {pki.root.Fingerprint()});
  drop.Cert(pki.root, false, {"self_signed"});
  drop.Cert(keyless, false, {"chain_incomplete"});
  DropMetadata meta = test::Named("svc", "prod");
  // A label that is not UTF-8 is refused now (pipeline::CheckName): bad_name, nothing stored.
  meta.labels = {"team-a", "b\xff\"quoted\""};
  auto refused = inventory_->Import(drop.Request("svc.pem", meta));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, "bad_name");
  meta.labels = {"team-a", "b\xc3\xa9\"quoted\""};
  ImportOutcome out = MustImport(drop.Request("svc.pem", meta));
  ASSERT_EQ(out.events.size(), 4u);
  auto listed = inventory_->List({}, kNow);
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 4u);
  for (const Event& event : out.events) {
    const nlohmann::json summary = Payload(event)["certificate"];
    auto it = std::find_if(listed->begin(), listed->end(),
                           [&](const nlohmann::json& s) { return s["id"] == summary["id"]; });
    ASSERT_NE(it, listed->end()) << summary.dump();
    EXPECT_EQ(summary.dump(), it->dump());
  }
}

TEST_F(ImportTest, CaOnlyDropTakesTheSidecarName) {
  Issued root = Issue(test::Ca("Corp Root"));
  Drop drop;
  drop.Cert(root, false, {"self_signed"});
  ImportOutcome out = MustImport(drop.Request("root.pem", test::Named("corp-root")));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(Payload(out.events[0])["certificate"]["name"], "corp-root");
  EXPECT_TRUE(out.stored_ca);
}

TEST_F(ImportTest, SeveralLeavesShareTheSidecarNameWithASuffix) {
  Issued a = Issue(test::Leaf("a.example"));
  Issued b = Issue(test::Leaf("b.example"));
  Issued c = Issue(test::Leaf("c.example"));
  Drop drop;
  drop.Cert(a).Cert(b).Cert(c);
  ImportOutcome out = MustImport(drop.Request("many.pem", test::Named("svc")));
  ASSERT_EQ(out.events.size(), 3u);
  EXPECT_EQ(Payload(out.events[0])["certificate"]["name"], "svc");
  EXPECT_EQ(Payload(out.events[1])["certificate"]["name"], "svc-2");
  EXPECT_EQ(Payload(out.events[2])["certificate"]["name"], "svc-3");
}

TEST_F(ImportTest, TakenNameGetsTheFingerprintsStart) {
  Issued first = Issue(test::Leaf("same.example"));
  Issued second = Issue(test::Leaf("same.example"));
  Drop one, two;
  one.Cert(first);
  two.Cert(second);
  MustImport(one.Request("1.pem"));
  ImportOutcome out = MustImport(two.Request("2.pem"));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(Payload(out.events[0])["certificate"]["name"],
            "same.example (" + second.Fingerprint().substr(0, 8) + ")");
  // Another group has its own names.
  Issued third = Issue(test::Leaf("same.example"));
  Drop three;
  three.Cert(third);
  DropMetadata staging;
  staging.group = "staging";
  ImportOutcome other = MustImport(three.Request("3.pem", staging));
  EXPECT_EQ(Payload(other.events[0])["certificate"]["name"], "same.example");
}

TEST_F(ImportTest, NameFallsBackToSanThenFingerprint) {
  Issued by_san = Issue(test::Leaf("x.example"));
  Issued by_fp = Issue(test::Leaf("y.example"));
  Drop san_drop;
  san_drop.Cert(by_san);
  san_drop.LastInfo().subject_cn = "";
  san_drop.LastInfo().sans = {"DNS:san-only.example", "DNS:other.example"};
  Drop fp_drop;
  fp_drop.Cert(by_fp);
  fp_drop.LastInfo().subject_cn = "";
  fp_drop.LastInfo().sans = {};
  ImportOutcome a = MustImport(san_drop.Request("a.pem"));
  ImportOutcome b = MustImport(fp_drop.Request("b.pem"));
  EXPECT_EQ(Payload(a.events[0])["certificate"]["name"], "san-only.example");
  EXPECT_EQ(Payload(b.events[0])["certificate"]["name"],
            "cert-" + by_fp.Fingerprint().substr(0, 12));
}

TEST_F(ImportTest, RejectionIsLoggedAndPublished) {
  auto event = inventory_->RecordRejection(
      "main", "bad.pfx", base::Error{"pkcs12_bad_password", "the password did not open it"}, kNow);
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_EQ(event->type, "import.rejected");
  nlohmann::json p = Payload(*event);
  EXPECT_EQ(p["seq"], event->seq);
  EXPECT_EQ(p["reason"], "pkcs12_bad_password");
  EXPECT_EQ(p["message"], "the password did not open it");
  EXPECT_EQ(p["source"], (nlohmann::json{{"inbox", "main"}, {"file", "bad.pfx"}}));
  auto counts = inventory_->Count(kNow);
  EXPECT_EQ(counts->rejections, 1);
  EXPECT_EQ(counts->imports, 0);
}

TEST_F(ImportTest, ChainCompletedLaterIsAnUpdate) {
  testing::TestPki pki = testing::TestPki::Make(test::Leaf("late-chain.example"));
  Drop drop;
  drop.Cert(pki.leaf, false, {"chain_incomplete"});
  MustImport(drop.Request("leaf.pem"));
  auto incomplete = inventory_->IncompleteChains();
  ASSERT_TRUE(incomplete);
  ASSERT_EQ(incomplete->size(), 1u);
  EXPECT_EQ((*incomplete)[0].second, pki.leaf.CertDer());
  const int64_t version_id = (*incomplete)[0].first;

  std::vector<std::string> chain = {pki.intermediate.Fingerprint(), pki.root.Fingerprint()};
  auto updated = inventory_->UpdateChain(version_id, chain, {"untrusted_root"}, kNow);
  ASSERT_TRUE(updated) << updated.error().message;
  ASSERT_TRUE(updated->has_value());
  nlohmann::json p = Payload(**updated);
  EXPECT_EQ(p["type"], "cert.updated");
  EXPECT_EQ(p["changed"], nlohmann::json::array({"chain", "findings"}));
  EXPECT_EQ(p["certificate"]["chain"], nlohmann::json(chain));
  // The inventory keeps no_private_key itself.
  EXPECT_EQ(p["certificate"]["findings"],
            nlohmann::json::array({"no_private_key", "untrusted_root"}));
  EXPECT_TRUE(inventory_->IncompleteChains()->empty());

  auto unchanged = inventory_->UpdateChain(version_id, chain, {"untrusted_root"}, kNow);
  ASSERT_TRUE(unchanged);
  EXPECT_FALSE(unchanged->has_value());
  EXPECT_EQ(inventory_->EventsSince(0, 0)->size(), 2u);
  auto missing = inventory_->UpdateChain(version_id + 100, chain, {}, kNow);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "not_found");
}

TEST_F(ImportTest, RefusesAValidationOfAnotherFile) {
  Issued leaf = Issue(test::Leaf("x.example"));
  Drop drop;
  drop.Cert(leaf);
  drop.validation.certificates[0].index = 5;
  auto out = inventory_->Import(drop.Request("x.pem"));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, "storage_error");
  ImportRequest no_parse;
  EXPECT_FALSE(inventory_->Import(no_parse));
}

}  // namespace
}  // namespace certinbox::storage
