// Where features meet, against a real SQLite inventory: CSRs (pre_activation, activation) with
// renewals, pruning, bindings, delete, rollback and meta; pruning with the bindings' push record.
#include <gtest/gtest.h>

#include "pipeline/csr.h"
#include "storage/sqlite.h"
#include "storage/summary.h"
#include "tests/storage/drop_fixture.h"

namespace certinbox::storage {
namespace {

using nlohmann::json;
using test::Drop;
using test::kDay;
using test::kNow;
using test::Payload;
using testing::Issue;
using testing::Issued;

std::vector<std::string> Types(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) out.push_back(e.type);
  return out;
}

class CrossFeatureTest : public test::InventoryTest {
 protected:
  void ReopenWith(int max_versions) {
    inventory_.reset();
    auto vault = Vault::OpenOrCreate(dir_.path() / "master.key");
    ASSERT_TRUE(vault);
    auto inventory = Inventory::Open(
        db_path(), std::move(*vault),
        InventoryOptions{.expiry = test::DaysPolicy(), .max_versions = max_versions});
    ASSERT_TRUE(inventory) << inventory.error().message;
    inventory_ = std::move(*inventory);
  }

  pipeline::GeneratedCsr Generate(const std::string& cn) {
    auto checked = pipeline::CheckCsrSpec({.key_type = "ec-p256", .common_name = cn});
    EXPECT_TRUE(checked);
    auto csr = pipeline::GenerateCsr(*checked);
    EXPECT_TRUE(csr) << csr.error().message;
    return std::move(*csr);
  }

  int64_t MustCreateCsr(const std::string& name, const pipeline::GeneratedCsr& csr) {
    auto event =
        inventory_->CreateCsr({.name = name, .key_type = "ec-p256", .csr = &csr, .now = kNow});
    EXPECT_TRUE(event) << event.error().code << ": " << event.error().message;
    return event ? Payload(*event)["certificate"]["id"].get<int64_t>() : 0;
  }

  // A certificate for the CSR's key, CN `cn` (SAN DNS:cn), expiring `days` after kNow.
  static Issued SignFor(const pipeline::GeneratedCsr& csr, const std::string& cn, int64_t days) {
    return Issue(test::Leaf(cn, days), nullptr, csr.key.pkey.get());
  }

  // Imports one leaf certificate (with its key when `with_key`).
  ImportOutcome ImportCert(const Issued& cert, bool with_key, DropMetadata meta = {},
                           const std::string& file = "drop.pem") {
    Drop d;
    d.Cert(cert, with_key);
    return MustImport(d.Request(file, std::move(meta)));
  }

  json MustShow(const std::string& entry) {
    auto shown = inventory_->Show(entry, kNow);
    EXPECT_TRUE(shown) << shown.error().code << ": " << shown.error().message;
    return shown ? *shown : json::object();
  }

  int64_t Scalar(const std::string& sql) {
    auto db = sqlite::Connection::Open(db_path());
    EXPECT_TRUE(db);
    auto st = db->Prepare(sql);
    EXPECT_TRUE(st) << st.error().message;
    auto row = st->Step();
    EXPECT_TRUE(row && *row);
    return st->Int(0);
  }

  void Sql(const std::string& sql) {
    auto db = sqlite::Connection::Open(db_path());
    ASSERT_TRUE(db);
    auto done = db->Exec(sql);
    ASSERT_TRUE(done) << done.error().message;
  }

