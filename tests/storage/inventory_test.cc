// Inventory: the outbox, batching, List/Show, persistence and migrations.
#include "storage/inventory.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "storage/migrations.h"
#include "tests/storage/drop_fixture.h"

namespace certinbox::storage {
namespace {

using test::Drop;
using test::kDay;
using test::kNow;
using test::Payload;
using testing::Issue;
using testing::Issued;

class InventoryTest : public test::InventoryTest {
 protected:
  // Imports a key-less leaf named `name` expiring in `days`.
  void ImportLeaf(const std::string& cn, int64_t days, DropMetadata meta = {}) {
    Drop drop;
    drop.Cert(Issue(test::Leaf(cn, days)));
    MustImport(drop.Request(cn + ".pem", std::move(meta)));
  }

  // Runs a query on the database file with a second connection.
  int64_t QueryInt(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    int64_t value = -1;
    if (sqlite3_step(st) == SQLITE_ROW) value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    return value;
  }

  static std::vector<std::string> Names(const nlohmann::json& list) {
    std::vector<std::string> names;
    for (const auto& s : list) names.push_back(s["name"]);
    return names;
  }
};

TEST_F(InventoryTest, EventSeqsGrowAndPayloadsCarryTheirSeq) {
  for (int i = 0; i < 5; ++i) ImportLeaf("e" + std::to_string(i) + ".example", 100);
  ASSERT_TRUE(inventory_->RecordRejection("main", "x", {"empty_file", "empty"}, kNow + 5));
  auto events = inventory_->EventsSince(0, 0);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 6u);
  int64_t last = 0;
  for (const Event& e : *events) {
    EXPECT_GT(e.seq, last);
    last = e.seq;
    nlohmann::json p = Payload(e);
    EXPECT_EQ(p["seq"], e.seq);
    EXPECT_EQ(p["type"], e.type);
  }
  EXPECT_EQ(Payload(events->back())["time"], "2026-11-23T09:00:05Z");

  auto tail = inventory_->EventsSince((*events)[2].seq, 0);
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->size(), 3u);
  EXPECT_EQ((*tail)[0].seq, (*events)[3].seq);
  auto limited = inventory_->EventsSince(0, 2);
  ASSERT_TRUE(limited);
  ASSERT_EQ(limited->size(), 2u);
  EXPECT_EQ((*limited)[1].json, (*events)[1].json);
  EXPECT_TRUE(inventory_->EventsSince(last, 10)->empty());
  EXPECT_EQ(inventory_->Count(kNow)->last_seq, last);
}

TEST_F(InventoryTest, EventSeqsAreNeverReusedAfterEventsAreDeleted) {
  for (int i = 0; i < 3; ++i) ImportLeaf("p" + std::to_string(i) + ".example", 100);
  const int64_t last = inventory_->Count(kNow)->last_seq;
  ASSERT_EQ(last, 3);
  // What pruning the outbox would do: even the newest rows go.
  EXPECT_EQ(QueryInt("DELETE FROM events RETURNING 0"), 0);
  ASSERT_EQ(QueryInt("SELECT count(*) FROM events"), 0);
  Reopen();
  ImportLeaf("after.example", 100);
  auto events = inventory_->EventsSince(0, 0);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].seq, last + 1);
  EXPECT_EQ(Payload((*events)[0])["seq"], last + 1);
}

TEST_F(InventoryTest, PublishedSeqPersists) {
  EXPECT_EQ(inventory_->PublishedSeq().value_or(-1), 0);
  ASSERT_TRUE(inventory_->SetPublishedSeq(42));
  EXPECT_EQ(inventory_->PublishedSeq().value_or(-1), 42);
  Reopen();
  EXPECT_EQ(inventory_->PublishedSeq().value_or(-1), 42);
}

