// Renewals (by sidecar name, by CN and SAN set), max_versions pruning, rollback and `meta`,
// against a real SQLite inventory.
#include <gtest/gtest.h>

#include "base/time.h"
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

std::vector<std::string> Types(const ImportOutcome& outcome) {
  std::vector<std::string> out;
  for (const Event& e : outcome.events) out.push_back(e.type);
  return out;
}

class VersionsTest : public test::InventoryTest {
 protected:
  // Reopens the inventory with another max_versions.
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

  // One leaf with its key, CN `cn`, expiring `days` after kNow, imported with `meta`.
  Issued ImportLeaf(const std::string& cn, int64_t days, DropMetadata meta = {},
                    ImportOutcome* outcome = nullptr, std::vector<std::string> sans = {}) {
    Issued leaf = Issue(test::Leaf(cn, days));
    Drop d;
    d.Cert(leaf, /*with_key=*/true);
    if (!sans.empty()) d.LastInfo().sans = sans;
    ImportOutcome out = MustImport(d.Request(cn + ".pem", std::move(meta)));
    if (outcome != nullptr) *outcome = std::move(out);
    return leaf;
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
};

TEST_F(VersionsTest, RenewalBySidecarNameKeepsTheEntryAndItsBindings) {
  DropMetadata web = test::Named("web");
  web.description = "front door";
  web.labels = {"prod"};
  web.metadata = {{"owner", "team-web"}};
  ImportOutcome first;
  Issued v1 = ImportLeaf("www.example", 100, web, &first);
  ASSERT_EQ(first.events.size(), 1u);
  const int64_t id = Payload(first.events[0])["certificate"]["id"];
  Sql("INSERT INTO bindings (entry_id, resource, plugin, created_at) VALUES (" +
      std::to_string(id) + ", 'lb-prod:443', 'deploy', 0)");

  // Another CN: the sidecar's name is what says "this renews web". Its [metadata] is the new
  // version's; the entry keeps its own description, labels and metadata.
  DropMetadata renewal = test::Named("web");
  renewal.description = "ignored on a renewal";
  renewal.metadata = {{"ticket", "CHG-7"}};
  ImportOutcome second;
  Issued v2 = ImportLeaf("www2.example", 400, renewal, &second);
  EXPECT_EQ(second.new_entries, 0);
  EXPECT_EQ(second.renewals, 1);
  ASSERT_EQ(Types(second), std::vector<std::string>{"cert.renewed"});
  json event = Payload(second.events[0]);
  EXPECT_EQ(event["certificate"]["id"], id);
  EXPECT_EQ(event["certificate"]["name"], "web");
  EXPECT_EQ(event["certificate"]["version"], 2);
  EXPECT_EQ(event["certificate"]["fingerprint_sha256"], v2.Fingerprint());
  EXPECT_TRUE(event["certificate"]["has_private_key"].get<bool>());
  EXPECT_EQ(event["certificate"]["bindings"][0]["resource"], "lb-prod:443");
  EXPECT_EQ(event["previous"]["version"], 1);
  EXPECT_EQ(event["previous"]["fingerprint_sha256"], v1.Fingerprint());
  EXPECT_EQ(event["previous"]["not_after"], base::FormatRfc3339(kNow + 100 * kDay));
  EXPECT_EQ(event["rollback"], false);

  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM bindings WHERE entry_id = " + std::to_string(id) +
                   " AND resource = 'lb-prod:443'"),
            1);
  EXPECT_EQ(MustList().size(), 1u);
  json shown = MustShow("web");
  EXPECT_EQ(shown["description"], "front door");
  EXPECT_EQ(shown["labels"], json({"prod"}));
  EXPECT_EQ(shown["metadata"], json({{"owner", "team-web"}}));
  ASSERT_EQ(shown["versions"].size(), 2u);
  EXPECT_EQ(shown["versions"][0]["version"], 1);
  EXPECT_EQ(shown["versions"][0]["current"], false);
  EXPECT_EQ(shown["versions"][0]["status"], "valid");
  EXPECT_EQ(shown["versions"][0]["metadata"], json({{"owner", "team-web"}}));
  EXPECT_EQ(shown["versions"][1]["current"], true);
  EXPECT_EQ(shown["versions"][1]["fingerprint_sha256"], v2.Fingerprint());
  EXPECT_EQ(shown["versions"][1]["metadata"], json({{"ticket", "CHG-7"}}));
  EXPECT_EQ(shown["versions"][1]["source"]["file"], "www2.example.pem");
}

