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

  void MakeScheduler(std::vector<int> notify_days) {
    scheduler_ = std::make_unique<ExpiryScheduler>(&loop_, *inventory_, *publisher_, clock_,
                                                   std::move(notify_days), 3600);
  }

  // The events of one scan, as published.
  std::vector<json> ScanEvents(size_t expected) {
    scheduler_->Scan();
    return ReceiveN(expected, std::chrono::milliseconds(expected == 0 ? 200 : 10'000));
  }

  std::string Status() { return EntryAt(leaf_.Fingerprint()).value("status", ""); }

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