TEST_F(InventoryTest, BatchCommitKeepsEveryImport) {
  ASSERT_TRUE(inventory_->Begin());
  std::vector<int64_t> seqs;
  for (int i = 0; i < 3; ++i) {
    Drop drop;
    drop.Cert(Issue(test::Leaf("batch" + std::to_string(i) + ".example")), true);
    ImportOutcome out = MustImport(drop.Request("b.pem"));
    ASSERT_EQ(out.events.size(), 1u);
    seqs.push_back(out.events[0].seq);
  }
  ASSERT_TRUE(inventory_->Commit());
  EXPECT_LT(seqs[0], seqs[1]);
  EXPECT_LT(seqs[1], seqs[2]);
  Reopen();
  EXPECT_EQ(MustList().size(), 3u);
  EXPECT_EQ(inventory_->EventsSince(0, 0)->size(), 3u);
}

TEST_F(InventoryTest, BatchRollbackDiscardsEverything) {
  ImportLeaf("kept.example", 100);
  ASSERT_TRUE(inventory_->Begin());
  Issued leaf = Issue(test::Leaf("dropped.example"));
  Drop drop;
  drop.Cert(leaf, true);
  MustImport(drop.Request("d.pem"));
  ASSERT_TRUE(inventory_->RecordRejection("main", "r", {"bad_key", "bad"}, kNow));
  EXPECT_EQ(MustList().size(), 2u);  // visible inside the batch
  inventory_->Rollback();
  EXPECT_EQ(Names(MustList()), std::vector<std::string>{"kept.example"});
  EXPECT_EQ(inventory_->EventsSince(0, 0)->size(), 1u);
  EXPECT_FALSE(inventory_->PrivateKeyFor(leaf.SpkiFingerprint()));
  EXPECT_FALSE(inventory_->Commit());  // no batch open any more
  // The next batch works normally.
  ASSERT_TRUE(inventory_->Begin());
  MustImport(drop.Request("d.pem"));
  ASSERT_TRUE(inventory_->Commit());
  EXPECT_EQ(MustList().size(), 2u);
}

TEST_F(InventoryTest, BeginTwiceIsRefused) {
  ASSERT_TRUE(inventory_->Begin());
  EXPECT_FALSE(inventory_->Begin());
  EXPECT_TRUE(inventory_->Commit());
}

// An import that fails after writing (its key was stored, then its sidecar name turned out to
// be an entry it does not renew) undoes only itself, inside a batch and outside one.
TEST_F(InventoryTest, FailedImportUndoesOnlyItself) {
  Issued victim = Issue(test::Leaf("victim.example"));
  const std::string fp = victim.Fingerprint();
  for (const std::string& name :
       {std::string("taken"), "taken (" + fp.substr(0, 8) + ")", "taken (" + fp + ")"}) {
    Drop d;
    d.Cert(Issue(test::Leaf("filler.example")));
    MustImport(d.Request("f.pem", test::Named(name)));
  }
  Drop bad;
  bad.Cert(victim, true);
  for (bool batch : {false, true}) {
    SCOPED_TRACE(batch ? "in a batch" : "alone");
    if (batch) {
      ASSERT_TRUE(inventory_->Begin());
      ImportLeaf("before.example", 10);
    }
    auto out = inventory_->Import(bad.Request("bad.pem", test::Named("taken")));
    ASSERT_FALSE(out);
    // "taken" names an entry the victim does not renew (it expires no later): refused.
    EXPECT_EQ(out.error().code, "not_a_renewal");
    EXPECT_FALSE(inventory_->PrivateKeyFor(victim.SpkiFingerprint()));  // key write undone
    EXPECT_TRUE(inventory_->UnmatchedKeys()->empty());
    if (batch) {
      ImportLeaf("after.example", 10);
      ASSERT_TRUE(inventory_->Commit());
    }
  }
  Reopen();
  auto names = Names(MustList());
  EXPECT_EQ(names.size(), 5u);
  EXPECT_NE(std::find(names.begin(), names.end(), "before.example"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "after.example"), names.end());
  EXPECT_EQ(inventory_->Count(kNow)->imports, 5);
}

