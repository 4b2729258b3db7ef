#include "plugins/exec/exec_event.h"

#include "base/error.h"
#include "base/error_codes.h"
#include "base/wire.h"

namespace certinbox::exec {
namespace {

using nlohmann::json;

using base::Fail;

// A JSON scalar as an environment value; std::nullopt for null, objects and arrays.
std::optional<std::string> Scalar(const json& value) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (text.find('\0') != std::string::npos) return std::nullopt;  // cannot be in an environment
    return text;
  }
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::nullopt;
}

void AddIfPresent(std::vector<std::pair<std::string, std::string>>& env, const json& object,
                  const char* key, const char* variable) {
  if (!object.is_object()) return;
  auto it = object.find(key);
  if (it == object.end()) return;
  if (auto value = Scalar(*it)) env.emplace_back(variable, *value);
}

}  // namespace

base::Result<ExecOptions> ParseExecOptions(const json& options) {
  if (!options.is_object())
    return Fail(base::code::kBadOption, "the exec plugin's options are not a table");
  for (const auto& [key, value] : options.items()) {
    if (key != "command" && key != "timeout") {
      return Fail(base::code::kUnknownOption,
                  "unknown exec option '" + key + "' (known: command, timeout)");
    }
  }
  ExecOptions out;
  if (!options.contains("command")) {
    return Fail(base::code::kMissingOption,
                "the exec plugin needs option command (an argv array, or a string for /bin/sh -c)");
  }
  const json& command = options["command"];
  if (command.is_string() && !command.get<std::string>().empty()) {
    out.program = command.get<std::string>();
  } else if (command.is_array() && !command.empty()) {
    std::vector<std::string> argv;
    for (const auto& arg : command) {
      if (!arg.is_string()) {
        return Fail(base::code::kBadOption, "exec option command = " + command.dump() +
                                                ": every item of the array must be a string");
      }
      argv.push_back(arg.get<std::string>());
    }
    if (argv[0].empty())
      return Fail(base::code::kBadOption, "exec option command: the program is empty");
    out.program = std::move(argv);
  } else {
    return Fail(base::code::kBadOption,
                "exec option command = " + command.dump() +
                    " must be a non-empty array of strings (argv) or a string");
  }
  if (options.contains("timeout")) {
    const json& timeout = options["timeout"];
    std::optional<std::chrono::milliseconds> parsed;
    if (timeout.is_string()) {
      parsed = sdk::ParseDurationMs(timeout.get<std::string>());
    } else if (timeout.is_number() && timeout.get<double>() > 0) {
      parsed = std::chrono::milliseconds(static_cast<int64_t>(timeout.get<double>() * 1000));
    }
    if (!parsed || parsed->count() <= 0) {
      return Fail(base::code::kBadOption,
                  "exec option timeout = " + timeout.dump() +
                      " is not a duration above 0 (\"30s\", \"500ms\", \"2m\")");
    }
    out.timeout = *parsed;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> EventEnvironment(const json& event) {
  std::vector<std::pair<std::string, std::string>> env;
  AddIfPresent(env, event, "type", "CERTINBOX_EVENT_TYPE");
  AddIfPresent(env, event, "seq", "CERTINBOX_EVENT_SEQ");
  AddIfPresent(env, event, "time", "CERTINBOX_EVENT_TIME");
  if (event.is_object() && event.contains(base::field::kCertificate)) {
    const json& cert = event[base::field::kCertificate];
    AddIfPresent(env, cert, "id", "CERTINBOX_CERT_ID");
    AddIfPresent(env, cert, "name", "CERTINBOX_CERT_NAME");
    AddIfPresent(env, cert, "group", "CERTINBOX_CERT_GROUP");
    AddIfPresent(env, cert, "version", "CERTINBOX_CERT_VERSION");
    AddIfPresent(env, cert, "fingerprint_sha256", "CERTINBOX_CERT_FINGERPRINT");
    AddIfPresent(env, cert, "not_after", "CERTINBOX_CERT_NOT_AFTER");
    AddIfPresent(env, cert, "days_left", "CERTINBOX_CERT_DAYS_LEFT");
    AddIfPresent(env, cert, "status", "CERTINBOX_CERT_STATUS");
  }
  AddIfPresent(env, event, "resource", "CERTINBOX_RESOURCE");
  return env;
}

sdk::Command CommandFor(const ExecOptions& options, const json& event) {
  sdk::Command command;
  command.program = options.program;
  command.env = EventEnvironment(event);
  command.stdin_data = event.dump() + "\n";
  command.timeout = options.timeout;
  return command;
}

}  // namespace certinbox::exec