TEST_F(VersionsTest, RenewalBySameCnAndSanSetInAnyOrder) {
  Issued v1 = ImportLeaf("api.example", 100, {}, nullptr, {"DNS:api.example", "DNS:b.example"});
  ImportOutcome renewed;
  Issued v2 = ImportLeaf("api.example", 200, {}, &renewed, {"DNS:b.example", "DNS:api.example"});
  ASSERT_EQ(Types(renewed), std::vector<std::string>{"cert.renewed"});
  EXPECT_EQ(Payload(renewed.events[0])["certificate"]["version"], 2);
  EXPECT_EQ(Payload(renewed.events[0])["certificate"]["name"], "api.example");

  // Not renewals, so new entries: another SAN set, another group, an earlier expiry.
  ImportOutcome other;
  ImportLeaf("api.example", 300, {}, &other, {"DNS:api.example"});
  EXPECT_EQ(Types(other), std::vector<std::string>{"cert.imported"});
  DropMetadata staging;
  staging.group = "staging";
  ImportLeaf("api.example", 300, staging, &other, {"DNS:api.example", "DNS:b.example"});
  EXPECT_EQ(Types(other), std::vector<std::string>{"cert.imported"});
  ImportLeaf("api.example", 150, {}, &other, {"DNS:api.example", "DNS:b.example"});
  EXPECT_EQ(Types(other), std::vector<std::string>{"cert.imported"});
  EXPECT_EQ(MustList().size(), 4u);
  EXPECT_EQ(MustShow("default/api.example")["version"], 2);
}

TEST_F(VersionsTest, SidecarNameOfAnEntryThatIsNotRenewedRefusesTheDrop) {
  Issued v1 = ImportLeaf("www.example", 300, test::Named("web"));
  for (int64_t days : {200, 300}) {  // earlier, and the same expiry
    SCOPED_TRACE(days);
    Issued older = Issue(test::Leaf("www.example", days));
    Drop d;
    d.Cert(older, true);
    auto out = inventory_->Import(d.Request("older.pem", test::Named("web")));
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code, "not_a_renewal");
    EXPECT_NE(out.error().message.find("not later"), std::string::npos) << out.error().message;
  }
  // A CA certificate named like a leaf entry is no renewal of it either.
  Issued ca = Issue(test::Ca("Web CA"));
  Drop d;
  d.Cert(ca);
  auto out = inventory_->Import(d.Request("ca.pem", test::Named("web")));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, "not_a_renewal");
  // Nothing of the refused drops stayed: one entry, one version, no stray key.
  EXPECT_EQ(MustList().size(), 1u);
  EXPECT_EQ(MustShow("web")["versions"].size(), 1u);
  EXPECT_EQ(inventory_->Count(kNow)->unmatched_keys, 0);
}

