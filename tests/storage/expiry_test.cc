// The expiry scan with an injected `now`: each threshold once, expired once, across a reopen,
// and the catch-up rule (only the most urgent threshold after a gap).
#include <gtest/gtest.h>
#include <sqlite3.h>

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
    auto events = inventory_->ScanExpiry(days, now);
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

}  // namespace
}  // namespace certinbox::storage
