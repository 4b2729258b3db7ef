#include "daemon/control_args.h"

#include <stdexcept>

#include "base/error.h"
#include "daemon/control_server.h"

namespace certinbox::daemon {
namespace {

std::invalid_argument WrongType(const char* key, const char* what) {
  return std::invalid_argument(std::string("'") + key + "' must be " + what);
}

}  // namespace

nlohmann::json Failure(const base::Error& error) {
  return ControlServer::ErrorReply(error.code, error.message);
}

std::optional<std::string> StringArg(const nlohmann::json& request, const char* key) {
  auto it = request.find(key);
  if (it == request.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw WrongType(key, "a string");
  return it->get<std::string>();
}

std::optional<int64_t> IntArg(const nlohmann::json& request, const char* key, int64_t min,
                              int64_t max) {
  auto it = request.find(key);
  if (it == request.end() || it->is_null()) return std::nullopt;
  const std::string range =
      "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  if (!it->is_number_integer()) throw WrongType(key, range.c_str());
  // An unsigned number above INT64_MAX would wrap in get<int64_t>(): compare it unsigned.
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(max)) {
    throw WrongType(key, range.c_str());
  }
  const int64_t value = it->get<int64_t>();
  if (value < min || value > max) throw WrongType(key, range.c_str());
  return value;
}

std::string OpName(const nlohmann::json& request) {
  auto it = request.find("op");
  if (it == request.end()) return "";
  if (!it->is_string()) throw WrongType("op", "a string naming the operation, e.g. \"status\"");
  return it->get<std::string>();
}

std::optional<bool> BoolArg(const nlohmann::json& request, const char* key) {
  auto it = request.find(key);
  if (it == request.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) throw WrongType(key, "true or false");
  return it->get<bool>();
}

std::optional<std::vector<std::string>> StringsArg(const nlohmann::json& request, const char* key) {
  auto it = request.find(key);
  if (it == request.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return std::vector<std::string>{it->get<std::string>()};
  if (!it->is_array()) throw WrongType(key, "an array of strings");
  std::vector<std::string> out;
  for (const auto& item : *it) {
    if (!item.is_string()) throw WrongType(key, "an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string RequiredString(const nlohmann::json& request, const char* key) {
  auto value = StringArg(request, key);
  if (!value || value->empty())
    throw std::invalid_argument(std::string("'") + key + "' is required");
  return *value;
}

}  // namespace certinbox::daemon