TEST_F(VersionsTest, RenewalKeyIsMatchedByPublicKeyFromTheDropALaterDropOrAWaitingKey) {
  ImportLeaf("www.example", 100, test::Named("web"));
  // Without its key: the renewal lacks one until the key arrives.
  Issued v2 = Issue(test::Leaf("www.example", 200));
  Drop cert_only;
  cert_only.Cert(v2);
  ImportOutcome renewed = MustImport(cert_only.Request("v2.pem", test::Named("web")));
  ASSERT_EQ(Types(renewed), std::vector<std::string>{"cert.renewed"});
  EXPECT_FALSE(Payload(renewed.events[0])["certificate"]["has_private_key"].get<bool>());
  Drop key;
  key.Key(v2);
  ImportOutcome attached = MustImport(key.Request("v2.key"));
  ASSERT_EQ(Types(attached), std::vector<std::string>{"cert.updated"});
  json updated = Payload(attached.events[0]);
  EXPECT_EQ(updated["certificate"]["name"], "web");
  EXPECT_EQ(updated["certificate"]["version"], 2);
  EXPECT_TRUE(updated["certificate"]["has_private_key"].get<bool>());

  // The key first, waiting; then the renewal, which finds it.
  Issued v3 = Issue(test::Leaf("www.example", 300));
  Drop early_key;
  early_key.Key(v3);
  MustImport(early_key.Request("v3.key"));
  EXPECT_EQ(inventory_->Count(kNow)->unmatched_keys, 1);
  Drop late_cert;
  late_cert.Cert(v3);
  renewed = MustImport(late_cert.Request("v3.pem", test::Named("web")));
  ASSERT_EQ(Types(renewed), std::vector<std::string>{"cert.renewed"});
  EXPECT_TRUE(Payload(renewed.events[0])["certificate"]["has_private_key"].get<bool>());
  EXPECT_EQ(inventory_->Count(kNow)->unmatched_keys, 0);
}

TEST_F(VersionsTest, VersionsBeyondMaxVersionsArePrunedWithTheirNoticesAndKeys) {
  ReopenWith(3);
  std::vector<Issued> versions;
  versions.push_back(ImportLeaf("www.example", 10, test::Named("web")));
  // v1 is inside the 30-day threshold: it gets an expiry notice, which must go with it.
  ASSERT_TRUE(test::ScanExpiryDays(*inventory_, {30}, kNow));
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM expiry_notices"), 1);
  for (int i = 2; i <= 5; ++i) {
    ImportOutcome out;
    versions.push_back(ImportLeaf("www.example", 100 * i, test::Named("web"), &out));
    ASSERT_EQ(Types(out), std::vector<std::string>{"cert.renewed"});
    EXPECT_EQ(Payload(out.events[0])["certificate"]["version"], i);
  }
  json shown = MustShow("web");
  ASSERT_EQ(shown["versions"].size(), 3u);
  EXPECT_EQ(shown["versions"][0]["version"], 3);
  EXPECT_EQ(shown["versions"][2]["version"], 5);
  EXPECT_EQ(shown["versions"][2]["current"], true);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM versions"), 3);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM expiry_notices"), 0);
  // The pruned versions' keys are gone, not left behind as "unmatched".
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM keys"), 3);
  EXPECT_EQ(inventory_->Count(kNow)->unmatched_keys, 0);
  auto gone = inventory_->PrivateKeyFor(versions[0].SpkiFingerprint());
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, "not_found");
  EXPECT_TRUE(inventory_->PrivateKeyFor(versions[4].SpkiFingerprint()));

  // A key two versions share stays while one of them does.
  ReopenWith(1);
  Issued shared = versions[4];
  Issued reissued = Issue(test::Leaf("www.example", 900), nullptr, shared.key.get());
  ImportOutcome out;
  Drop d;
  d.Cert(reissued, true);
  out = MustImport(d.Request("reissued.pem", test::Named("web")));
  ASSERT_EQ(Types(out), std::vector<std::string>{"cert.renewed"});
  EXPECT_EQ(MustShow("web")["versions"].size(), 1u);
  EXPECT_TRUE(inventory_->PrivateKeyFor(shared.SpkiFingerprint()));
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM keys"), 1);
}

