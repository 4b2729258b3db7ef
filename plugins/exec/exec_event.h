// certinbox-exec's options and what it gives the command for one event (docs/plugins.md,
// "certinbox-exec"): the event JSON on stdin and its main fields in the environment.
#pragma once

#include <chrono>
#include <expected>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "base/error.h"
#include "plugins/sdk/command.h"

namespace certinbox::exec {

struct ExecOptions {
  // argv (argv[0] searched in PATH), or a string for /bin/sh -c.
  std::variant<std::vector<std::string>, std::string> program;
  std::chrono::milliseconds timeout{30'000};
};

// Reads [plugin.options]: `command` (a non-empty array of strings, or a non-empty string) and
// `timeout` (a duration, default 30 s). Unknown keys are errors.
base::Result<ExecOptions> ParseExecOptions(const nlohmann::json& options);

// The variables for one event: CERTINBOX_EVENT_TYPE/_SEQ/_TIME, and those of the event's
// certificate summary and resource that it has (a missing or null field gives no variable).
std::vector<std::pair<std::string, std::string>> EventEnvironment(const nlohmann::json& event);

// The command for one event: the program, the event's variables, the event JSON (one line and a
// line break) on stdin, the timeout.
sdk::Command CommandFor(const ExecOptions& options, const nlohmann::json& event);

}  // namespace certinbox::exec
