// certinbox-webhook without a daemon: the signature (RFC 4231 vectors), the options, and a
// delivery against a real local HTTP receiver (retries, headers, the stop).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "plugins/webhook/delivery.h"
#include "plugins/webhook/options.h"
#include "plugins/webhook/signature.h"
#include "tests/testing/files.h"
#include "tests/testing/http_receiver.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace certinbox::webhook {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using testing::HttpReceiver;
using testing::TempDir;
using testing::WaitUntil;
using testing::WriteFile;

TEST(WebhookSignatureTest, Rfc4231TestCase2) {
  // RFC 4231 section 4.3: key "Jefe", data "what do ya want for nothing?".
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(SignatureHeaderValue("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(WebhookSignatureTest, Rfc4231TestCase1AndKeyLongerThanTheBlock) {
  EXPECT_EQ(HmacSha256Hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Section 4.7 (test case 6): a 131-byte key is hashed first.
  EXPECT_EQ(HmacSha256Hex(std::string(131, '\xaa'),
                          "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(WebhookOptionsTest, Defaults) {
  auto options = ParseWebhookOptions({{"url", "https://hooks.example.test/x"}});
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->url, "https://hooks.example.test/x");
  EXPECT_EQ(options->secret, "");
  EXPECT_EQ(options->timeout, 10s);
  EXPECT_EQ(options->attempts, 8);
  EXPECT_EQ(options->backoff, 1s);
}

TEST(WebhookOptionsTest, AllKeys) {
  auto options = ParseWebhookOptions({{"url", "http://127.0.0.1:8080/hook"},
                                      {"secret", "s3cret"},
                                      {"timeout", "2500ms"},
                                      {"attempts", 3},
                                      {"backoff", "200ms"}});
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->secret, "s3cret");
  EXPECT_EQ(options->timeout, 2500ms);
  EXPECT_EQ(options->attempts, 3);
  EXPECT_EQ(options->backoff, 200ms);
}

TEST(WebhookOptionsTest, SecretFileIsReadAndItsLineBreakDropped) {
  TempDir dir("webhook-");
  const fs::path file = dir / "secret";
  WriteFile(file, "top secret\n");
  auto options = ParseWebhookOptions({{"url", "http://x.test/"}, {"secret_file", file.string()}});
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->secret, "top secret");
}

TEST(WebhookOptionsTest, BadOptionsAreRefusedWithAReason) {
  TempDir dir("webhook-");
  const fs::path empty = dir / "empty";
  WriteFile(empty, "\n");
  struct Case {
    json options;
    std::string code;
  };
  const Case cases[] = {
      {json::array(), "bad_option"},
      {json::object(), "missing_option"},
      {{{"url", "ftp://x.test/"}}, "bad_option"},
      {{{"url", 42}}, "bad_option"},
      {{{"url", "http://x.test/"}, {"urls", "typo"}}, "unknown_option"},
      {{{"url", "http://x.test/"}, {"secret", ""}}, "bad_option"},
      {{{"url", "http://x.test/"}, {"secret", "a"}, {"secret_file", empty.string()}}, "bad_option"},
      {{{"url", "http://x.test/"}, {"secret_file", "/nonexistent/webhook.secret"}},
       "secret_unreadable"},
      {{{"url", "http://x.test/"}, {"secret_file", empty.string()}}, "secret_unreadable"},
      {{{"url", "http://x.test/"}, {"timeout", "soon"}}, "bad_option"},
      {{{"url", "http://x.test/"}, {"timeout", "0s"}}, "bad_option"},
      {{{"url", "http://x.test/"}, {"backoff", "-1s"}}, "bad_option"},
      {{{"url", "http://x.test/"}, {"attempts", 0}}, "bad_option"},
      {{{"url", "http://x.test/"}, {"attempts", "8"}}, "bad_option"},
  };
  for (const auto& c : cases) {
    auto options = ParseWebhookOptions(c.options);
    ASSERT_FALSE(options) << c.options.dump();
    EXPECT_EQ(options.error().code, c.code) << c.options.dump() << ": " << options.error().message;
  }
}

TEST(WebhookOptionsTest, RetryDelayDoublesUpToFiveMinutes) {
  EXPECT_EQ(RetryDelay(1s, 1), 1s);
  EXPECT_EQ(RetryDelay(1s, 2), 2s);
  EXPECT_EQ(RetryDelay(1s, 4), 8s);
  EXPECT_EQ(RetryDelay(1s, 9), 256s);
  EXPECT_EQ(RetryDelay(1s, 10), 300s);
  EXPECT_EQ(RetryDelay(1s, 1000), 300s);
  EXPECT_EQ(RetryDelay(200ms, 3), 800ms);
}

json Event(int64_t seq) {
  return {{"seq", seq},
          {"type", "cert.imported"},
          {"time", "2026-11-23T10:00:00Z"},
          {"certificate", {{"id", 7}, {"name", "web"}, {"fingerprint_sha256", "ab12"}}}};
}

WebhookOptions Options(const HttpReceiver& receiver) {
  WebhookOptions options;
  options.url = receiver.url();
  options.secret = "shared secret";
  options.timeout = 5s;
  options.attempts = 4;
  options.backoff = 50ms;
  return options;
}

TEST(WebhookDeliveryTest, RetriesUntilTheReceiverRecoversAndSignsTheBody) {
  HttpReceiver receiver([](int n) { return n <= 2 ? 500 : 200; });
  ASSERT_TRUE(receiver.listening());
  WebhookOptions options = Options(receiver);
  Poster poster(options);
  std::vector<std::string> log;
  json event = Event(42);
  DeliveryResult result = Deliver(
      poster, options, event, [] { return false; },
      [&](const std::string& line) { log.push_back(line); });
  EXPECT_EQ(result.outcome, Outcome::kDelivered);
  EXPECT_EQ(result.attempts, 3);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[0].find("HTTP 500"), std::string::npos) << log[0];

  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& request : requests) {
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.target, "/hook");
    EXPECT_EQ(request.header("content-type"), "application/json");
    EXPECT_EQ(request.header("x-certinbox-event"), "cert.imported");
    EXPECT_EQ(request.header("x-certinbox-seq"), "42");
    EXPECT_EQ(json::parse(request.body), event);
    EXPECT_EQ(request.header("x-certinbox-signature"),
              "sha256=" + *HmacSha256Hex("shared secret", request.body));
  }
  EXPECT_EQ(requests[2].status, 200);
}

