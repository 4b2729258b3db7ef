#include "cli/session.h"

#include <iostream>

#include "cli/endpoint.h"
#include "cli/exit_codes.h"

namespace certinbox::cli {

void PrintError(std::string_view message) { std::cerr << "certinbox: " << message << std::endl; }

Session::Session(std::string endpoint, std::string origin, std::chrono::milliseconds timeout)
    : context_(1),
      control_(context_, std::move(endpoint)),
      origin_(std::move(origin)),
      timeout_(timeout) {}

std::expected<std::unique_ptr<Session>, int> Session::Open(const GlobalOptions& options) {
  auto endpoint = ResolveControlEndpoint(options.control, options.config);
  if (!endpoint) {
    PrintError(endpoint.error());
    return std::unexpected(kExitUsage);
  }
  // Fail at once rather than after the timeout when the socket file says no daemon listens.
  if (auto problem = IpcEndpointProblem(endpoint->endpoint)) {
    PrintError(*problem + " (control endpoint from " + endpoint->origin + ")");
    return std::unexpected(kExitUnreachable);
  }
  return std::unique_ptr<Session>(new Session(endpoint->endpoint, endpoint->origin,
                                              std::chrono::milliseconds(options.timeout_ms)));
}

sdk::ClientResult<Json> Session::Request(const std::string& op, Json args) {
  return control_.Request(op, std::move(args), timeout_);
}

sdk::ClientResult<Json> Session::Request(const std::string& op, Json args,
                                         std::chrono::milliseconds timeout) {
  return control_.Request(op, std::move(args), timeout);
}

int Session::Fail(const sdk::ClientError& error) const {
  if (error.code == "unreachable") {
    PrintError(error.message + " (control endpoint from " + origin_ + ")");
    return kExitUnreachable;
  }
  if (error.code == "bad_reply") {
    PrintError(error.message + ": is " + control_.endpoint() + " a certinboxd control socket?");
    return kExitDaemonError;
  }
  PrintError((error.message.empty() ? error.code : error.message) + " (" + error.code + ")");
  return kExitDaemonError;
}

}  // namespace certinbox::cli