  // No row of the database points at a row that is gone.
  void ExpectNoDanglingReferences() {
    EXPECT_EQ(Scalar("SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
    EXPECT_EQ(Scalar("SELECT COUNT(*) FROM entries e WHERE e.current_version_id IS NOT NULL AND"
                     " NOT EXISTS (SELECT 1 FROM versions v WHERE v.id = e.current_version_id)"),
              0);
    // A binding's pushed_version is a version its consumer serves: kept while it does.
    EXPECT_EQ(Scalar("SELECT COUNT(*) FROM bindings b WHERE b.pushed_version IS NOT NULL AND"
                     " NOT EXISTS (SELECT 1 FROM versions v WHERE v.entry_id = b.entry_id"
                     " AND v.version = b.pushed_version)"),
              0);
  }

  void ExpectNoUnmatchedKeys() {
    auto keys = inventory_->UnmatchedKeys();
    ASSERT_TRUE(keys);
    EXPECT_TRUE(keys->empty()) << keys->dump(2);
    auto counts = inventory_->Count(kNow);
    ASSERT_TRUE(counts);
    EXPECT_EQ(counts->unmatched_keys, 0);
  }
};

// rm of a CSR waiting for its certificate: its csrs row and its key go with it.
TEST_F(CrossFeatureTest, RmOfAPendingCsrDeletesItsCsrAndKey) {
  pipeline::GeneratedCsr csr = Generate("web.example");
  const int64_t id = MustCreateCsr("web", csr);
  auto deleted = inventory_->Delete({"web"}, kNow);
  ASSERT_TRUE(deleted) << deleted.error().message;
  EXPECT_EQ(deleted->deleted, 1);
  ASSERT_EQ(Types(deleted->events), std::vector<std::string>{"cert.deleted"});
  json certificate = Payload(deleted->events[0])["certificate"];
  EXPECT_EQ(certificate["id"], id);
  EXPECT_EQ(certificate["name"], "web");
  EXPECT_EQ(certificate["status"], "pre_activation");
  EXPECT_EQ(certificate["version"], 0);
  EXPECT_EQ(certificate["subject"], "CN=web.example");
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM csrs"), 0);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM keys"), 0);
  ExpectNoUnmatchedKeys();
  EXPECT_FALSE(inventory_->PrivateKeyFor(csr.key.spki_sha256));
  auto counts = inventory_->Count(kNow);
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->entries, 0);
  EXPECT_EQ(counts->pre_activation, 0);

  // A certificate for that key arriving later is an ordinary new entry, without a key.
  ImportOutcome late = ImportCert(SignFor(csr, "web.example", 200), false);
  EXPECT_EQ(late.activated, 0);
  EXPECT_EQ(late.new_entries, 1);
}

TEST_F(CrossFeatureTest, RmOfAnActivatedCsrDeletesItsCsrAndKey) {
  pipeline::GeneratedCsr csr = Generate("web.example");
  MustCreateCsr("web", csr);
  ImportOutcome activated = ImportCert(SignFor(csr, "web.example", 200), false);
  ASSERT_EQ(activated.activated, 1);
  auto deleted = inventory_->Delete({"web"}, kNow);
  ASSERT_TRUE(deleted) << deleted.error().message;
  EXPECT_EQ(deleted->deleted, 1);
  json certificate = Payload(deleted->events.at(0))["certificate"];
  EXPECT_EQ(certificate["status"], "valid");
  EXPECT_EQ(certificate["version"], 1);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM csrs"), 0);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM keys"), 0);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM versions"), 0);
  ExpectNoUnmatchedKeys();
  ExpectNoDanglingReferences();
}

// An activated CSR entry renewed with a new key until its version 1 is pruned: the CSR's key
// stays (the csrs row names it), and it is not an unmatched key.
TEST_F(CrossFeatureTest, PruningAnActivatedCsrsFirstVersionKeepsTheCsrsKey) {
  ReopenWith(1);
  pipeline::GeneratedCsr csr = Generate("web.example");
  MustCreateCsr("web", csr);
  ASSERT_EQ(ImportCert(SignFor(csr, "web.example", 100), false).activated, 1);
  // The renewal: same CN and SAN set, a new key, a later expiry.
  ImportOutcome renewal = ImportCert(Issue(test::Leaf("web.example", 400)), true);
  EXPECT_EQ(renewal.renewals, 1);
  json shown = MustShow("web");
  EXPECT_EQ(shown["version"], 2);
  ASSERT_EQ(shown["versions"].size(), 1u);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM keys"), 2);
  ExpectNoUnmatchedKeys();
  ExpectNoDanglingReferences();
  auto csr_of = inventory_->CsrOf("web", kNow);
  ASSERT_TRUE(csr_of) << csr_of.error().message;
  EXPECT_FALSE((*csr_of)["activated_at"].is_null());
  // And rm takes both keys with it.
  auto deleted = inventory_->Delete({"web"}, kNow);
  ASSERT_TRUE(deleted) << deleted.error().message;
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM keys"), 0);
  ExpectNoUnmatchedKeys();
}

