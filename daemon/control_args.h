// Reading the arguments of a control request (docs/protocol.md). A present argument of the wrong
// type throws std::invalid_argument, which Daemon::Handle answers as "bad_request".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/error.h"
#include "pipeline/text.h"

namespace certinbox::daemon {

// {"error": {"code", "message"}} for a failed storage or pipeline call.
nlohmann::json Failure(const pipeline::Error& error);

std::optional<std::string> StringArg(const nlohmann::json& request, const char* key);
std::optional<int64_t> IntArg(const nlohmann::json& request, const char* key);
std::optional<bool> BoolArg(const nlohmann::json& request, const char* key);
// An array of strings; a single string counts as a list of one.
std::optional<std::vector<std::string>> StringsArg(const nlohmann::json& request, const char* key);
// StringArg that must be present and non-empty.
std::string RequiredString(const nlohmann::json& request, const char* key);

using pipeline::Shorten;

}  // namespace certinbox::daemon
