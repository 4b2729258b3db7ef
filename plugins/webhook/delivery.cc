#include "plugins/webhook/delivery.h"

#include <thread>

#include "base/wire.h"
#include "plugins/webhook/signature.h"

namespace certinbox::webhook {
namespace {

using Clock = std::chrono::steady_clock;

struct Transfer {
  const std::function<bool()>* stopping = nullptr;
  std::string answer;  // the start of the answer's body, for the log
};

size_t KeepStart(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (transfer->answer.size() < 200) {
    transfer->answer.append(data, std::min(n, 200 - transfer->answer.size()));
  }
  return n;
}

int CheckStop(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  return (*transfer->stopping)() ? 1 : 0;  // non-zero aborts the transfer
}

// One line, printable, for a log: the answer body may be anything.
std::string OneLine(const std::string& text) {
  std::string out;
  for (char c : text) out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void Add(const std::string& header) { list = curl_slist_append(list, header.c_str()); }
};

}  // namespace

std::string DescribeDelay(std::chrono::milliseconds delay) {
  auto ms = delay.count();
  if (ms < 1000) return std::to_string(ms) + " ms";
  if (ms < 120'000 || ms % 60'000 != 0) {
    return ms % 1000 == 0
               ? std::to_string(ms / 1000) + " s"
               : std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100) + " s";
  }
  return std::to_string(ms / 60'000) + " min";
}

Poster::Poster(const WebhookOptions& options) : options_(options), curl_(curl_easy_init()) {}

Poster::~Poster() {
  if (curl_) curl_easy_cleanup(curl_);
}

AttemptResult Poster::Post(const std::string& body, const std::string& type, int64_t seq,
                           const std::function<bool()>& stopping) {
  AttemptResult result;
  if (!curl_) {
    result.error = "libcurl could not be initialised";
    return result;
  }
  HeaderList headers;
  headers.Add("Content-Type: application/json");
  headers.Add("X-Certinbox-Event: " + type);
  headers.Add("X-Certinbox-Seq: " + std::to_string(seq));
  if (!options_.secret.empty()) {
    auto signature = SignatureHeaderValue(options_.secret, body);
    if (!signature) {
      result.error = "cannot compute the HMAC-SHA256 signature";
      return result;
    }
    headers.Add("X-Certinbox-Signature: " + *signature);
  }
  headers.Add("Expect:");  // no 100-continue round trip: the body is small

  Transfer transfer{&stopping, {}};
  curl_easy_reset(curl_);  // keeps the connection cache
  curl_easy_setopt(curl_, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl_, CURLOPT_POST, 1L);
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(curl_, CURLOPT_USERAGENT, "certinbox-webhook");
  curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, KeepStart);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl_, CURLOPT_XFERINFOFUNCTION, CheckStop);
  curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, &transfer);

  CURLcode code = curl_easy_perform(curl_);
  if (code == CURLE_ABORTED_BY_CALLBACK) {
    result.error = "stopped";
    return result;
  }
  if (code != CURLE_OK) {
    result.error = curl_easy_strerror(code);
    return result;
  }
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &result.http_status);
  result.ok = result.http_status >= 200 && result.http_status < 300;
  if (!result.ok) {
    result.error = "HTTP " + std::to_string(result.http_status);
    std::string answer = OneLine(transfer.answer);
    if (!answer.empty()) result.error += " (" + answer + ")";
  }
  return result;
}

DeliveryResult Deliver(Poster& poster, const WebhookOptions& options, const nlohmann::json& event,
                       const std::function<bool()>& stopping,
                       const std::function<void(const std::string&)>& log) {
  DeliveryResult result;
  const std::string body = event.dump();
  const std::string type = event.value(base::field::kType, "");
  const int64_t seq = event.value(base::field::kSeq, int64_t{0});
  for (int attempt = 1; attempt <= options.attempts; ++attempt) {
    if (stopping()) {
      result.outcome = Outcome::kStopped;
      return result;
    }
    AttemptResult posted = poster.Post(body, type, seq, stopping);
    if (posted.ok) {
      result.outcome = Outcome::kDelivered;
      result.attempts = attempt;
      return result;
    }
    if (stopping()) {
      result.outcome = Outcome::kStopped;
      return result;
    }
    result.attempts = attempt;
    result.last_error = posted.error;
    if (attempt == options.attempts) break;
    auto delay = RetryDelay(options.backoff, attempt);
    log("event " + std::to_string(seq) + " (" + type + ") to " + options.url + ": " + posted.error +
        " (attempt " + std::to_string(attempt) + " of " + std::to_string(options.attempts) +
        "), retrying in " + DescribeDelay(delay));
    auto until = Clock::now() + delay;
    while (Clock::now() < until) {
      if (stopping()) {
        result.outcome = Outcome::kStopped;
        return result;
      }
      auto step = std::min<Clock::duration>(std::chrono::milliseconds(50), until - Clock::now());
      std::this_thread::sleep_for(step);
    }
  }
  result.outcome = Outcome::kFailed;
  return result;
}

}  // namespace certinbox::webhook
