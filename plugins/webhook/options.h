// certinbox-webhook's [plugin.options] (docs/plugins.md, "certinbox-webhook"), checked at start:
// a plugin with a wrong option says so once and exits, instead of failing every event.
#pragma once

#include <chrono>
#include <expected>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"

namespace certinbox::webhook {

struct WebhookOptions {
  std::string url;
  std::string secret;                         // empty: the body is not signed
  std::chrono::milliseconds timeout{10'000};  // per attempt
  int attempts = 8;
  std::chrono::milliseconds backoff{1'000};  // first retry delay; doubles, at most kMaxBackoff
};

inline constexpr std::chrono::milliseconds kMaxBackoff{5 * 60 * 1000};

// Reads the options object. `secret_file` is read here (relative to the working directory, the
// plugin's folder); its trailing line break is not part of the secret. A file that is missing,
// unreadable or empty is an error, as are `secret` and `secret_file` together.
base::Result<WebhookOptions> ParseWebhookOptions(const nlohmann::json& options);

// The wait before retry number `retry` (1 = the first retry): backoff · 2^(retry-1), at most
// kMaxBackoff.
std::chrono::milliseconds RetryDelay(std::chrono::milliseconds backoff, int retry);

}  // namespace certinbox::webhook