// A version a binding's consumer still serves (pushed_version) is not pruned: "which load
// balancers still serve the old certificate?" keeps its answer. Once the consumer has a newer
// version, the old one is pruned as usual.
TEST_F(CrossFeatureTest, PruningKeepsTheVersionABoundConsumerStillServes) {
  ReopenWith(2);
  ImportOutcome first = ImportCert(Issue(test::Leaf("web.example", 100)), true);
  const int64_t id = Payload(first.events.at(0))["certificate"]["id"];
  auto bound = inventory_->Bind("web.example", "lb-prod:443", std::nullopt, kNow);
  ASSERT_TRUE(bound) << bound.error().message;
  Sql("UPDATE bindings SET pushed_version = 1, pushed_at = 0 WHERE entry_id = " +
      std::to_string(id));
  for (int64_t days : {200, 300}) {
    ImportOutcome renewed = ImportCert(Issue(test::Leaf("web.example", days)), true);
    ASSERT_EQ(renewed.renewals, 1);
  }
  json shown = MustShow("web.example");
  EXPECT_EQ(shown["version"], 3);
  ASSERT_EQ(shown["versions"].size(), 2u) << shown["versions"].dump(2);
  EXPECT_EQ(shown["versions"][0]["version"], 1);  // served by lb-prod:443
  EXPECT_EQ(shown["versions"][1]["version"], 3);
  EXPECT_EQ(shown["bindings"][0]["pushed_version"], 1);
  ExpectNoDanglingReferences();
  ExpectNoUnmatchedKeys();

  Sql("UPDATE bindings SET pushed_version = 3 WHERE entry_id = " + std::to_string(id));
  ASSERT_EQ(ImportCert(Issue(test::Leaf("web.example", 400)), true).renewals, 1);
  shown = MustShow("web.example");
  ASSERT_EQ(shown["versions"].size(), 2u) << shown["versions"].dump(2);
  EXPECT_EQ(shown["versions"][0]["version"], 3);
  EXPECT_EQ(shown["versions"][1]["version"], 4);
  ExpectNoDanglingReferences();
  ExpectNoUnmatchedKeys();
  // Bound, so not deleted; unbound, it goes with everything it had.
  auto refused = inventory_->Delete({"web.example"}, kNow);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->not_deleted, 1);
  ASSERT_TRUE(inventory_->Unbind("web.example", "lb-prod:443", kNow));
  auto deleted = inventory_->Delete({"web.example"}, kNow);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->deleted, 1);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM versions"), 0);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM expiry_notices"), 0);
  ExpectNoDanglingReferences();
}

// A certificate for a pending CSR's key activates the CSR's entry even when its CN and SANs
// (or the sidecar's name) would renew another entry: the key says which CSR it answers.
TEST_F(CrossFeatureTest, CsrActivationWinsOverTheRenewalMatcher) {
  ImportOutcome existing = ImportCert(Issue(test::Leaf("web.example", 100)), true);
  const int64_t existing_id = Payload(existing.events.at(0))["certificate"]["id"];
  pipeline::GeneratedCsr by_cn = Generate("web.example");
  const int64_t csr_id = MustCreateCsr("web-2027", by_cn);

  ImportOutcome out = ImportCert(SignFor(by_cn, "web.example", 400), false);
  EXPECT_EQ(out.activated, 1);
  EXPECT_EQ(out.renewals, 0);
  EXPECT_EQ(out.new_entries, 0);
  ASSERT_EQ(Types(out.events), std::vector<std::string>{"cert.activated"});
  EXPECT_EQ(Payload(out.events[0])["certificate"]["id"], csr_id);
  EXPECT_EQ(MustShow("web.example")["version"], 1);
  EXPECT_EQ(MustShow("web.example")["id"], existing_id);
  json csr_entry = MustShow("web-2027");
  EXPECT_EQ(csr_entry["version"], 1);
  EXPECT_TRUE(csr_entry["has_private_key"].get<bool>());

  // The sidecar names the other entry: the key still decides.
  pipeline::GeneratedCsr by_name = Generate("other.example");
  const int64_t second_csr = MustCreateCsr("web-2028", by_name);
  ImportOutcome named =
      ImportCert(SignFor(by_name, "other.example", 500), false, test::Named("web.example"));
  EXPECT_EQ(named.activated, 1);
  EXPECT_EQ(named.renewals, 0);
  EXPECT_EQ(Payload(named.events.at(0))["certificate"]["id"], second_csr);
  EXPECT_EQ(Payload(named.events.at(0))["certificate"]["name"], "web-2028");
  EXPECT_EQ(MustShow("web.example")["version"], 1);

  // Once activated, the CSR entry is renewed like any other (here by its name).
  ImportOutcome renewal =
      ImportCert(Issue(test::Leaf("other.example", 600)), true, test::Named("web-2028"));
  EXPECT_EQ(renewal.renewals, 1);
  EXPECT_EQ(MustShow("web-2028")["version"], 2);
}

