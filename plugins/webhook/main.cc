// certinbox-webhook: POSTs each event of its `events` to a URL (docs/plugins.md,
// "certinbox-webhook"). Events go out one at a time, in seq order; a failed POST is retried with
// backoff, and after the last attempt the failure is reported (plugin.report) and the plugin moves
// on to the next event. A stop in the middle of a delivery leaves the event unacknowledged, so it
// is delivered after the restart.
#include <curl/curl.h>

#include <csignal>
#include <iostream>

#include "base/wire.h"
#include "plugins/sdk/plugin.h"
#include "plugins/webhook/delivery.h"
#include "plugins/webhook/options.h"

namespace certinbox::webhook {
namespace {

int Main() {
  auto env = sdk::PluginEnv::FromEnvironment();
  if (!env) {
    std::cerr << "certinbox-webhook: " << env.error().message << "\n";
    return 1;
  }
  sdk::Plugin plugin(*env);
  auto options = ParseWebhookOptions(env->options);
  if (!options) {
    std::cerr << "certinbox-webhook: " << options.error().message << "\n";
    plugin.ReportProblem("error", options.error().message);
    return 1;
  }
  std::cerr << "certinbox-webhook: posting events to " << options->url
            << (options->secret.empty() ? " (unsigned)" : " (signed)") << "\n";
  Poster poster(*options);
  auto stopping = [&plugin] { return plugin.stopping(); };
  auto log = [](const std::string& line) { std::cerr << "certinbox-webhook: " << line << "\n"; };
  return plugin.Run([&](const nlohmann::json& event) {
    DeliveryResult result = Deliver(poster, *options, event, stopping, log);
    switch (result.outcome) {
      case Outcome::kDelivered:
        return;
      case Outcome::kStopped:
        // Not delivered: Stop() tells the runtime not to acknowledge it (sdk/plugin.h).
        plugin.Stop();
        return;
      case Outcome::kFailed: {
        std::string message =
            "event " + std::to_string(event.value(base::field::kSeq, int64_t{0})) + " (" +
            event.value(base::field::kType, "") + ") not delivered to " + options->url + ": " +
            result.last_error + " after " + std::to_string(result.attempts) +
            (result.attempts == 1 ? " attempt" : " attempts") + "; skipped";
        log(message);
        plugin.ReportProblem("error", message);
        return;
      }
    }
  });
}

}  // namespace
}  // namespace certinbox::webhook

namespace {

// clang-format off
constexpr char kUsage[] = R"USAGE(certinbox-webhook: POSTs each certinbox event to a URL (a plugin of certinboxd)

Started by certinboxd for a [[plugin]] whose command is certinbox-webhook; its options come
from [plugin.options] (CERTINBOX_PLUGIN_OPTIONS):

  url = "https://hooks.example.com/certinbox"    required
  secret = "..." | secret_file = "/etc/..."      signs the body: X-Certinbox-Signature: sha256=HEX
  timeout = "10s"                                per attempt
  attempts = 8                                   then the event is reported failed and skipped
  backoff = "1s"                                 first retry delay, doubling, at most 5 min

Headers: Content-Type: application/json, X-Certinbox-Event: TYPE, X-Certinbox-Seq: SEQ.
A 2xx answer is success. To run it by hand against a running daemon:
  eval "$(certinbox plugin env NAME)"; certinbox-webhook

Exit codes: 0 stopped (SIGTERM, or the daemon is gone); 1 bad environment, bad options or the
daemon refused its identity; 2 an argument other than --help.
Reference: docs/plugins.md, "certinbox-webhook".
)USAGE";
// clang-format on

}  // namespace

int main(int argc, char** argv) {
  if (auto code = certinbox::sdk::HandleArguments(argc, argv, "certinbox-webhook", kUsage))
    return *code;
  std::signal(SIGPIPE, SIG_IGN);  // a receiver that hangs up is an error of one attempt
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int code = certinbox::webhook::Main();
  curl_global_cleanup();
  return code;
}
