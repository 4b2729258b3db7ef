// The outbox's retention with a ManualClock: an event goes once it is older than the retention
// by the daemon's clock, published, and acknowledged by every cursor; never before. (What the
// real daemon shows of it, the `pruned` reply and the CLI's warning, is in
// tests/integration/events_test.cc.)
#include "daemon/outbox_pruner.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/daemon/bus_fixture.h"

namespace certinbox::daemon {
namespace {

using test::kDay;

constexpr uint64_t kRetentionS = 60;

class OutboxPrunerTest : public test::BusTest {
 protected:
  void TearDown() override {
    pruner_.reset();
    BusTest::TearDown();
  }

  // Appends `n` events at the clock's time and publishes them; returns the last seq.
  int64_t AppendPublished(int n) {
    int64_t seq = 0;
    for (int i = 0; i < n; ++i) {
      auto event = inventory_->AppendEvent("config.reloaded", {{"i", i}}, clock_.Now());
      EXPECT_TRUE(event) << event.error().message;
      if (!event) return seq;
      publisher_->Publish(*event);
      seq = event->seq;
    }
    return seq;
  }

  size_t Retained() {
    auto events = inventory_->EventsSince(0, 0);
    EXPECT_TRUE(events) << events.error().message;
    return events ? events->size() : 0;
  }

  std::unique_ptr<OutboxPruner> pruner_;
};

TEST_F(OutboxPrunerTest, AnEventGoesOnlyPastTheRetentionByTheClock) {
  pruner_ = std::make_unique<OutboxPruner>(&loop_, *inventory_, *publisher_, clock_, kRetentionS);
  AppendPublished(3);
  clock_.Advance(kRetentionS - 1);
  EXPECT_EQ(pruner_->Prune(), 0);
  EXPECT_EQ(Retained(), 3u);
  clock_.Advance(2);
  EXPECT_EQ(pruner_->Prune(), 3);
  EXPECT_EQ(Retained(), 0u);
}

TEST_F(OutboxPrunerTest, UnpublishedEventsStay) {
  pruner_ = std::make_unique<OutboxPruner>(&loop_, *inventory_, *publisher_, clock_, kRetentionS);
  AppendPublished(2);
  ASSERT_TRUE(inventory_->AppendEvent("config.reloaded", {{"i", 2}}, clock_.Now()));
  clock_.Advance(10 * kRetentionS);
  EXPECT_EQ(pruner_->Prune(), 2);
  EXPECT_EQ(Retained(), 1u);
}

// A cursor holds what it has not acknowledged, however old; the slowest cursor decides.
TEST_F(OutboxPrunerTest, EveryCursorMustHaveAcknowledgedAnEvent) {
  pruner_ = std::make_unique<OutboxPruner>(&loop_, *inventory_, *publisher_, clock_, kRetentionS);
  ASSERT_TRUE(inventory_->AckCursor("keeper", 0, clock_.Now()));
  const int64_t last = AppendPublished(3);
  clock_.Advance(10 * kRetentionS);
  EXPECT_EQ(pruner_->Prune(), 0);
  EXPECT_EQ(Retained(), 3u);

  ASSERT_TRUE(inventory_->AckCursor("slow", 1, clock_.Now()));
  ASSERT_TRUE(inventory_->AckCursor("keeper", last, clock_.Now()));
  EXPECT_EQ(pruner_->Prune(), 1) << "'slow' has acknowledged only seq 1";
  EXPECT_EQ(Retained(), 2u);
  ASSERT_TRUE(inventory_->DeleteCursor("slow"));
  EXPECT_EQ(pruner_->Prune(), 2);
  EXPECT_EQ(Retained(), 0u);
}

TEST_F(OutboxPrunerTest, RetentionZeroKeepsEverything) {
  pruner_ = std::make_unique<OutboxPruner>(&loop_, *inventory_, *publisher_, clock_, 0);
  AppendPublished(2);
  clock_.Advance(365 * kDay);
  EXPECT_EQ(pruner_->Prune(), 0);
  EXPECT_EQ(Retained(), 2u);
}

// Start runs the first prune on the next loop turn.
TEST_F(OutboxPrunerTest, StartPrunesOnTheNextLoopTurn) {
  pruner_ = std::make_unique<OutboxPruner>(&loop_, *inventory_, *publisher_, clock_, kRetentionS);
  AppendPublished(2);
  clock_.Advance(kRetentionS + 1);
  pruner_->Start();
  EXPECT_TRUE(RunUntil([&] { return Retained() == 0; }, std::chrono::seconds(10)));
  pruner_->Stop();
}

}  // namespace
}  // namespace certinbox::daemon
