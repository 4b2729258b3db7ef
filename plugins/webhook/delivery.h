// Delivering one event to the webhook's URL: POST with libcurl, retried with backoff. The waits
// are cut into short steps so that a stop (SIGTERM) ends a delivery within a fraction of a
// second, also in the middle of an HTTP attempt.
#pragma once

#include <curl/curl.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "plugins/webhook/options.h"

namespace certinbox::webhook {

struct AttemptResult {
  bool ok = false;       // a 2xx answer
  long http_status = 0;  // 0: no answer
  std::string error;     // "HTTP 503", "Couldn't connect to server", "stopped", …
};

// One reusable libcurl handle (keeps the connection alive between events). One thread.
class Poster {
 public:
  explicit Poster(const WebhookOptions& options);
  ~Poster();
  Poster(const Poster&) = delete;
  Poster& operator=(const Poster&) = delete;

  // One POST of `body` with the event headers (and the signature when there is a secret).
  // `stopping` is polled during the transfer; when it turns true the attempt is abandoned.
  AttemptResult Post(const std::string& body, const std::string& type, int64_t seq,
                     const std::function<bool()>& stopping);

 private:
  const WebhookOptions& options_;
  CURL* curl_;
};

enum class Outcome { kDelivered, kFailed, kStopped };

struct DeliveryResult {
  Outcome outcome = Outcome::kFailed;
  int attempts = 0;        // how many POSTs were made
  std::string last_error;  // of the last attempt
};

// Delivers `event` (its JSON is the body, as published): up to options.attempts POSTs, waiting
// RetryDelay(backoff, n) before retry n. Returns kStopped as soon as `stopping()` is true (the
// event was not delivered and must not be acknowledged). `log` gets one line per failed attempt.
DeliveryResult Deliver(Poster& poster, const WebhookOptions& options, const nlohmann::json& event,
                       const std::function<bool()>& stopping,
                       const std::function<void(const std::string&)>& log);

// "1 s", "250 ms", "2 min" for log lines.
std::string DescribeDelay(std::chrono::milliseconds delay);

}  // namespace certinbox::webhook