TEST(WebhookDeliveryTest, UnsignedWithoutASecret) {
  HttpReceiver receiver([](int) { return 204; });
  WebhookOptions options = Options(receiver);
  options.secret.clear();
  Poster poster(options);
  DeliveryResult result = Deliver(
      poster, options, Event(1), [] { return false; }, [](const std::string&) {});
  EXPECT_EQ(result.outcome, Outcome::kDelivered);
  ASSERT_EQ(receiver.requests().size(), 1u);
  EXPECT_EQ(receiver.requests()[0].header("x-certinbox-signature"), "");
}

TEST(WebhookDeliveryTest, GivesUpAfterTheLastAttempt) {
  HttpReceiver receiver([](int) { return 503; });
  WebhookOptions options = Options(receiver);
  options.attempts = 3;
  Poster poster(options);
  DeliveryResult result = Deliver(
      poster, options, Event(5), [] { return false; }, [](const std::string&) {});
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_EQ(result.attempts, 3);
  EXPECT_TRUE(result.last_error.starts_with("HTTP 503")) << result.last_error;
  EXPECT_EQ(receiver.requests().size(), 3u);
}

TEST(WebhookDeliveryTest, NoAnswerIsAFailedAttempt) {
  int port = 0;
  {
    HttpReceiver closed([](int) { return 200; });
    port = closed.port();
  }  // nothing listens on the port any more
  WebhookOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  options.attempts = 2;
  options.backoff = 10ms;
  Poster poster(options);
  DeliveryResult result = Deliver(
      poster, options, Event(5), [] { return false; }, [](const std::string&) {});
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_EQ(result.attempts, 2);
  EXPECT_FALSE(result.last_error.empty());
}

TEST(WebhookDeliveryTest, AStopDuringTheBackoffEndsTheDeliveryPromptly) {
  HttpReceiver receiver([](int) { return 500; });
  WebhookOptions options = Options(receiver);
  options.backoff = 60s;
  Poster poster(options);
  std::atomic<bool> stop{false};
  std::atomic<bool> backing_off{false};  // the failed attempt is logged as the backoff begins
  std::thread stopper([&] {
    WaitUntil([&] { return backing_off.load(); }, 10s, 5ms);
    stop = true;
  });
  auto started = std::chrono::steady_clock::now();
  DeliveryResult result = Deliver(
      poster, options, Event(9), [&] { return stop.load(); },
      [&](const std::string&) { backing_off = true; });
  auto took = std::chrono::steady_clock::now() - started;
  stopper.join();
  EXPECT_EQ(result.outcome, Outcome::kStopped);
  EXPECT_LT(took, 5s);
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST(WebhookDeliveryTest, AStopDuringAnAttemptAbandonsIt) {
  HttpReceiver receiver([](int) { return 0; });  // never answers
  WebhookOptions options = Options(receiver);
  options.timeout = 60s;
  Poster poster(options);
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    receiver.WaitForRequests(1, 10s);
    stop = true;
  });
  auto started = std::chrono::steady_clock::now();
  DeliveryResult result = Deliver(
      poster, options, Event(9), [&] { return stop.load(); }, [](const std::string&) {});
  auto took = std::chrono::steady_clock::now() - started;
  stopper.join();
  EXPECT_EQ(result.outcome, Outcome::kStopped);
  EXPECT_LT(took, 5s);
}

TEST(WebhookDeliveryTest, DescribesDelays) {
  EXPECT_EQ(DescribeDelay(200ms), "200 ms");
  EXPECT_EQ(DescribeDelay(1s), "1 s");
  EXPECT_EQ(DescribeDelay(1500ms), "1.5 s");
  EXPECT_EQ(DescribeDelay(64s), "64 s");
  EXPECT_EQ(DescribeDelay(300s), "5 min");
}

}  // namespace
}  // namespace certinbox::webhook
