// The expiry scheduler with a ManualClock: what a certificate's dates announce as the clock
// moves past its thresholds and its notAfter, once each, without waiting for the wall clock.
#include "daemon/expiry_scheduler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/daemon/bus_fixture.h"

namespace certinbox::daemon {
namespace {

using nlohmann::json;
using storage::test::Drop;
using test::kDay;
using test::kNow;

class ExpirySchedulerTest : public test::BusTest {
 protected:
  void TearDown() override {
    scheduler_.reset();
    BusTest::TearDown();
  }

  // Imports a leaf (with its key) that expires `days` after kNow; returns its not_after.
  int64_t ImportLeaf(const std::string& cn, int64_t days) {
    leaf_ = testing::Issue(storage::test::Leaf(cn, days));
    Drop drop;
    drop.Cert(leaf_, true);
    MustImport(drop.Request(cn + ".pem"));
    return kNow + days * kDay;
  }

  void MakeScheduler(const std::vector<int>& notify_days) {
    storage::InventoryOptions options = inventory_->options();
    options.expiry.defaults.notify = storage::test::DaysPolicy(90, notify_days).defaults.notify;
    inventory_->SetOptions(std::move(options));
    scheduler_ = std::make_unique<ExpiryScheduler>(&loop_, *inventory_, *publisher_, clock_, 3600);
  }

  // The events of one scan, as published.
  std::vector<json> ScanEvents(size_t expected) {
    scheduler_->Scan();
    return ReceiveN(expected, std::chrono::milliseconds(expected == 0 ? 200 : 10'000));
  }

  std::string Status() { return EntryAt(leaf_.Fingerprint()).value("status", ""); }

  // The daemon's default rules (no [expiry] keys): expiring soon at ["33%", "30d"], notices at
  // ["33%", "30d"], ["10%", "7d"] and "1d", and a scheduler for them.
  void MakeDefaultScheduler() {
    storage::InventoryOptions options = inventory_->options();
    options.expiry = storage::ExpiryPolicy{};
    inventory_->SetOptions(std::move(options));
    scheduler_ = std::make_unique<ExpiryScheduler>(&loop_, *inventory_, *publisher_, clock_, 3600);
  }

  // Imports a leaf valid from `not_before` for `lifetime_days`; returns its not_after.
  int64_t ImportLifetime(const std::string& cn, int64_t not_before, int64_t lifetime_days) {
    testing::CertSpec spec = testing::LeafSpec(cn);
    spec.not_before = not_before;
    spec.not_after = not_before + lifetime_days * kDay;
    leaf_ = testing::Issue(spec);
    Drop drop;
    drop.Cert(leaf_, true);
    MustImport(drop.Request(cn + ".pem"));
    return *spec.not_after;
  }

  // The one cert.expiring a scan at `now` publishes: its threshold and threshold_days.
  std::pair<std::string, int64_t> NoticeAt(base::UnixTime now) {
    clock_.Set(now);
    auto events = ScanEvents(1);
    EXPECT_EQ(events.size(), 1u);
    if (events.size() != 1 || events[0]["type"] != "cert.expiring") return {"", -1};
    EXPECT_EQ(events[0]["certificate"]["status"], "expiring_soon");
    return {events[0]["threshold"].get<std::string>(), events[0]["threshold_days"].get<int64_t>()};
  }

  testing::Issued leaf_;
  std::unique_ptr<ExpiryScheduler> scheduler_;
};

TEST_F(ExpirySchedulerTest, EachThresholdAndTheExpiryAreAnnouncedOnceAsTheClockMoves) {
  const int64_t not_after = ImportLeaf("moves.expiry.test", 200);
  MakeScheduler({7, 1});
  EXPECT_TRUE(ScanEvents(0).empty()) << "200 days left: nothing to announce";
  EXPECT_EQ(Status(), "valid");

  clock_.Set(not_after - 7 * kDay + 60);  // inside 7 days
  auto seven = ScanEvents(1);
  ASSERT_EQ(seven.size(), 1u);
  EXPECT_EQ(seven[0]["type"], "cert.expiring");
  EXPECT_EQ(seven[0]["threshold_days"], 7);
  EXPECT_EQ(seven[0]["days_left"], 6);
  EXPECT_EQ(seven[0]["time"], base::FormatRfc3339(clock_.Now()));
  EXPECT_EQ(seven[0]["certificate"]["fingerprint_sha256"], leaf_.Fingerprint());
  EXPECT_EQ(seven[0]["certificate"]["status"], "expiring_soon");
  EXPECT_EQ(Status(), "expiring_soon");
  EXPECT_TRUE(ScanEvents(0).empty()) << "the 7-day threshold is announced once";

  clock_.Set(not_after - kDay + 60);  // inside 1 day
  auto one = ScanEvents(1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0]["type"], "cert.expiring");
  EXPECT_EQ(one[0]["threshold_days"], 1);
  EXPECT_EQ(one[0]["days_left"], 0);
  EXPECT_GT(one[0]["seq"], seven[0]["seq"]);
  EXPECT_TRUE(ScanEvents(0).empty());

  clock_.Set(not_after + 1);
  auto expired = ScanEvents(1);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0]["type"], "cert.expired");
  EXPECT_EQ(expired[0]["certificate"]["status"], "expired");
  EXPECT_EQ(Status(), "expired");
  clock_.Advance(30 * kDay);
  EXPECT_TRUE(ScanEvents(0).empty()) << "cert.expired is announced once";
  EXPECT_EQ(publisher_->last_published_seq(), expired[0]["seq"]);