// A sidecar naming a CSR entry that waits for its certificate, on a certificate for another
// key: refused (not_a_renewal), not stored as "NAME (fingerprint)" beside it.
TEST_F(CrossFeatureTest, SidecarNamingAPendingCsrWithAnotherKeyIsRefused) {
  pipeline::GeneratedCsr csr = Generate("web.example");
  MustCreateCsr("web", csr);
  Drop d;
  d.Cert(Issue(test::Leaf("web.example", 200)), true);
  auto refused = inventory_->Import(d.Request("web.pem", test::Named("web")));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "not_a_renewal");
  EXPECT_EQ(MustList().size(), 1u);
  EXPECT_EQ(MustShow("web")["status"], "pre_activation");
}

// The sidecar's `bind` on a renewal binds the renewed entry (after its cert.renewed); on a
// certificate that activates a CSR, the activated entry.
TEST_F(CrossFeatureTest, SidecarBindOnARenewalOrAnActivationBindsThatEntry) {
  ImportOutcome first = ImportCert(Issue(test::Leaf("web.example", 100)), true);
  const int64_t id = Payload(first.events.at(0))["certificate"]["id"];
  DropMetadata meta;
  meta.bind = {"lb-prod:443"};
  ImportOutcome renewed = ImportCert(Issue(test::Leaf("web.example", 200)), true, meta);
  EXPECT_EQ(renewed.renewals, 1);
  ASSERT_EQ(Types(renewed.events), (std::vector<std::string>{"cert.renewed", "cert.bound"}));
  json bound = Payload(renewed.events[1]);
  EXPECT_EQ(bound["certificate"]["id"], id);
  EXPECT_EQ(bound["certificate"]["version"], 2);
  EXPECT_EQ(bound["resource"], "lb-prod:443");
  json shown = MustShow("web.example");
  ASSERT_EQ(shown["bindings"].size(), 1u);
  EXPECT_EQ(shown["bindings"][0]["source"], "sidecar");
  // The same bind on the next renewal: already so, no cert.bound.
  ImportOutcome again = ImportCert(Issue(test::Leaf("web.example", 300)), true, meta);
  ASSERT_EQ(Types(again.events), std::vector<std::string>{"cert.renewed"});
  EXPECT_EQ(Payload(again.events[0])["certificate"]["bindings"][0]["resource"], "lb-prod:443");

  pipeline::GeneratedCsr csr = Generate("api.example");
  const int64_t csr_id = MustCreateCsr("api", csr);
  DropMetadata api;
  api.bind = {"lb-api:443"};
  api.metadata = {{"ticket", "CHG-9"}};
  ImportOutcome activated = ImportCert(SignFor(csr, "api.example", 200), false, api);
  ASSERT_EQ(Types(activated.events), (std::vector<std::string>{"cert.activated", "cert.bound"}));
  EXPECT_EQ(Payload(activated.events[1])["certificate"]["id"], csr_id);
  EXPECT_EQ(Payload(activated.events[1])["certificate"]["status"], "valid");
  json api_shown = MustShow("api");
  EXPECT_EQ(api_shown["bindings"][0]["resource"], "lb-api:443");
  // The sidecar's [metadata] is version 1's, as for a renewal.
  EXPECT_EQ(api_shown["versions"][0]["metadata"], json({{"ticket", "CHG-9"}}));

  // A resource another entry holds fails the renewal's import as a whole.
  DropMetadata taken;
  taken.bind = {"lb-api:443"};
  Drop d;
  d.Cert(Issue(test::Leaf("web.example", 400)), true);
  auto refused = inventory_->Import(d.Request("web.pem", taken));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "resource_bound");
  EXPECT_EQ(MustShow("web.example")["version"], 3);
}