TEST_F(VersionsTest, RollbackToAnEarlierUnexpiredVersion) {
  Issued v1 = ImportLeaf("www.example", 100, test::Named("web"));
  Issued v2 = ImportLeaf("www.example", 400, test::Named("web"));
  const int64_t id = MustShow("web")["id"];
  Sql("INSERT INTO bindings (entry_id, resource, created_at) VALUES (" + std::to_string(id) +
      ", 'lb-prod:443', 0)");

  auto event = inventory_->RollbackTo("web", 1, kNow + kDay);
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_EQ(event->type, "cert.renewed");
  json payload = Payload(*event);
  EXPECT_EQ(payload["rollback"], true);
  EXPECT_EQ(payload["certificate"]["id"], id);
  EXPECT_EQ(payload["certificate"]["version"], 1);
  EXPECT_EQ(payload["certificate"]["fingerprint_sha256"], v1.Fingerprint());
  EXPECT_EQ(payload["certificate"]["bindings"][0]["resource"], "lb-prod:443");
  EXPECT_EQ(payload["previous"]["version"], 2);
  EXPECT_EQ(payload["previous"]["fingerprint_sha256"], v2.Fingerprint());
  json shown = MustShow(std::to_string(id));
  EXPECT_EQ(shown["versions"][0]["current"], true);
  EXPECT_EQ(shown["versions"][1]["current"], false);
  EXPECT_EQ(MustList()[0]["fingerprint_sha256"], v1.Fingerprint());

  // Forward again is allowed too; the rolled-back-to version expiring raises cert.expired.
  ASSERT_TRUE(inventory_->RollbackTo("web", 2, kNow + kDay));
  ASSERT_TRUE(inventory_->RollbackTo("web", 1, kNow + kDay));
  auto scanned = test::ScanExpiryDays(*inventory_, {}, kNow + 101 * kDay);
  ASSERT_TRUE(scanned);
  ASSERT_EQ(scanned->size(), 1u);
  EXPECT_EQ((*scanned)[0].type, "cert.expired");
  EXPECT_EQ(Payload((*scanned)[0])["certificate"]["fingerprint_sha256"], v1.Fingerprint());
}

TEST_F(VersionsTest, RollbackRefusals) {
  ImportLeaf("www.example", 100, test::Named("web"));
  ImportLeaf("www.example", 400, test::Named("web"));
  struct Case {
    std::string entry;
    int64_t to;
    base::UnixTime now;
    std::string code;
  };
  for (const Case& c : std::vector<Case>{
           {"web", 9, kNow, "not_found"},
           {"nothing", 1, kNow, "not_found"},
           {"web", 2, kNow, "already_current"},
           {"web", 1, kNow + 100 * kDay, "version_expired"},  // the instant it expires
           {"web", 1, kNow + 200 * kDay, "version_expired"},
       }) {
    SCOPED_TRACE(c.entry + " --to " + std::to_string(c.to));
    auto out = inventory_->RollbackTo(c.entry, c.to, c.now);
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code, c.code);
  }
  auto expired = inventory_->RollbackTo("web", 1, kNow + 200 * kDay);
  EXPECT_NE(expired.error().message.find(base::FormatRfc3339(kNow + 100 * kDay)), std::string::npos)
      << expired.error().message;
  EXPECT_EQ(MustShow("web")["version"], 2);
  EXPECT_EQ(inventory_->Count(kNow)->last_seq, 2);  // the two imports' events only
}

TEST_F(VersionsTest, CaCertificatesRenewBySubject) {
  Issued ca1 = Issue(test::Ca("Example Issuing CA"));
  Drop d1;
  d1.Cert(ca1);
  ImportOutcome first = MustImport(d1.Request("ca1.pem"));
  ASSERT_EQ(Types(first), std::vector<std::string>{"cert.imported"});
  testing::CertSpec spec = test::Ca("Example Issuing CA");
  spec.not_after = *spec.not_after + 365 * kDay;
  Issued ca2 = Issue(spec);
  Drop d2;
  d2.Cert(ca2);
  ImportOutcome second = MustImport(d2.Request("ca2.pem"));
  ASSERT_EQ(Types(second), std::vector<std::string>{"cert.renewed"});
  EXPECT_TRUE(second.stored_ca);
  EXPECT_EQ(Payload(second.events[0])["certificate"]["kind"], "ca");
  // Both stay trust anchors for chains built from them.
  EXPECT_EQ(inventory_->CaCertificates()->size(), 2u);
}

