// For the unit tests of the daemon's parts: a real libuv loop, run a turn at a time until a
// condition holds or a deadline passes; a real inventory (SQLite file in a temporary folder,
// tests/storage/drop_fixture.h); a real Publisher on an ipc:// endpoint in that folder and a SUB
// socket that reads what it publishes; and a ManualClock, the daemon's "now", set to kNow.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "daemon/publisher.h"
#include "tests/storage/drop_fixture.h"
#include "tests/testing/manual_clock.h"
#include "tests/testing/wait.h"

namespace certinbox::daemon::test {

using storage::test::kDay;
using storage::test::kNow;

class BusTest : public storage::test::InventoryTest {
 protected:
  static constexpr const char* kProbe = "test.probe";

  void SetUp() override {
    InventoryTest::SetUp();
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    auto publisher = Publisher::Bind(zmq_, "ipc://" + (dir_ / "events.sock").string(), 1000);
    ASSERT_TRUE(publisher) << publisher.error().message;
    publisher_ = std::move(*publisher);
    sub_.set(zmq::sockopt::linger, 0);
    sub_.set(zmq::sockopt::subscribe, "");
    sub_.connect(publisher_->endpoint());
    // A SUB socket gets only what is published after its subscription has reached the PUB
    // socket: probes (seq 0, which moves no seq; Received() skips them) until one arrives.
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          publisher_->Publish({0, kProbe, "{}"});
          return !ReadMessages().empty();
        },
        std::chrono::seconds(10), std::chrono::milliseconds(10)));
  }

  // Subclasses destroy their parts (which close their handles) before this runs.
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);  // pending closes
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // Turns of the loop (without blocking) until `done` or the deadline; returns done().
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
    return testing::WaitUntil(
        [&] {
          uv_run(&loop_, UV_RUN_NOWAIT);
          return done();
        },
        deadline, std::chrono::milliseconds(5));
  }

  // The events the SUB socket holds now ({"topic", ...the event's JSON}), in arrival order.
  std::vector<nlohmann::json> Received() {
    std::vector<nlohmann::json> events;
    for (auto& [topic, body] : ReadMessages()) {
      if (topic == kProbe) continue;
      nlohmann::json event = nlohmann::json::parse(body, nullptr, false);
      if (!event.is_object()) event = nlohmann::json::object();
      event["topic"] = topic;
      events.push_back(std::move(event));
    }
    return events;
  }

  // Every whole message (topic, body) the SUB socket holds now.
  std::vector<std::pair<std::string, std::string>> ReadMessages() {
    std::vector<std::pair<std::string, std::string>> messages;
    for (;;) {
      zmq::message_t topic, body;
      if (!sub_.recv(topic, zmq::recv_flags::dontwait)) break;
      if (topic.more() && !sub_.recv(body)) break;  // the second frame has come with the first
      messages.emplace_back(topic.to_string(), body.to_string());
    }
    return messages;
  }

  // Reads the SUB socket until it holds `n` events (or the deadline); returns what came.
  std::vector<nlohmann::json> ReceiveN(
      size_t n, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    std::vector<nlohmann::json> events;
    testing::WaitUntil(
        [&] {
          for (auto& event : Received()) events.push_back(std::move(event));
          return events.size() >= n;
        },
        deadline, std::chrono::milliseconds(5));
    return events;
  }

  // The `ls` entry of `fingerprint` as the inventory lists it at the clock's time.
  nlohmann::json EntryAt(const std::string& fingerprint) {
    auto list = inventory_->List({}, clock_.Now());
    EXPECT_TRUE(list) << list.error().message;
    if (!list) return nullptr;
    for (const auto& entry : *list) {
      if (entry.dump().find(fingerprint) != std::string::npos) return entry;
    }
    return nullptr;
  }

  testing::ManualClock clock_{kNow};
  uv_loop_t loop_{};
  zmq::context_t zmq_{1};
  std::unique_ptr<Publisher> publisher_;
  zmq::socket_t sub_{zmq_, zmq::socket_type::sub};
};

}  // namespace certinbox::daemon::test
