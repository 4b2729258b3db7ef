// Reading the arguments of a control request (docs/protocol.md). A present argument of the wrong
// type throws std::invalid_argument, which Daemon::Handle answers as "bad_request".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/text.h"
#include "pipeline/error.h"

namespace certinbox::daemon {

// {"error": {"code", "message"}} for a failed storage or pipeline call.
nlohmann::json Failure(const base::Error& error);

std::optional<std::string> StringArg(const nlohmann::json& request, const char* key);
// A whole number from `min` to `max` (docs/protocol.md gives each argument's range). A number out
// of range, a fraction or any other type throws std::invalid_argument: an unsigned 2^64-1 is
// not read as -1, nor a -1 limit as 1.
std::optional<int64_t> IntArg(const nlohmann::json& request, const char* key, int64_t min,
                              int64_t max);
// Ranges the ops share.
inline constexpr int64_t kMaxSeq = INT64_MAX;       // an event's seq, a version number
inline constexpr int64_t kMaxSeconds = 3155760000;  // a duration: 100 years
// The request's `op`: "" when absent; not a string throws std::invalid_argument.
std::string OpName(const nlohmann::json& request);
std::optional<bool> BoolArg(const nlohmann::json& request, const char* key);
// An array of strings; a single string counts as a list of one.
std::optional<std::vector<std::string>> StringsArg(const nlohmann::json& request, const char* key);
// StringArg that must be present and non-empty.
std::string RequiredString(const nlohmann::json& request, const char* key);

using base::Shorten;

// Request content for a log line: cut to `max_bytes` and escaped, so it can neither flood the
// log nor forge a line (a newline) or drive a terminal (an escape sequence).
inline std::string ForLog(std::string text, size_t max_bytes = base::kMaxEchoBytes) {
  return base::Escape(Shorten(std::move(text), max_bytes));
}

}  // namespace certinbox::daemon