TEST_F(InventoryTest, ListFiltersAndSorts) {
  ImportLeaf("b-valid.example", 200);
  ImportLeaf("a-expired.example", -3);
  DropMetadata prod;
  prod.group = "prod";
  prod.labels = {"edge", "public"};
  ImportLeaf("c-soon.example", 10, prod);
  ImportLeaf("d-later.example", 60);

  EXPECT_EQ(Names(MustList()), (std::vector<std::string>{"a-expired.example", "b-valid.example",
                                                         "c-soon.example", "d-later.example"}));
  ListFilter by_expiry;
  by_expiry.sort = "expiry";
  EXPECT_EQ(Names(MustList(by_expiry)),
            (std::vector<std::string>{"a-expired.example", "c-soon.example", "d-later.example",
                                      "b-valid.example"}));

  ListFilter expired;
  expired.status = "expired";
  nlohmann::json list = MustList(expired);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["status"], "expired");
  EXPECT_EQ(list[0]["days_left"], -3);

  ListFilter soon;
  soon.status = "expiring_soon";
  EXPECT_EQ(Names(MustList(soon)), (std::vector<std::string>{"c-soon.example", "d-later.example"}));
  ListFilter valid;
  valid.status = "valid";
  EXPECT_EQ(Names(MustList(valid)), std::vector<std::string>{"b-valid.example"});
  ListFilter pre;
  pre.status = "pre_activation";
  EXPECT_TRUE(MustList(pre).empty());

  ListFilter group;
  group.group = "prod";
  EXPECT_EQ(Names(MustList(group)), std::vector<std::string>{"c-soon.example"});
  ListFilter label;
  label.label = "public";
  EXPECT_EQ(Names(MustList(label)), std::vector<std::string>{"c-soon.example"});
  label.label = "publ";
  EXPECT_TRUE(MustList(label).empty());

  ListFilter within;
  within.expiring_within_seconds = 30 * kDay;
  within.sort = "expiry";
  EXPECT_EQ(Names(MustList(within)),
            (std::vector<std::string>{"a-expired.example", "c-soon.example"}));
  within.group = "default";
  EXPECT_EQ(Names(MustList(within)), std::vector<std::string>{"a-expired.example"});

  ListFilter bad_sort;
  bad_sort.sort = "size";
  auto refused = inventory_->List(bad_sort, kNow);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "bad_filter");
  ListFilter bad_status;
  bad_status.status = "great";
  EXPECT_FALSE(inventory_->List(bad_status, kNow));

  auto counts = inventory_->Count(kNow);
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->valid, 1);
  EXPECT_EQ(counts->expiring_soon, 2);
  EXPECT_EQ(counts->expired, 1);
}

TEST_F(InventoryTest, ShowFindsByIdNameAndGroupName) {
  DropMetadata meta = test::Named("shop", "prod");
  meta.description = "the shop";
  meta.metadata = {{"owner", "team-a"}};
  Issued leaf = Issue(test::Leaf("shop.example"));
  Drop drop;
  drop.Cert(leaf);
  ImportOutcome out = MustImport(drop.Request("shop.pem", meta));
  const int64_t id = Payload(out.events[0])["certificate"]["id"];

  auto by_name = inventory_->Show("shop", kNow);
  ASSERT_TRUE(by_name) << by_name.error().message;
  EXPECT_EQ((*by_name)["id"], id);
  EXPECT_EQ((*by_name)["description"], "the shop");
  EXPECT_EQ((*by_name)["metadata"]["owner"], "team-a");
  EXPECT_EQ((*by_name)["created_at"], "2026-11-23T09:00:00Z");
  ASSERT_EQ((*by_name)["versions"].size(), 1u);
  const nlohmann::json& v = (*by_name)["versions"][0];
  EXPECT_EQ(v["version"], 1);
  EXPECT_EQ(v["fingerprint_sha256"], leaf.Fingerprint());
  EXPECT_EQ(v["imported_at"], "2026-11-23T09:00:00Z");
  EXPECT_EQ(v["source"]["file"], "shop.pem");

  auto by_id = inventory_->Show(std::to_string(id), kNow);
  ASSERT_TRUE(by_id);
  EXPECT_EQ((*by_id)["name"], "shop");
  auto by_group = inventory_->Show("prod/shop", kNow);
  ASSERT_TRUE(by_group);
  EXPECT_EQ((*by_group)["id"], id);

  // The same name in a second group: a plain name is ambiguous, group/name is not.
  Drop other;
  other.Cert(Issue(test::Leaf("shop2.example")));
  MustImport(other.Request("shop2.pem", test::Named("shop", "staging")));
  auto ambiguous = inventory_->Show("shop", kNow);
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().code, "ambiguous");
  EXPECT_NE(ambiguous.error().message.find("prod"), std::string::npos);
  EXPECT_NE(ambiguous.error().message.find("staging"), std::string::npos);
  auto staging = inventory_->Show("staging/shop", kNow);
  ASSERT_TRUE(staging);
  EXPECT_NE((*staging)["id"], id);

  for (std::string missing : {"nope", "prod/nope", "99999", ""}) {
    auto r = inventory_->Show(missing, kNow);
    ASSERT_FALSE(r) << missing;
    EXPECT_EQ(r.error().code, "not_found");
  }
}

