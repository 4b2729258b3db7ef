// The expiry scan with an injected `now`: each threshold once, expired once, across a reopen,
// and the catch-up rule (only the most urgent threshold after a gap).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <map>

#include "base/time.h"
#include "storage/inventory.h"
#include "tests/storage/drop_fixture.h"

namespace certinbox::storage {
namespace {

using test::Drop;
using test::kDay;
using test::kNow;
using test::Payload;
using testing::Issue;

const std::vector<int> kDefaultDays = {90, 30, 14, 7, 1};

class ExpiryTest : public test::InventoryTest {
 protected:
  // Imports a leaf (with its key) expiring `seconds` after kNow; returns its fingerprint.
  std::string ImportExpiringIn(const std::string& cn, int64_t seconds) {
    testing::CertSpec spec = testing::LeafSpec(cn);
    spec.not_after = kNow + seconds;
    spec.not_before = *spec.not_after - 400 * kDay;
    testing::Issued leaf = Issue(spec);
    Drop drop;
    drop.Cert(leaf, /*with_key=*/true);
    MustImport(drop.Request(cn + ".pem"));
    return leaf.Fingerprint();
  }

  std::vector<Event> Scan(base::UnixTime now, const std::vector<int>& days = kDefaultDays) {
    auto events = test::ScanExpiryDays(*inventory_, days, now);
    EXPECT_TRUE(events) << events.error().code << ": " << events.error().message;
    return events ? *events : std::vector<Event>{};
  }

  // "cert.expiring:30" / "cert.expired" for each event, in order.
  static std::vector<std::string> Describe(const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const Event& event : events) {
      nlohmann::json p = Payload(event);
      out.push_back(event.type == "cert.expiring"
                        ? event.type + ":" + std::to_string(p["threshold_days"].get<int>())
                        : event.type);
    }
    return out;
  }

  // meta.expiry_floor, read with a second connection.
  int64_t Floor() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(
        sqlite3_prepare_v2(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'expiry_floor'",
                           -1, &st, nullptr),
        SQLITE_OK);
    int64_t value = -1;
    if (sqlite3_step(st) == SQLITE_ROW) value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    return value;
  }

  // Runs statements on the database file with a second connection.
  void Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close_v2(db);
  }

  using Strings = std::vector<std::string>;
};

TEST_F(ExpiryTest, EachThresholdFiresOnceAsTimePassesThenExpiredOnce) {
  ImportExpiringIn("slow.example", 100 * kDay);
  EXPECT_TRUE(Scan(kNow).empty());
  EXPECT_TRUE(Scan(kNow + 9 * kDay).empty());  // 91 days left: no threshold yet
  // Scanned as a daily job would: each threshold once, the day it is crossed.
  std::vector<std::string> seen;
  for (int64_t day = 10; day <= 101; ++day) {
    for (const auto& d : Describe(Scan(kNow + day * kDay))) seen.push_back(d);
    // A second scan at the same moment finds nothing new.
    EXPECT_TRUE(Scan(kNow + day * kDay).empty()) << "day " << day;
  }
  EXPECT_EQ(seen, (Strings{"cert.expiring:90", "cert.expiring:30", "cert.expiring:14",
                           "cert.expiring:7", "cert.expiring:1", "cert.expired"}));
}

TEST_F(ExpiryTest, ThresholdIsCrossedWhenAtMostThatManyDaysAreLeft) {
  ImportExpiringIn("edge.example", 7 * kDay + 30 * kDay);
  // 7 days and 1 second left: 14 is the most urgent threshold crossed, 7 is not yet.
  EXPECT_EQ(Describe(Scan(kNow + 30 * kDay - 1)), (Strings{"cert.expiring:14"}));
  EXPECT_TRUE(Scan(kNow + 30 * kDay - 1).empty());
  EXPECT_EQ(Describe(Scan(kNow + 30 * kDay)), (Strings{"cert.expiring:7"}));
}