  // Across a restart (a new inventory connection and scheduler): nothing again.
  scheduler_.reset();
  Reopen();
  MakeScheduler({7, 1});
  EXPECT_TRUE(ScanEvents(0).empty());
}

TEST_F(ExpirySchedulerTest, ImportedInsideTwoThresholdsAnnouncesOnlyTheMostUrgent) {
  const int64_t not_after = ImportLeaf("urgent.expiry.test", 200);
  MakeScheduler({30, 7});
  clock_.Set(not_after - 3 * kDay);
  auto events = ScanEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["threshold_days"], 7);
  EXPECT_EQ(events[0]["days_left"], 3);
  EXPECT_TRUE(ScanEvents(0).empty()) << "the 30-day threshold passed over is not sent later";
}

// A 47-day certificate under the default rules: valid at import and for its first two thirds
// (30 days left is no reason yet), expiring soon with a third of its lifetime left (15.5 days),
// and notified at a third, at a tenth (4.7 days: shorter than 7 days) and at 1 day, once each,
// also across a restart.
TEST_F(ExpirySchedulerTest, A47DayCertificateIsNotifiedAtItsSharesOfTheLifetimeOnceEach) {
  const int64_t not_after = ImportLifetime("short.expiry.test", kNow - 3600, 47);
  MakeDefaultScheduler();
  EXPECT_TRUE(ScanEvents(0).empty()) << "imported an hour into its 47 days";
  EXPECT_EQ(Status(), "valid");
  EXPECT_TRUE(EntryAt(leaf_.Fingerprint())["expiring_reason"].is_null());

  clock_.Set(not_after - 30 * kDay + 60);  // 30 days left: 64% of its lifetime
  EXPECT_TRUE(ScanEvents(0).empty());
  EXPECT_EQ(Status(), "valid");
  clock_.Set(not_after - 16 * kDay);  // 34%
  EXPECT_TRUE(ScanEvents(0).empty());
  EXPECT_EQ(Status(), "valid");

  EXPECT_EQ(NoticeAt(not_after - 15 * kDay), std::make_pair(std::string("33%,30d"), int64_t{15}));
  EXPECT_EQ(Status(), "expiring_soon");
  EXPECT_EQ(EntryAt(leaf_.Fingerprint())["expiring_reason"], "less than 33% of its lifetime left");
  EXPECT_TRUE(ScanEvents(0).empty()) << "a third left is announced once";

  clock_.Set(not_after - 5 * kDay);  // 7 days left has passed, a tenth (4.7 days) not yet
  EXPECT_TRUE(ScanEvents(0).empty());
  EXPECT_EQ(NoticeAt(not_after - 4 * kDay), std::make_pair(std::string("10%,7d"), int64_t{4}));
  EXPECT_TRUE(ScanEvents(0).empty());

  scheduler_.reset();
  Reopen();
  MakeDefaultScheduler();
  EXPECT_TRUE(ScanEvents(0).empty()) << "nothing again after a restart";
  EXPECT_EQ(NoticeAt(not_after - kDay / 2), std::make_pair(std::string("1d"), int64_t{1}));
  clock_.Set(not_after);
  auto expired = ScanEvents(1);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0]["type"], "cert.expired");
}

