// certinbox-webhook supervised by the real daemon, POSTing to a real HTTP receiver in the test:
// retried until the receiver recovers, signed, acknowledged; a receiver that keeps failing is
// reported and the next event still goes out.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "plugins/webhook/signature.h"
#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/http_receiver.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kSecret[] = "webhook test secret";

HarnessOptions WithWebhook(const HttpReceiver& receiver, int attempts,
                           const std::string& backoff = "200ms") {
  HarnessOptions options;
  options.extra_toml =
      "[[plugin]]\nname = \"hook\"\ncommand = \"certinbox-webhook\"\n"
      "events = [\"cert.\"]\n"
      "[plugin.options]\nurl = \"" +
      receiver.url() + "\"\nsecret = \"" + kSecret + "\"\nbackoff = \"" + backoff +
      "\"\ntimeout = \"5s\"\nattempts = " + std::to_string(attempts) + "\n";
  return options;
}

// Waits (bounded) until the plugin's cursor has reached `seq`; returns where it stands.
int64_t WaitForCursor(DaemonHarness& daemon, int64_t seq, std::chrono::seconds deadline = 30s) {
  int64_t position = -1;
  WaitUntil(
      [&] {
        if (auto at = sdk::CursorPosition(daemon.control(), "plugin:hook")) position = *at;
        return position >= seq;
      },
      deadline);
  return position;
}

std::vector<HttpRequest> RequestsForSeq(const HttpReceiver& receiver, int64_t seq) {
  std::vector<HttpRequest> out;
  for (auto& request : receiver.requests()) {
    if (request.header("x-certinbox-seq") == std::to_string(seq)) out.push_back(request);
  }
  return out;
}

// Imports a new leaf named `cn` and returns its cert.imported event.
json ImportLeaf(DaemonHarness& daemon, const std::string& cn) {
  TestPki pki = TestPki::Make(LeafSpec(cn));
  daemon.Drop(cn + ".pem", pki.leaf.CertPem());
  daemon.WaitForEvents([&](const std::vector<json>& events) {
    return !FindByFingerprint(events, pki.leaf.Fingerprint()).is_null();
  });
  return FindByFingerprint(daemon.EventsOfType("cert.imported"), pki.leaf.Fingerprint());
}

TEST(WebhookPluginTest, DeliversTheEventSignedOnceTheReceiverRecovers) {
  HttpReceiver receiver([](int n) { return n <= 2 ? 500 : 200; });
  ASSERT_TRUE(receiver.listening());
  DaemonHarness daemon(WithWebhook(receiver, 8));
  ASSERT_TRUE(daemon.Start());

  json imported = ImportLeaf(daemon, "hooked.example.test");
  ASSERT_FALSE(imported.is_null()) << daemon.log();
  int64_t seq = imported["seq"].get<int64_t>();

  ASSERT_TRUE(receiver.WaitForRequests(3, 30s)) << daemon.log();
  EXPECT_EQ(WaitForCursor(daemon, seq), seq) << daemon.log();
  auto requests = RequestsForSeq(receiver, seq);
  ASSERT_EQ(requests.size(), 3u) << "two failures, then the delivery; nothing after it";
  EXPECT_EQ(requests[0].status, 500);
  EXPECT_EQ(requests[1].status, 500);
  EXPECT_EQ(requests[2].status, 200);
  for (const auto& request : requests) {
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.header("content-type"), "application/json");
    EXPECT_EQ(request.header("x-certinbox-event"), "cert.imported");
    json body = json::parse(request.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << request.body;
    EXPECT_EQ(body["seq"], seq);
    EXPECT_EQ(body["type"], "cert.imported");
    EXPECT_EQ(body["certificate"]["fingerprint_sha256"],
              imported["certificate"]["fingerprint_sha256"]);
    EXPECT_EQ(body, imported) << "the body is the event as published";
    // The receiver's check: HMAC-SHA256 of the bytes received, under the shared secret.
    EXPECT_EQ(request.header("x-certinbox-signature"),
              "sha256=" + *webhook::HmacSha256Hex(kSecret, request.body));
    EXPECT_NE(request.header("x-certinbox-signature"),
              "sha256=" + *webhook::HmacSha256Hex("another secret", request.body));
  }
  // Acknowledged: no more POSTs of that event (nothing is to come, so a sleep shows it).
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(RequestsForSeq(receiver, seq).size(), 3u);
}

