// A control request as an op sees it (docs/protocol.md): its JSON object, who sent it, and
// readers for its arguments. A reader never throws: it returns the value, nothing when the
// argument is absent or null, or a bad_request Error that names the argument and what it must be.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/text.h"
#include "daemon/control_server.h"

namespace certinbox::daemon::ops {

// Ranges the ops share.
inline constexpr int64_t kMaxSeq = INT64_MAX;       // an event's seq, a version number
inline constexpr int64_t kMaxSeconds = 3155760000;  // a duration: 100 years

// The request's `op`: "" when absent, bad_request when it is not a string.
base::Result<std::string> OpName(const nlohmann::json& request);

class Request {
 public:
  Request(const nlohmann::json& body, const ControlServer::Peer& peer) : body_(body), peer_(peer) {}

  const nlohmann::json& body() const { return body_; }
  const ControlServer::Peer& peer() const { return peer_; }
  bool Has(const char* key) const { return body_.contains(key); }

  base::Result<std::optional<std::string>> String(const char* key) const;
  // A string that must be present and non-empty; `what`, when given, says what it is in the
  // error ("'to' (a version number, 1 or more) is required").
  base::Result<std::string> RequiredString(const char* key, const char* what = nullptr) const;
  // A whole number from `min` to `max` (docs/protocol.md gives each argument's range). A number
  // out of range, a fraction or any other type is refused: an unsigned 2^64-1 is not read as -1,
  // nor a -1 limit as 1.
  base::Result<std::optional<int64_t>> Int(const char* key, int64_t min, int64_t max) const;
  base::Result<int64_t> RequiredInt(const char* key, int64_t min, int64_t max,
                                    const char* what) const;
  base::Result<std::optional<bool>> Bool(const char* key) const;
  base::Result<bool> RequiredBool(const char* key, const char* what) const;
  // An array of strings; a single string counts as a list of one.
  base::Result<std::optional<std::vector<std::string>>> Strings(const char* key) const;
  // An object of key: value pairs.
  base::Result<std::optional<nlohmann::json>> Object(const char* key, const char* what) const;

 private:
  const nlohmann::json& body_;
  const ControlServer::Peer& peer_;
};

// The error reply {"error": {"code", "message"}} of a failed op, storage or pipeline call.
nlohmann::json ErrorReply(const base::Error& error);

// A bad_request Error with `message`.
std::unexpected<base::Error> BadRequest(std::string message);

// Request content for a log line: cut to `max_bytes` and escaped, so it can neither flood the
// log nor forge a line (a newline) or drive a terminal (an escape sequence).
inline std::string ForLog(std::string text, size_t max_bytes = base::kMaxEchoBytes) {
  return base::Escape(base::Shorten(std::move(text), max_bytes));
}

}  // namespace certinbox::daemon::ops