// [[binding]] for a CSR entry waiting for its certificate: bound at once (the entry exists);
// its consumer learns of the certificate from cert.activated, whose summary lists the binding.
TEST_F(CrossFeatureTest, DeclaredBindingOfAPendingCsrIsMadeAtOnce) {
  pipeline::GeneratedCsr csr = Generate("web.example");
  MustCreateCsr("web", csr);
  auto reconciled =
      inventory_->ReconcileBindings({{.entry = "web", .resource = "lb-prod:443"}}, kNow);
  ASSERT_TRUE(reconciled) << reconciled.error().message;
  EXPECT_TRUE(reconciled->problems.empty()) << reconciled->problems.dump(2);
  ASSERT_EQ(Types(reconciled->events), std::vector<std::string>{"cert.bound"});
  json bound = Payload(reconciled->events[0])["certificate"];
  EXPECT_EQ(bound["status"], "pre_activation");
  EXPECT_EQ(bound["bindings"][0]["resource"], "lb-prod:443");
  EXPECT_EQ(MustList({.status = "pre_activation"}).at(0)["bindings"].size(), 1u);

  ImportOutcome activated = ImportCert(SignFor(csr, "web.example", 200), false);
  ASSERT_EQ(Types(activated.events), std::vector<std::string>{"cert.activated"});
  json certificate = Payload(activated.events[0])["certificate"];
  EXPECT_EQ(certificate["status"], "valid");
  EXPECT_EQ(certificate["bindings"][0]["resource"], "lb-prod:443");

  // A bound CSR entry is not deleted, pending or not.
  pipeline::GeneratedCsr other = Generate("api.example");
  MustCreateCsr("api", other);
  ASSERT_TRUE(inventory_->Bind("api", "lb-api:443", std::nullopt, kNow));
  auto refused = inventory_->Delete({"api"}, kNow);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->results[0]["error"]["code"], "bound");
}

// rollback and meta on a CSR entry that has no certificate yet.
TEST_F(CrossFeatureTest, RollbackAndMetaOnAPendingCsr) {
  pipeline::GeneratedCsr csr = Generate("web.example");
  MustCreateCsr("web", csr);
  auto rolled = inventory_->RollbackTo("web", 1, kNow);
  ASSERT_FALSE(rolled);
  EXPECT_EQ(rolled.error().code, "not_activated");

  MetaChange change;
  change.description = "for the 2027 front door";
  change.set = {{"owner", "team-web"}};
  auto meta = inventory_->UpdateMeta("web", change, kNow);
  ASSERT_TRUE(meta) << meta.error().message;
  ASSERT_TRUE(meta->event);
  json certificate = Payload(*meta->event)["certificate"];
  EXPECT_EQ(certificate["status"], "pre_activation");
  EXPECT_EQ(MustShow("web")["metadata"], json({{"owner", "team-web"}}));
  MetaChange on_version;
  on_version.version = 1;
  on_version.set = {{"x", "y"}};
  auto no_version = inventory_->UpdateMeta("web", on_version, kNow);
  ASSERT_FALSE(no_version);
  EXPECT_EQ(no_version.error().code, "not_found");

  // After activation, the entry's metadata set while pending is still there.
  ASSERT_EQ(ImportCert(SignFor(csr, "web.example", 200), false).activated, 1);
  EXPECT_EQ(MustShow("web")["metadata"], json({{"owner", "team-web"}}));
  EXPECT_EQ(MustShow("web")["description"], "for the 2027 front door");
}