TEST_F(InventoryTest, ReopeningKeepsDataAndAppliesMigrationsOnce) {
  ImportLeaf("persist.example", 100);
  Reopen();
  Reopen();
  EXPECT_EQ(Names(MustList()), std::vector<std::string>{"persist.example"});
  // Each embedded migration recorded once.
  const auto migrations = static_cast<int64_t>(EmbeddedMigrations().size());
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM schema_migrations"), migrations);
  // Numbers may have gaps (each feature branch owns its number): the newest is the last one.
  EXPECT_EQ(QueryInt("SELECT MAX(version) FROM schema_migrations"),
            EmbeddedMigrations().back().version);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close_v2(db);
}

TEST_F(InventoryTest, ExporterNamesAreStoredAtImportAndFilledInForOlderVersions) {
  ImportLeaf("names.example", 100);
  const std::string serial_of_version =
      "(SELECT n.serial_decimal FROM version_names n JOIN versions v ON v.id = n.version_id)";
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM version_names WHERE subject_cn = 'names.example'"), 1);
  EXPECT_GT(QueryInt("SELECT length(" + serial_of_version + ")"), 0);
  // A database from before migration 009: its versions have no names until it is next opened.
  inventory_.reset();
  ASSERT_EQ(QueryInt("DELETE FROM version_names RETURNING 1"), 1);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM version_names"), 0);
  auto vault = Vault::OpenOrCreate(dir_.path() / "master.key");
  ASSERT_TRUE(vault);
  int64_t told = -1;
  auto reopened = Inventory::Open(db_path(), std::move(*vault), InventoryOptions{},
                                  [&](int64_t missing) { told = missing; });
  ASSERT_TRUE(reopened) << reopened.error().message;
  inventory_ = std::move(*reopened);
  EXPECT_EQ(told, 1);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM version_names WHERE subject_cn = 'names.example'"), 1);
  told = -1;
  Reopen();  // nothing missing: nothing to tell
  // Deleted with their version.
  ASSERT_TRUE(inventory_->Delete({"names.example"}, kNow));
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM version_names"), 0);
}

TEST_F(InventoryTest, DatabaseNewerThanTheBinaryIsRefused) {
  inventory_.reset();
  ASSERT_EQ(QueryInt("INSERT INTO schema_migrations VALUES (999, 'future', 0) RETURNING version"),
            999);
  auto vault = Vault::OpenOrCreate(dir_.path() / "master.key");
  ASSERT_TRUE(vault);
  auto refused = Inventory::Open(db_path(), std::move(*vault), InventoryOptions{});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "storage_schema_too_new");
  EXPECT_NE(refused.error().message.find("999"), std::string::npos);
}

TEST_F(InventoryTest, DatabaseFileIsPrivate) {
  struct stat st {};
  ASSERT_EQ(::stat(db_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

TEST_F(InventoryTest, ExpiringSoonDaysComesFromTheOptions) {
  ImportLeaf("fifty.example", 50);
  EXPECT_EQ(MustList()[0]["status"], "expiring_soon");
  inventory_.reset();
  auto vault = Vault::OpenOrCreate(dir_.path() / "master.key");
  ASSERT_TRUE(vault);
  auto inventory = Inventory::Open(db_path(), std::move(*vault),
                                   InventoryOptions{.expiry = test::DaysPolicy(30)});
  ASSERT_TRUE(inventory);
  inventory_ = std::move(*inventory);
  EXPECT_EQ(MustList()[0]["status"], "valid");
}

}  // namespace
}  // namespace certinbox::storage