TEST_F(ExpiryTest, EventCarriesSummaryDaysLeftAndThresholdAndIsInTheOutbox) {
  std::string fingerprint = ImportExpiringIn("fields.example", 20 * kDay + 3600);
  std::vector<Event> events = Scan(kNow);
  ASSERT_EQ(events.size(), 1u);
  nlohmann::json p = Payload(events[0]);
  EXPECT_EQ(p["type"], "cert.expiring");
  EXPECT_EQ(p["seq"], events[0].seq);
  EXPECT_EQ(p["threshold_days"], 30);
  EXPECT_EQ(p["days_left"], 20);
  EXPECT_EQ(p["certificate"]["fingerprint_sha256"], fingerprint);
  EXPECT_EQ(p["certificate"]["name"], "fields.example");
  EXPECT_EQ(p["certificate"]["status"], "expiring_soon");
  EXPECT_EQ(p["certificate"]["days_left"], 20);
  EXPECT_EQ(p["time"], "2026-11-23T09:00:00Z");
  auto stored = inventory_->EventsSince(events[0].seq - 1, 0);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].json, events[0].json);

  std::vector<Event> expired = Scan(kNow + 21 * kDay);
  // 7 and 1 were never announced: once expired, only cert.expired.
  ASSERT_EQ(Describe(expired), (Strings{"cert.expired"}));
  nlohmann::json e = Payload(expired[0]);
  EXPECT_EQ(e["certificate"]["status"], "expired");
  EXPECT_FALSE(e.contains("threshold_days"));
}

TEST_F(ExpiryTest, ImportedInsideSeveralThresholdsAnnouncesOnlyTheMostUrgent) {
  ImportExpiringIn("late.example", 5 * kDay);
  EXPECT_EQ(Describe(Scan(kNow)), (Strings{"cert.expiring:7"}));
  EXPECT_TRUE(Scan(kNow + kDay).empty());
  EXPECT_EQ(Describe(Scan(kNow + 4 * kDay + 1)), (Strings{"cert.expiring:1"}));
}

TEST_F(ExpiryTest, ScanAfterALongGapSendsNoStaleThresholds) {
  ImportExpiringIn("gap.example", 100 * kDay);
  EXPECT_EQ(Describe(Scan(kNow + 15 * kDay)), (Strings{"cert.expiring:90"}));
  // Down from 85 days left to 3 days left: 30, 14 and 7 were crossed; only 7 is sent.
  EXPECT_EQ(Describe(Scan(kNow + 97 * kDay)), (Strings{"cert.expiring:7"}));
  // Down again until after the expiry: only cert.expired, not 1.
  EXPECT_EQ(Describe(Scan(kNow + 200 * kDay)), (Strings{"cert.expired"}));
  EXPECT_TRUE(Scan(kNow + 300 * kDay).empty());
}

TEST_F(ExpiryTest, NothingRepeatsAfterReopen) {
  ImportExpiringIn("restart.example", 12 * kDay);
  ImportExpiringIn("gone.example", kDay);
  EXPECT_EQ(Describe(Scan(kNow + 2 * kDay)), (Strings{"cert.expired", "cert.expiring:14"}));
  Reopen();
  EXPECT_TRUE(Scan(kNow + 2 * kDay).empty());
  EXPECT_TRUE(Scan(kNow + 3 * kDay).empty());
  EXPECT_EQ(Describe(Scan(kNow + 6 * kDay)), (Strings{"cert.expiring:7"}));
  Reopen();
  EXPECT_TRUE(Scan(kNow + 6 * kDay).empty());
}

TEST_F(ExpiryTest, FarExpiriesAreLeftAloneAndEmptyNotifyDaysMeansOnlyExpired) {
  ImportExpiringIn("far.example", 365 * kDay);
  ImportExpiringIn("near.example", 2 * kDay);
  EXPECT_TRUE(Scan(kNow, {}).empty());
  EXPECT_EQ(Describe(Scan(kNow + 3 * kDay, {})), (Strings{"cert.expired"}));
  // A threshold of 0 is the moment of expiry: no separate cert.expiring.
  EXPECT_TRUE(Scan(kNow + 3 * kDay, {0}).empty());
}

TEST_F(ExpiryTest, AddedSmallerThresholdFiresLargerAddedOneDoesNot) {
  ImportExpiringIn("change.example", 10 * kDay);
  EXPECT_EQ(Describe(Scan(kNow)), (Strings{"cert.expiring:14"}));
  // notify_days gains 60 (already passed: stale) and 3.
  const std::vector<int> more = {90, 60, 30, 14, 7, 3, 1};
  EXPECT_TRUE(Scan(kNow + kDay, more).empty());
  EXPECT_EQ(Describe(Scan(kNow + 7 * kDay, more)), (Strings{"cert.expiring:3"}));
}