TEST(WebhookPluginTest, AReceiverThatKeepsFailingIsReportedAndTheNextEventStillGoesOut) {
  // The first event's two attempts fail; everything after is accepted.
  HttpReceiver receiver([](int n) { return n <= 2 ? 503 : 200; });
  ASSERT_TRUE(receiver.listening());
  DaemonHarness daemon(WithWebhook(receiver, 2));
  ASSERT_TRUE(daemon.Start());

  json first = ImportLeaf(daemon, "first.example.test");
  ASSERT_FALSE(first.is_null()) << daemon.log();
  int64_t first_seq = first["seq"].get<int64_t>();
  EXPECT_EQ(WaitForCursor(daemon, first_seq), first_seq) << daemon.log();
  EXPECT_EQ(RequestsForSeq(receiver, first_seq).size(), 2u);

  // The failure is reported: the plugin's last_error in `status`, and the daemon's log.
  std::string expected = "event " + std::to_string(first_seq) + " (cert.imported) not delivered";
  json plugin_status;
  WaitUntil([&] {
    plugin_status = daemon.PluginStatus("hook");
    return plugin_status.is_object() && plugin_status.value("last_error", json()).is_string() &&
           Contains(daemon.log(), expected);
  });
  ASSERT_TRUE(plugin_status.value("last_error", json()).is_string()) << plugin_status.dump(2);
  std::string last_error = plugin_status["last_error"].get<std::string>();
  EXPECT_NE(last_error.find(expected), std::string::npos) << last_error;
  EXPECT_NE(last_error.find("HTTP 503"), std::string::npos) << last_error;
  EXPECT_NE(last_error.find("after 2 attempts"), std::string::npos) << last_error;
  EXPECT_NE(daemon.log().find(expected), std::string::npos) << daemon.log();

  json second = ImportLeaf(daemon, "second.example.test");
  ASSERT_FALSE(second.is_null());
  int64_t second_seq = second["seq"].get<int64_t>();
  EXPECT_EQ(WaitForCursor(daemon, second_seq), second_seq) << daemon.log();
  auto delivered = RequestsForSeq(receiver, second_seq);
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].status, 200);
  EXPECT_EQ(json::parse(delivered[0].body)["certificate"]["fingerprint_sha256"],
            second["certificate"]["fingerprint_sha256"]);
  EXPECT_EQ(RequestsForSeq(receiver, first_seq).size(), 2u) << "the skipped event is not retried";
}

TEST(WebhookPluginTest, AnEventCutShortByAStopIsNotAcknowledgedAndGoesOutAfterTheRestart) {
  std::atomic<bool> recovered{false};
  HttpReceiver receiver([&](int) { return recovered ? 200 : 503; });
  ASSERT_TRUE(receiver.listening());
  // A long backoff: the stop comes while the plugin waits to retry.
  DaemonHarness daemon(WithWebhook(receiver, 8, "60s"));
  ASSERT_TRUE(daemon.Start());

  json imported = ImportLeaf(daemon, "stopped.example.test");
  ASSERT_FALSE(imported.is_null()) << daemon.log();
  int64_t seq = imported["seq"].get<int64_t>();
  ASSERT_TRUE(receiver.WaitForRequests(1, 30s)) << daemon.log();

  // SIGTERM to the daemon stops the plugin in its backoff: it exits at once (no SIGKILL 5 s
  // later) without acknowledging the event.
  auto stopping = Clock::now();
  daemon.Stop(SIGTERM);
  EXPECT_LT(Clock::now() - stopping, 4s);
  EXPECT_NE(daemon.log().find("plugin hook stopped (exit 0)"), std::string::npos) << daemon.log();
  EXPECT_EQ(RequestsForSeq(receiver, seq).size(), 1u);

  recovered = true;
  ASSERT_TRUE(daemon.Start());
  EXPECT_EQ(WaitForCursor(daemon, seq), seq) << daemon.log();
  auto requests = RequestsForSeq(receiver, seq);
  ASSERT_EQ(requests.size(), 2u) << "delivered again after the restart";
  EXPECT_EQ(requests[0].status, 503);
  EXPECT_EQ(requests[1].status, 200);
  EXPECT_EQ(json::parse(requests[1].body)["certificate"]["fingerprint_sha256"],
            imported["certificate"]["fingerprint_sha256"]);
}

TEST(WebhookPluginTest, AMissingSecretFileIsAnErrorAtStart) {
  HarnessOptions options;
  options.extra_toml =
      "[[plugin]]\nname = \"hook\"\ncommand = \"certinbox-webhook\"\n"
      "[plugin.options]\nurl = \"http://127.0.0.1:9/hook\"\n"
      "secret_file = \"/nonexistent/webhook.secret\"\n";
  DaemonHarness daemon(options);
  ASSERT_TRUE(daemon.Start());
  // It says why and exits (1); the supervisor restarts it with its backoff.
  json plugin_status;
  WaitUntil([&] {
    plugin_status = daemon.PluginStatus("hook");
    return plugin_status.is_object() && plugin_status.value("last_exit", json()).is_string();
  });
  EXPECT_EQ(plugin_status.value("last_exit", json()), "exit 1") << plugin_status.dump(2);
  EXPECT_NE(daemon.log().find("cannot read the webhook's secret_file /nonexistent/webhook.secret"),
            std::string::npos)
      << daemon.log();
}

}  // namespace
}  // namespace certinbox::testing
