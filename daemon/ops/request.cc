#include "daemon/ops/request.h"

#include "base/error_codes.h"

namespace certinbox::daemon::ops {
namespace {

using nlohmann::json;

std::unexpected<base::Error> WrongType(const char* key, const std::string& what) {
  return BadRequest(std::string("'") + key + "' must be " + what);
}

std::unexpected<base::Error> Missing(const char* key, const char* what) {
  return BadRequest(std::string("'") + key + "' " + (what ? std::string("(") + what + ") " : "") +
                    "is required");
}

}  // namespace

json ErrorReply(const base::Error& error) {
  return ControlServer::ErrorReply(error.code, error.message);
}

std::unexpected<base::Error> BadRequest(std::string message) {
  return base::Fail(base::code::kBadRequest, std::move(message));
}

base::Result<std::string> OpName(const json& request) {
  auto it = request.find("op");
  if (it == request.end()) return "";
  if (!it->is_string()) return WrongType("op", "a string naming the operation, e.g. \"status\"");
  return it->get<std::string>();
}

base::Result<std::optional<std::string>> Request::String(const char* key) const {
  auto it = body_.find(key);
  if (it == body_.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return WrongType(key, "a string");
  return it->get<std::string>();
}

base::Result<std::string> Request::RequiredString(const char* key, const char* what) const {
  auto value = String(key);
  if (!value) return std::unexpected(value.error());
  if (!*value || (*value)->empty()) return Missing(key, what);
  return std::move(**value);
}

base::Result<std::optional<int64_t>> Request::Int(const char* key, int64_t min, int64_t max) const {
  auto it = body_.find(key);
  if (it == body_.end() || it->is_null()) return std::nullopt;
  const std::string range =
      "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  if (!it->is_number_integer()) return WrongType(key, range);
  // An unsigned number above INT64_MAX would wrap in get<int64_t>(): compare it unsigned.
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(max)) {
    return WrongType(key, range);
  }
  const int64_t value = it->get<int64_t>();
  if (value < min || value > max) return WrongType(key, range);
  return value;
}

base::Result<int64_t> Request::RequiredInt(const char* key, int64_t min, int64_t max,
                                           const char* what) const {
  auto value = Int(key, min, max);
  if (!value) return std::unexpected(value.error());
  if (!*value) return Missing(key, what);
  return **value;
}

base::Result<std::optional<bool>> Request::Bool(const char* key) const {
  auto it = body_.find(key);
  if (it == body_.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return WrongType(key, "true or false");
  return it->get<bool>();
}

base::Result<bool> Request::RequiredBool(const char* key, const char* what) const {
  auto value = Bool(key);
  if (!value) return std::unexpected(value.error());
  if (!*value) return Missing(key, what);
  return **value;
}

base::Result<std::optional<std::vector<std::string>>> Request::Strings(const char* key) const {
  auto it = body_.find(key);
  if (it == body_.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return std::vector<std::string>{it->get<std::string>()};
  if (!it->is_array()) return WrongType(key, "an array of strings");
  std::vector<std::string> out;
  for (const auto& item : *it) {
    if (!item.is_string()) return WrongType(key, "an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

base::Result<std::optional<json>> Request::Object(const char* key, const char* what) const {
  auto it = body_.find(key);
  if (it == body_.end() || it->is_null()) return std::nullopt;
  if (!it->is_object()) return WrongType(key, what);
  return *it;
}

}  // namespace certinbox::daemon::ops