TEST_F(ExpiryTest, ManyDueVersionsAreAllAnnouncedInOneScan) {
  // More than one read batch (256 rows).
  for (int i = 0; i < 300; ++i) {
    ImportExpiringIn("many" + std::to_string(i) + ".example", (i % 2 == 0 ? 3 : 60) * kDay);
  }
  std::vector<Event> events = Scan(kNow);
  ASSERT_EQ(events.size(), 300u);
  int sevens = 0;
  for (const Event& event : events) sevens += Payload(event)["threshold_days"] == 7;
  EXPECT_EQ(sevens, 150);
  EXPECT_TRUE(Scan(kNow).empty());
}

TEST_F(ExpiryTest, ARolledBackBatchRecordsNothing) {
  ImportExpiringIn("batch.example", 3 * kDay);
  ASSERT_TRUE(inventory_->Begin());
  EXPECT_EQ(Scan(kNow).size(), 1u);
  inventory_->Rollback();
  EXPECT_EQ(Describe(Scan(kNow)), (Strings{"cert.expiring:7"}));
}

TEST_F(ExpiryTest, FloorRisesAfterScansAndAnExpiredImportBelowItIsStillAnnounced) {
  EXPECT_EQ(Floor(), 0);
  ImportExpiringIn("first.example", 2 * kDay);
  EXPECT_EQ(Describe(Scan(kNow + 3 * kDay)), (Strings{"cert.expired"}));
  EXPECT_EQ(Floor(), kNow + 3 * kDay);
  // Nothing due: the floor follows at most hourly (it is a write).
  EXPECT_TRUE(Scan(kNow + 3 * kDay + 60).empty());
  EXPECT_EQ(Floor(), kNow + 3 * kDay);
  EXPECT_TRUE(Scan(kNow + 4 * kDay).empty());
  EXPECT_EQ(Floor(), kNow + 4 * kDay);
  // An expired certificate imported now (accept_expired) lies below the floor: its import
  // lowers the floor, so the next scan still sees it.
  ImportExpiringIn("old.example", -10 * kDay);
  EXPECT_EQ(Floor(), kNow - 10 * kDay);
  EXPECT_EQ(Describe(Scan(kNow + 4 * kDay)), (Strings{"cert.expired"}));
  EXPECT_TRUE(Scan(kNow + 4 * kDay).empty());
  Reopen();
  EXPECT_TRUE(Scan(kNow + 5 * kDay).empty());
}

// Notices stored before migration 010 (by a number of days) count as the same thresholds in days:
// a database from then announces nothing again under the same notify_days.
TEST_F(ExpiryTest, NoticesStoredInDaysBeforeMigration010AreKept) {
  ImportExpiringIn("old.example", 12 * kDay);
  EXPECT_EQ(Describe(Scan(kNow)), (Strings{"cert.expiring:14"}));
  inventory_.reset();
  // The table as migration 002 made it, holding what the scan recorded, and 010 not applied.
  Exec(
      "CREATE TABLE old_notices AS SELECT version_id, CAST(rtrim(threshold, 'd') AS INTEGER)"
      " AS threshold_days, noticed_at, event_seq FROM expiry_notices;"
      "DROP TABLE expiry_notices;"
      "CREATE TABLE expiry_notices (version_id INTEGER NOT NULL REFERENCES versions (id)"
      " ON DELETE CASCADE, threshold_days INTEGER NOT NULL, noticed_at INTEGER NOT NULL,"
      " event_seq INTEGER, PRIMARY KEY (version_id, threshold_days)) WITHOUT ROWID;"
      "INSERT INTO expiry_notices SELECT * FROM old_notices; DROP TABLE old_notices;"
      "DELETE FROM schema_migrations WHERE version >= 10;");
  Reopen();
  EXPECT_TRUE(Scan(kNow).empty());
  EXPECT_EQ(Describe(Scan(kNow + 6 * kDay)), (Strings{"cert.expiring:7"}));
}

