#include "cli/session.h"

#include <iostream>

#include "base/error.h"
#include "base/error_codes.h"
#include "cli/endpoint.h"
#include "cli/exit_codes.h"

namespace certinbox::cli {

void PrintError(std::string_view message) { std::cerr << "certinbox: " << message << std::endl; }

Session::Session(std::string endpoint, std::string origin, std::chrono::milliseconds timeout,
                 sdk::CurveKeys curve)
    : context_(1),
      control_(context_, std::move(endpoint)),
      origin_(std::move(origin)),
      timeout_(timeout),
      curve_(std::move(curve)) {
  control_.SetCurve(curve_);
}

namespace {

// The keys for a tcp:// endpoint: --curve-key is required; --server-key, else the daemon's
// public key file in the config's state_dir. Fails with curve_keys, or as LoadClientKeys does.
base::Result<sdk::CurveKeys> CurveKeysFor(const GlobalOptions& options,
                                          const std::string& endpoint) {
  // Given on ipc:// too: a tcp:// publish endpoint (events --follow) needs the keys.
  if (!endpoint.starts_with("tcp://") && options.curve_key.empty()) return sdk::CurveKeys{};
  if (options.curve_key.empty()) {
    return base::Fail(base::code::kCurveKeys,
                      "the control endpoint " + endpoint +
                          " takes CURVE clients only: give this client's secret key with "
                          "--curve-key FILE (`certinbox keygen` makes one)");
  }
  std::string server_key = options.server_key;
  if (server_key.empty()) {
    auto from_config = ServerKeyFileFromConfig(
        std::filesystem::path(options.config.empty() ? kDefaultConfigFile : options.config));
    if (!from_config) {
      return base::Fail(base::code::kCurveKeys,
                        "give the daemon's public key with --server-key FILE (" +
                            from_config.error().message + ")");
    }
    server_key = from_config->string();
  }
  return sdk::LoadClientKeys(options.curve_key, server_key);
}

}  // namespace

std::expected<std::unique_ptr<Session>, int> Session::Open(const GlobalOptions& options) {
  auto endpoint = ResolveControlEndpoint(options.control, options.config);
  if (!endpoint) {
    std::string message = endpoint.error().message;
    // A config the daemon refused (a reload that did not validate) still names its socket.
    if (message.find("--control") == std::string::npos) {
      message +=
          " (or give the endpoint with --control ENDPOINT, e.g. "
          "ipc:///var/lib/certinbox/control.sock)";
    }
    PrintError(message);
    return std::unexpected(kExitUsage);
  }
  // Fail at once rather than after the timeout when the socket file says no daemon listens.
  if (auto usable = CheckIpcEndpoint(endpoint->endpoint); !usable) {
    PrintError(usable.error().message + " (control endpoint from " + endpoint->origin + ")");
    return std::unexpected(kExitUnreachable);
  }
  auto curve = CurveKeysFor(options, endpoint->endpoint);
  if (!curve) {
    PrintError(curve.error().message);
    return std::unexpected(kExitUsage);
  }
  return std::unique_ptr<Session>(new Session(endpoint->endpoint, endpoint->origin,
                                              std::chrono::milliseconds(options.timeout_ms),
                                              std::move(*curve)));
}

base::Result<Json> Session::Request(const std::string& op, Json args) {
  return control_.Request(op, std::move(args), timeout_);
}

base::Result<Json> Session::Request(const std::string& op, Json args,
                                    std::chrono::milliseconds timeout) {
  return control_.Request(op, std::move(args), timeout);
}

int Session::Fail(const base::Error& error) const {
  if (error.code == base::code::kUnreachable) {
    PrintError(error.message + " (control endpoint from " + origin_ + ")");
    return kExitUnreachable;
  }
  if (error.code == base::code::kBadReply) {
    PrintError(error.message + ": is " + control_.endpoint() + " a certinboxd control socket?");
    return kExitDaemonError;
  }
  PrintError((error.message.empty() ? error.code : error.message) + " (" + error.code + ")");
  return kExitDaemonError;
}

}  // namespace certinbox::cli
