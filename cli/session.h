// One command's connection to the daemon's control socket, and how failures are reported:
// "certinbox: <message>" on stderr and an exit code from cli/exit_codes.h.
#pragma once

#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "base/error.h"
#include "cli/json_text.h"
#include "plugins/sdk/client.h"

namespace certinbox::cli {

struct GlobalOptions {
  std::string control;  // --control / CERTINBOX_CONTROL; "" when not given
  std::string config;   // --config / CERTINBOX_CONFIG; "" when not given
  int timeout_ms = 10'000;
  // tcp:// endpoints (docs/cli.md "Over tcp://"): this client's secret key file and the
  // daemon's public key file; the latter defaults to STATE_DIR/curve_server.pub of the config.
  std::string curve_key;   // --curve-key / CERTINBOX_CURVE_KEY
  std::string server_key;  // --server-key / CERTINBOX_SERVER_KEY
};

// Prints "certinbox: <message>" to stderr.
void PrintError(std::string_view message);

class Session {
 public:
  // Finds the endpoint (cli/endpoint.h) and checks that an ipc:// socket file is there. On
  // failure prints why and returns the exit code: kExitUsage for an unreadable config,
  // kExitUnreachable for a missing or forbidden socket.
  static std::expected<std::unique_ptr<Session>, int> Open(const GlobalOptions& options);

  // One control request with the --timeout.
  base::Result<Json> Request(const std::string& op, Json args = Json::object());
  base::Result<Json> Request(const std::string& op, Json args, std::chrono::milliseconds timeout);

  // Prints the failure and returns its exit code: kExitUnreachable when no daemon answered,
  // kExitDaemonError when it answered with an error (or an unusable reply).
  int Fail(const base::Error& error) const;

  sdk::ControlClient& control() { return control_; }
  zmq::context_t& context() { return context_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  // The CURVE keys for a tcp:// endpoint (the event subscription uses them too); empty on ipc://.
  const sdk::CurveKeys& curve() const { return curve_; }

 private:
  Session(std::string endpoint, std::string origin, std::chrono::milliseconds timeout,
          sdk::CurveKeys curve);

  zmq::context_t context_;  // declared first: outlives the sockets below
  sdk::ControlClient control_;
  std::string origin_;
  std::chrono::milliseconds timeout_;
  sdk::CurveKeys curve_;
};

}  // namespace certinbox::cli