// Rules per group and per entry: each entry's status and reason, the ls status filters (SQL)
// and the counts agree, for 90-day certificates at 25 and 16 days left.
TEST_F(ExpiryTest, GroupAndEntryRulesDecideStatusFiltersAndCounts) {
  ExpiryPolicy policy;  // expiring soon at ["33%", "30d"]: 29.7 days for 90 days
  policy.overrides = {
      {.group = "prod",
       .name = "pinned",
       .rule = {.expiring_soon = {.seconds = 14 * kDay}, .notify = {{.seconds = 14 * kDay}}}},
      {.group = "prod",
       .rule = {.expiring_soon = {.percent = 20}, .notify = {{.percent = 20}}}},  // 18 days
  };
  InventoryOptions options = inventory_->options();
  options.expiry = policy;
  inventory_->SetOptions(options);
  for (const auto& [name, group] :
       {std::pair{"plain", "default"}, {"web", "prod"}, {"pinned", "prod"}}) {
    testing::CertSpec spec = testing::LeafSpec(std::string(name) + ".example");
    spec.not_before = kNow - 65 * kDay;
    spec.not_after = kNow + 25 * kDay;
    Drop drop;
    drop.Cert(Issue(spec), true);
    MustImport(drop.Request(std::string(name) + ".pem", {.name = name, .group = group}));
  }
  auto statuses = [&](base::UnixTime now) {
    std::map<std::string, std::string> out;
    auto list = inventory_->List({}, now);
    EXPECT_TRUE(list);
    for (const auto& e : *list) {
      out[e["name"].get<std::string>()] =
          e["status"].get<std::string>() +
          (e["expiring_reason"].is_null() ? "" : ": " + e["expiring_reason"].get<std::string>());
    }
    return out;
  };
  auto filtered = [&](const std::string& status, base::UnixTime now) {
    ListFilter filter;
    filter.status = status;
    Strings names;
    auto list = inventory_->List(filter, now);
    EXPECT_TRUE(list);
    for (const auto& e : *list) names.push_back(e["name"]);
    auto page = inventory_->ListPageOf(filter, std::nullopt, 100, 1 << 20, now);
    EXPECT_TRUE(page);
    EXPECT_EQ(page->rows.size(), names.size()) << status;
    auto counts = inventory_->Count(now);
    EXPECT_TRUE(counts);
    EXPECT_EQ(status == "valid" ? counts->valid : counts->expiring_soon,
              static_cast<int64_t>(names.size()));
    return names;
  };
  EXPECT_EQ(statuses(kNow), (std::map<std::string, std::string>{
                                {"pinned", "valid"},
                                {"plain", "expiring_soon: less than 33% of its lifetime left"},
                                {"web", "valid"}}));
  EXPECT_EQ(filtered("expiring_soon", kNow), Strings{"plain"});
  EXPECT_EQ(filtered("valid", kNow), (Strings{"pinned", "web"}));
  // Notices by each entry's rule: "<name> <threshold>".
  auto notices = [&](base::UnixTime now) {
    auto events = inventory_->ScanExpiry(now);
    EXPECT_TRUE(events);
    Strings out;
    for (const Event& e : *events) {
      nlohmann::json p = Payload(e);
      out.push_back(p["certificate"]["name"].get<std::string>() + " " +
                    p["threshold"].get<std::string>());
    }
    return out;
  };
  EXPECT_EQ(notices(kNow), Strings{"plain 33%,30d"});

  const base::UnixTime later = kNow + 9 * kDay;  // 16 days left
  EXPECT_EQ(statuses(later),
            (std::map<std::string, std::string>{
                {"pinned", "valid"},
                {"plain", "expiring_soon: less than 33% of its lifetime left"},
                {"web", "expiring_soon: less than 20% of its lifetime left (group prod)"}}));
  EXPECT_EQ(filtered("expiring_soon", later), (Strings{"plain", "web"}));
  EXPECT_EQ(filtered("valid", later), Strings{"pinned"});
  EXPECT_EQ(notices(later), Strings{"web 20%"});
  const base::UnixTime last = kNow + 12 * kDay;  // 13 days left
  EXPECT_EQ(statuses(last)["pinned"], "expiring_soon: less than 14d left (entry prod/pinned)");
  EXPECT_EQ(filtered("valid", last), Strings{});
  EXPECT_EQ(notices(last), Strings{"pinned 14d"});
  EXPECT_TRUE(notices(last).empty());
}

}  // namespace
}  // namespace certinbox::storage
