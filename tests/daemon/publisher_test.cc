// The Publisher on a real PUB socket (ipc://) read by a real SUB socket: each event as its topic
// and its JSON, in the order published, and the last seq published.
#include "daemon/publisher.h"

#include <gtest/gtest.h>

#include "tests/daemon/bus_fixture.h"

namespace certinbox::daemon {
namespace {

using nlohmann::json;
using test::kNow;

class PublisherTest : public test::BusTest {};

TEST_F(PublisherTest, PublishesEachEventAsTopicAndJsonInSeqOrder) {
  std::vector<storage::Event> written;
  for (int i = 0; i < 5; ++i) {
    auto event = inventory_->AppendEvent(i % 2 ? "config.reloaded" : "config.rejected", {{"i", i}},
                                         clock_.Now() + i);
    ASSERT_TRUE(event) << event.error().message;
    written.push_back(*event);
  }
  for (const auto& event : written) publisher_->Publish(event);
  auto received = ReceiveN(written.size());
  ASSERT_EQ(received.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    EXPECT_EQ(received[i]["topic"], written[i].type);
    EXPECT_EQ(received[i]["type"], written[i].type);
    EXPECT_EQ(received[i]["seq"], written[i].seq);
    EXPECT_EQ(received[i]["i"], i);
    EXPECT_EQ(received[i]["time"], base::FormatRfc3339(kNow + static_cast<int64_t>(i)));
  }
  EXPECT_EQ(publisher_->last_published_seq(), written.back().seq);
}

// The seq only moves forward: after a restart the outbox's published cursor is where it
// resumes, and publishing an older event again (a replay) does not move it back.
TEST_F(PublisherTest, LastPublishedSeqOnlyMovesForward) {
  EXPECT_EQ(publisher_->last_published_seq(), 0);
  publisher_->ResumeAfter(41);
  EXPECT_EQ(publisher_->last_published_seq(), 41);
  publisher_->ResumeAfter(7);
  EXPECT_EQ(publisher_->last_published_seq(), 41);
  publisher_->Publish({42, "config.reloaded", json{{"seq", 42}}.dump()});
  EXPECT_EQ(publisher_->last_published_seq(), 42);
  publisher_->Publish({40, "config.reloaded", json{{"seq", 40}}.dump()});
  EXPECT_EQ(publisher_->last_published_seq(), 42);
  auto received = ReceiveN(2);
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0]["seq"], 42);
  EXPECT_EQ(received[1]["seq"], 40);
}

TEST_F(PublisherTest, AnEndpointThatCannotBeBoundIsBindFailed) {
  auto bad = Publisher::Bind(zmq_, "nonsense://x", 1000);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "bind_failed");
}

}  // namespace
}  // namespace certinbox::daemon
