// The ControlServer on a real ROUTER socket (ipc://) with real REQ clients and a real loop: a
// request is answered by its handler; what is not a JSON object, a handler that throws, and a
// message of too many frames are answered with an error or dropped, never a crash; a reply made
// after the server is gone is dropped.
#include "daemon/control_server.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace certinbox::daemon {
namespace {

using nlohmann::json;

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    server_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // pending closes
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  void Bind(ControlServer::AsyncHandler handler) {
    auto server = ControlServer::BindAsync(
        &loop_, zmq_, endpoint_,
        [handler = std::move(handler)](const json& request, const ControlServer::Peer&,
                                       ControlServer::Reply reply) { handler(request, reply); });
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
  }

  // A new REQ client that sends `frames` (one message) and waits, turning the loop, for the
  // reply until the deadline: nullopt when none came.
  std::optional<json> Ask(const std::vector<std::string>& frames,
                          std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    zmq::socket_t client(zmq_, zmq::socket_type::req);
    client.set(zmq::sockopt::linger, 0);
    client.connect(endpoint_);
    for (size_t i = 0; i < frames.size(); ++i) {
      client.send(zmq::buffer(frames[i]),
                  i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
    std::optional<json> reply;
    testing::WaitUntil(
        [&] {
          uv_run(&loop_, UV_RUN_NOWAIT);
          zmq::message_t message;
          if (client.recv(message, zmq::recv_flags::dontwait)) {
            reply = json::parse(message.to_string(), nullptr, false);
          }
          return reply.has_value();
        },
        deadline, std::chrono::milliseconds(5));
    return reply;
  }
  std::optional<json> Ask(const std::string& body) { return Ask(std::vector<std::string>{body}); }

  // Binds a server whose handler keeps the Reply instead of answering, sends one request from
  // `client` (connected here) and returns the Reply once the handler has it (empty at the
  // deadline).
  ControlServer::Reply HeldRequest(zmq::socket_t& client) {
    Bind([this](const json&, ControlServer::Reply reply) { held_ = std::move(reply); });
    client.set(zmq::sockopt::linger, 0);
    client.connect(endpoint_);
    client.send(zmq::str_buffer(R"({"op": "later"})"));
    testing::WaitUntil([&] {
      uv_run(&loop_, UV_RUN_NOWAIT);
      return static_cast<bool>(held_);
    });
    return held_;
  }

  static std::string CodeOf(const std::optional<json>& reply) {
    return reply ? reply->value("/error/code"_json_pointer, std::string()) : "(no reply)";
  }

  testing::TempDir dir_;
  std::string endpoint_ = "ipc://" + (dir_ / "control.sock").string();
  uv_loop_t loop_{};
  zmq::context_t zmq_{1};
  std::unique_ptr<ControlServer> server_;
  ControlServer::Reply held_;  // HeldRequest's
};

ControlServer::AsyncHandler Echo() {
  return [](const json& request, ControlServer::Reply reply) {
    reply({{"echo", request.value("op", "")}});
  };
}

TEST_F(ControlServerTest, ARequestIsAnsweredByTheHandler) {
  Bind(Echo());
  auto reply = Ask(R"({"op": "status"})");
  ASSERT_TRUE(reply);
  EXPECT_EQ(*reply, json({{"echo", "status"}}));
  // The server goes on answering.
  EXPECT_EQ(Ask(R"({"op": "ls"})"), json({{"echo", "ls"}}));
}

// Input, expected code: each gets a bad_request reply and the handler never sees it.
TEST_F(ControlServerTest, WhatIsNotAJsonObjectIsABadRequest) {
  int handled = 0;
  Bind([&](const json&, ControlServer::Reply reply) {
    ++handled;
    reply(json::object());
  });
  const std::vector<std::string> bodies = {
      "not json", "", "[1, 2]", "42", R"("op")", R"({"op": )", std::string(200, '[') + "1"};
  for (const auto& body : bodies) {
    EXPECT_EQ(CodeOf(Ask(body)), "bad_request") << body;
  }
  EXPECT_EQ(handled, 0);
  EXPECT_TRUE(Ask(R"({"op": "status"})"));
}

TEST_F(ControlServerTest, AHandlerThatThrowsBecomesInternalError) {
  Bind([](const json& request, ControlServer::Reply reply) {
    if (request["op"] == "throw") throw std::runtime_error("the handler broke");
    // A json::type_error, as a handler reading a string from a number would throw.
    reply({{"n", request.at("op").get<int>()}});
  });
  EXPECT_EQ(CodeOf(Ask(R"({"op": "throw"})")), "internal_error");
  EXPECT_EQ(CodeOf(Ask(R"({"op": "status"})")), "internal_error");
  EXPECT_EQ(Ask(R"({"op": 7})"), json({{"n", 7}}));
}

// A message of more frames than identity, delimiter and body is dropped unanswered; the
// server goes on.
TEST_F(ControlServerTest, AMessageOfTooManyFramesIsDroppedUnanswered) {
  Bind(Echo());
  EXPECT_FALSE(Ask({R"({"op": "a"})", R"({"op": "b"})"}, std::chrono::milliseconds(300)));
  EXPECT_EQ(Ask(R"({"op": "after"})"), json({{"echo", "after"}}));
}

TEST_F(ControlServerTest, AnAsyncReplyIsSentWhenMadeAndOnlyOnce) {
  zmq::socket_t client(zmq_, zmq::socket_type::req);
  ControlServer::Reply reply = HeldRequest(client);
  ASSERT_TRUE(reply);
  reply({{"done", 1}});
  reply({{"done", 2}});  // ignored
  zmq::message_t message;
  ASSERT_TRUE(testing::WaitUntil([&] {
    uv_run(&loop_, UV_RUN_NOWAIT);
    return client.recv(message, zmq::recv_flags::dontwait).has_value();
  }));
  EXPECT_EQ(json::parse(message.to_string()), json({{"done", 1}}));
}

TEST_F(ControlServerTest, AnAsyncReplyAfterTheServerIsGoneIsDropped) {
  zmq::socket_t client(zmq_, zmq::socket_type::req);
  ControlServer::Reply reply = HeldRequest(client);
  ASSERT_TRUE(reply);
  server_.reset();
  uv_run(&loop_, UV_RUN_NOWAIT);
  reply({{"done", true}});  // no server, no socket: nothing is sent, nothing breaks
  zmq::message_t message;
  EXPECT_FALSE(client.recv(message, zmq::recv_flags::dontwait));
}

}  // namespace
}  // namespace certinbox::daemon