// Export follows the current version: after a rollback the rolled-back version; after a
// renewal with a new key, the new certificate and its key.
TEST_F(CrossFeatureTest, ExportFollowsRenewalAndRollback) {
  Issued v1 = Issue(test::Leaf("web.example", 100));
  ImportCert(v1, true);
  Issued v2 = Issue(test::Leaf("web.example", 200));
  ASSERT_EQ(ImportCert(v2, true).renewals, 1);
  auto material = inventory_->ExportMaterialFor("web.example", true, kNow);
  ASSERT_TRUE(material) << material.error().message;
  EXPECT_EQ(material->version, 2);
  EXPECT_EQ(material->cert_der, v2.CertDer());
  EXPECT_EQ(material->key_pkcs8.view(), testing::KeyPkcs8Der(v2.key.get()));

  ASSERT_TRUE(inventory_->RollbackTo("web.example", 1, kNow));
  material = inventory_->ExportMaterialFor("web.example", true, kNow);
  ASSERT_TRUE(material) << material.error().message;
  EXPECT_EQ(material->version, 1);
  EXPECT_EQ(material->cert_der, v1.CertDer());
  EXPECT_EQ(material->key_pkcs8.view(), testing::KeyPkcs8Der(v1.key.get()));
}

// Expiry notices of a pruned version go with it; the current version is announced as usual.
TEST_F(CrossFeatureTest, ExpiryNoticesOfPrunedVersionsGoWithThem) {
  ReopenWith(1);
  ImportCert(Issue(test::Leaf("web.example", 5)), true);
  auto scanned = test::ScanExpiryDays(*inventory_, {30, 7}, kNow);
  ASSERT_TRUE(scanned);
  ASSERT_EQ(scanned->size(), 1u);
  EXPECT_GT(Scalar("SELECT COUNT(*) FROM expiry_notices"), 0);
  ASSERT_EQ(ImportCert(Issue(test::Leaf("web.example", 20)), true).renewals, 1);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM expiry_notices"), 0);
  ExpectNoDanglingReferences();
  scanned = test::ScanExpiryDays(*inventory_, {30, 7}, kNow);
  ASSERT_TRUE(scanned);
  ASSERT_EQ(scanned->size(), 1u);
  json event = Payload(scanned->at(0));
  EXPECT_EQ(event["certificate"]["version"], 2);
  EXPECT_EQ(event["threshold_days"], 30);
}

// rm of a CA entry with several versions: refused while a leaf chains to any of its versions
// (rollback may need the old one), deleted with the leaf in one command, nothing left behind.
TEST_F(CrossFeatureTest, RmOfACaWithSeveralVersions) {
  Issued ca1 = Issue(test::Ca("Test CA"));
  testing::CertSpec later = test::Ca("Test CA");
  later.not_after = kNow + 4000 * kDay;
  Issued ca2 = Issue(later);
  Drop first;
  first.Cert(ca1, false, {"self_signed"});
  MustImport(first.Request("ca-1.pem"));
  Drop second;
  second.Cert(ca2, false, {"self_signed"});
  ASSERT_EQ(MustImport(second.Request("ca-2.pem")).renewals, 1);
  Drop leaf;
  leaf.Cert(Issue(test::Leaf("web.example", 200), &ca1), true, {}, {ca1.Fingerprint()});
  MustImport(leaf.Request("web.pem"));

  auto refused = inventory_->Delete({"Test CA"}, kNow);
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_EQ(refused->results[0]["error"]["code"], "ca_in_use");
  EXPECT_EQ(refused->results[0]["chained_by"], json({"default/web.example"}));
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM versions"), 3);

  auto deleted = inventory_->Delete({"Test CA", "web.example"}, kNow);
  ASSERT_TRUE(deleted) << deleted.error().message;
  EXPECT_EQ(deleted->deleted, 2);
  EXPECT_TRUE(deleted->deleted_ca);
  ASSERT_EQ(deleted->events.size(), 2u);
  EXPECT_EQ(Payload(deleted->events[0])["certificate"]["version"], 2);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM versions"), 0);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM keys"), 0);
  ExpectNoDanglingReferences();
  auto cas = inventory_->CaCertificates();
  ASSERT_TRUE(cas);
  EXPECT_TRUE(cas->empty());
}

}  // namespace
}  // namespace certinbox::storage
