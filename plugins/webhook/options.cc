#include "plugins/webhook/options.h"

#include <fstream>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/error_codes.h"
#include "plugins/sdk/command.h"

namespace certinbox::webhook {
namespace {

using nlohmann::json;

using base::Fail;

// A duration is "10s", "250ms", "5m", … or a number of seconds.
base::Result<std::chrono::milliseconds> Duration(const json& value, const std::string& key) {
  std::optional<std::chrono::milliseconds> parsed;
  if (value.is_string()) {
    parsed = sdk::ParseDurationMs(value.get<std::string>());
  } else if (value.is_number() && value.get<double>() >= 0) {
    parsed = std::chrono::milliseconds(static_cast<int64_t>(value.get<double>() * 1000));
  }
  if (!parsed || parsed->count() < 0) {
    return Fail(base::code::kBadOption, "webhook option " + key + " = " + value.dump() +
                                            " is not a duration (\"10s\", \"250ms\", \"5m\")");
  }
  return *parsed;
}

// The secret in the file named by option secret_file, without its trailing line breaks.
base::Result<std::string> ReadSecretFile(const json& file) {
  if (!file.is_string() || file.get<std::string>().empty()) {
    return Fail(base::code::kBadOption, "webhook option secret_file must be a file name");
  }
  std::ifstream in(file.get<std::string>(), std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in) {
    return Fail(base::code::kSecretUnreadable, "cannot read the webhook's secret_file " +
                                                   file.get<std::string>() +
                                                   " (missing or unreadable)");
  }
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) {
    return Fail(base::code::kSecretUnreadable,
                "the webhook's secret_file " + file.get<std::string>() + " is empty");
  }
  return secret;
}

}  // namespace

std::chrono::milliseconds RetryDelay(std::chrono::milliseconds backoff, int retry) {
  auto delay = backoff;
  for (int i = 1; i < retry && delay < kMaxBackoff; ++i) delay *= 2;
  return std::min(delay, kMaxBackoff);
}

base::Result<WebhookOptions> ParseWebhookOptions(const json& options) {
  if (!options.is_object())
    return Fail(base::code::kBadOption, "the webhook's options are not a table");
  static const std::set<std::string> kKnown = {"url",     "secret",   "secret_file",
                                               "timeout", "attempts", "backoff"};
  for (const auto& [key, value] : options.items()) {
    if (!kKnown.contains(key)) {
      return Fail(base::code::kUnknownOption, "unknown webhook option '" + key +
                                                  "' (known: url, secret, secret_file, timeout, "
                                                  "attempts, backoff)");
    }
  }
  WebhookOptions out;
  if (!options.contains("url")) {
    return Fail(base::code::kMissingOption,
                "the webhook needs option url (the address to POST events to)");
  }
  const json& url = options["url"];
  if (!url.is_string() || !(url.get<std::string>().starts_with("http://") ||
                            url.get<std::string>().starts_with("https://"))) {
    return Fail(base::code::kBadOption,
                "webhook option url = " + url.dump() + " is not an http:// or https:// address");
  }
  out.url = url.get<std::string>();

  if (options.contains("secret") && options.contains("secret_file")) {
    return Fail(base::code::kBadOption, "give the webhook's secret or secret_file, not both");
  }
  if (options.contains("secret")) {
    const json& secret = options["secret"];
    if (!secret.is_string() || secret.get<std::string>().empty()) {
      return Fail(base::code::kBadOption, "webhook option secret must be a non-empty string");
    }
    out.secret = secret.get<std::string>();
  }
  if (options.contains("secret_file")) {
    auto secret = ReadSecretFile(options["secret_file"]);
    if (!secret) return std::unexpected(secret.error());
    out.secret = std::move(*secret);
  }

  if (options.contains("timeout")) {
    auto timeout = Duration(options["timeout"], "timeout");
    if (!timeout) return std::unexpected(timeout.error());
    if (timeout->count() <= 0)
      return Fail(base::code::kBadOption, "webhook option timeout must be above 0");
    out.timeout = *timeout;
  }
  if (options.contains("backoff")) {
    auto backoff = Duration(options["backoff"], "backoff");
    if (!backoff) return std::unexpected(backoff.error());
    out.backoff = std::min(*backoff, kMaxBackoff);
  }
  if (options.contains("attempts")) {
    const json& attempts = options["attempts"];
    if (!attempts.is_number_integer() || attempts.get<int64_t>() < 1 ||
        attempts.get<int64_t>() > 1000) {
      return Fail(base::code::kBadOption, "webhook option attempts = " + attempts.dump() +
                                              " must be a whole number from 1 to 1000");
    }
    out.attempts = attempts.get<int>();
  }
  return out;
}

}  // namespace certinbox::webhook