TEST_F(VersionsTest, PrunedCaVersionsThatAStoredChainNamesAreKept) {
  ReopenWith(1);
  Issued ca1 = Issue(test::Ca("Example Issuing CA"));
  Drop d1;
  d1.Cert(ca1);
  MustImport(d1.Request("ca1.pem"));
  Drop leaf;
  leaf.Cert(Issue(test::Leaf("www.example"), &ca1), true, {}, {ca1.Fingerprint()});
  MustImport(leaf.Request("leaf.pem"));
  testing::CertSpec spec = test::Ca("Example Issuing CA");
  spec.not_after = *spec.not_after + 365 * kDay;
  Drop d2;
  d2.Cert(Issue(spec));
  ASSERT_EQ(Types(MustImport(d2.Request("ca2.pem"))), std::vector<std::string>{"cert.renewed"});
  EXPECT_EQ(MustShow("Example Issuing CA")["versions"].size(), 2u);
}

TEST_F(VersionsTest, MetaChangesEntryAndVersionMetadataWithOneEventPerCall) {
  DropMetadata web = test::Named("web");
  web.labels = {"staging"};
  web.metadata = {{"owner", "team-web"}, {"ticket", "CHG-1"}};
  ImportLeaf("www.example", 100, web);

  MetaChange change;
  change.description = "front door";
  change.add_labels = {"prod", "edge"};
  change.remove_labels = {"staging"};
  change.set = {{"owner", "team-edge"}};
  change.unset = {"ticket"};
  auto out = inventory_->UpdateMeta("web", change, kNow);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->changed, (std::vector<std::string>{"description", "labels", "metadata"}));
  ASSERT_TRUE(out->event);
  EXPECT_EQ(out->event->type, "cert.updated");
  json event = Payload(*out->event);
  EXPECT_EQ(event["changed"], json({"description", "labels", "metadata"}));
  EXPECT_EQ(event["certificate"]["labels"], json({"edge", "prod"}));  // sorted, as shown
  json shown = MustShow("web");
  EXPECT_EQ(shown["description"], "front door");
  EXPECT_EQ(shown["labels"], json({"edge", "prod"}));
  EXPECT_EQ(shown["metadata"], json({{"owner", "team-edge"}}));

  // The same again changes nothing: no event.
  auto again = inventory_->UpdateMeta("web", change, kNow);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->changed.empty());
  EXPECT_FALSE(again->event);

  MetaChange version;
  version.version = 1;
  version.set = {{"change", "CHG-2"}};
  auto versioned = inventory_->UpdateMeta("web", version, kNow);
  ASSERT_TRUE(versioned);
  EXPECT_EQ(versioned->changed, std::vector<std::string>{"version_metadata"});
  shown = MustShow("web");
  EXPECT_EQ(shown["versions"][0]["metadata"]["change"], "CHG-2");
  EXPECT_EQ(shown["metadata"], json({{"owner", "team-edge"}}));

  struct Bad {
    MetaChange change;
    std::string code;
  };
  std::vector<Bad> bad(4);
  bad[0].change.add_labels = {""};
  bad[0].code = "bad_request";
  bad[1].change.set = {{"", "x"}};
  bad[1].code = "bad_request";
  bad[2].change.unset = {""};
  bad[2].code = "bad_request";
  bad[3].change.version = 7;
  bad[3].change.set = {{"a", "b"}};
  bad[3].code = "not_found";
  for (const Bad& b : bad) {
    auto refused = inventory_->UpdateMeta("web", b.change, kNow);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, b.code);
  }
  EXPECT_EQ(inventory_->UpdateMeta("nothing", change, kNow).error().code, "not_found");
}

}  // namespace
}  // namespace certinbox::storage