// A 398-day certificate under the same rules: a third of its lifetime is 131 days, so 30 days
// left decides (as the 30 days of a 90-day certificate do), and 7 days, not a tenth (40 days).
TEST_F(ExpirySchedulerTest, A398DayCertificateIsExpiringSoonAt30DaysLeft) {
  const int64_t not_after = ImportLifetime("long.expiry.test", kNow - 3600, 398);
  MakeDefaultScheduler();
  EXPECT_TRUE(ScanEvents(0).empty());
  clock_.Set(not_after - 100 * kDay);  // a quarter of its lifetime left
  EXPECT_TRUE(ScanEvents(0).empty());
  EXPECT_EQ(Status(), "valid");
  clock_.Set(not_after - 31 * kDay);
  EXPECT_TRUE(ScanEvents(0).empty());

  EXPECT_EQ(NoticeAt(not_after - 29 * kDay), std::make_pair(std::string("33%,30d"), int64_t{30}));
  EXPECT_EQ(EntryAt(leaf_.Fingerprint())["expiring_reason"], "less than 30d left");
  clock_.Set(not_after - 8 * kDay);
  EXPECT_TRUE(ScanEvents(0).empty());
  EXPECT_EQ(NoticeAt(not_after - 6 * kDay), std::make_pair(std::string("10%,7d"), int64_t{7}));
  EXPECT_TRUE(ScanEvents(0).empty());
}

// What expired while the daemon was down: the first scan, on the loop turn after Start, says so
// once, and sends no threshold passed meanwhile.
TEST_F(ExpirySchedulerTest, TheFirstScanAfterStartAnnouncesWhatExpiredMeanwhile) {
  const int64_t not_after = ImportLeaf("down.expiry.test", 200);
  clock_.Set(not_after + kDay);
  MakeScheduler({7, 1});
  scheduler_->Start();
  std::vector<json> events;
  ASSERT_TRUE(RunUntil([&] {
    for (auto& event : Received()) events.push_back(std::move(event));
    return !events.empty();
  }));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "cert.expired");
  EXPECT_EQ(events[0]["certificate"]["fingerprint_sha256"], leaf_.Fingerprint());
  EXPECT_EQ(events[0]["time"], base::FormatRfc3339(clock_.Now()));
}

// An import asks for a scan soon: several requests in one turn make one scan, on the next turn.
TEST_F(ExpirySchedulerTest, ScanSoonScansOnTheNextLoopTurn) {
  const int64_t not_after = ImportLeaf("soon.expiry.test", 200);
  MakeScheduler({7});
  clock_.Set(not_after - kDay);
  scheduler_->ScanSoon();
  scheduler_->ScanSoon();
  EXPECT_TRUE(Received().empty()) << "not before the loop turns";
  uv_run(&loop_, UV_RUN_NOWAIT);
  auto events = ReceiveN(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "cert.expiring");
  scheduler_->Stop();
  scheduler_->ScanSoon();  // stopped: no scan
  clock_.Set(not_after + 1);
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_TRUE(ReceiveN(1, std::chrono::milliseconds(200)).empty());
}

}  // namespace
}  // namespace certinbox::daemon
