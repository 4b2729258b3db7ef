// http::Server on a real libuv loop with real sockets: an answer given later resumes its
// suspended connection, and a server destroyed while a request waits answers it 503 (or drops
// it) at once, never leaving the client hanging.
#include "http/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "base/uv_handle.h"
#include "tests/testing/ports.h"

namespace certinbox::http {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Sends `request` on a new connection and reads until the server closes it (reads wait at most
// 10 s each). Runs on its own thread while the test's thread runs the loop.
class RawClient {
 public:
  RawClient(int port, std::string request)
      : thread_([this, port, request = std::move(request)] {
          int fd = testing::ConnectLoopback(port);
          if (fd >= 0) {
            timeval timeout{.tv_sec = 10, .tv_usec = 0};
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
            (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
            char buffer[4096];
            for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
              reply_.append(buffer, n);
            ::close(fd);
          }
          done_ = true;
        }) {}
  ~RawClient() { thread_.join(); }

  bool done() const { return done_; }
  const std::string& reply() const { return reply_; }  // once done()

 private:
  std::string reply_;
  std::atomic<bool> done_ = false;
  std::thread thread_;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    pump_ = base::NewUvTimer(&loop_, nullptr);
    uv_timer_start(
        pump_.get(), [](uv_timer_t*) {}, 10, 10);  // the loop wakes every 10 ms
  }
  void TearDown() override {
    server_.reset();
    pump_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  void StartServer() {
    ServerOptions options{.address = "127.0.0.1", .port = 0};
    options.routes["/later"] = [this](const Request&, Answer answer) {
      pending_ = std::move(answer);
    };
    auto server = Server::Start(&loop_, std::move(options));
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
  }

  // Runs the loop until `done` or 10 s have passed; returns `done`'s last answer.
  bool RunUntil(const std::function<bool()>& done) {
    const auto deadline = Clock::now() + 10s;
    while (!done() && Clock::now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    return done();
  }

  uv_loop_t loop_{};
  base::UvHandlePtr<uv_timer_t> pump_;
  std::unique_ptr<Server> server_;
  Answer pending_;
};

TEST_F(ServerTest, AnAnswerGivenLaterResumesTheConnection) {
  StartServer();
  RawClient client(server_->port(), "GET /later HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(RunUntil([&] { return static_cast<bool>(pending_); }));
  pending_({.status = 200, .body = "later\n"});
  pending_({.status = 500, .body = "twice\n"});  // only the first answer counts
  ASSERT_TRUE(RunUntil([&] { return client.done(); }));
  EXPECT_TRUE(client.reply().starts_with("HTTP/1.1 200 ")) << client.reply();
  EXPECT_TRUE(client.reply().ends_with("\r\n\r\nlater\n")) << client.reply();
}

TEST_F(ServerTest, DestroyedWhileARequestWaitsItAnswersOrDropsAtOnce) {
  StartServer();
  RawClient client(server_->port(), "GET /later HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(RunUntil([&] { return static_cast<bool>(pending_); }));
  const auto start = Clock::now();
  server_.reset();
  ASSERT_TRUE(RunUntil([&] { return client.done(); }));
  EXPECT_LT(Clock::now() - start, 5s);
  if (!client.reply().empty()) {
    EXPECT_TRUE(client.reply().starts_with("HTTP/1.1 503 ")) << client.reply();
    EXPECT_TRUE(client.reply().ends_with("\r\n\r\nthe daemon is stopping\n")) << client.reply();
  }
  pending_({.status = 200, .body = "too late\n"});  // the server is gone: nothing happens
}

}  // namespace
}  // namespace certinbox::http
