// certinbox-exec: runs a command for each event of its `events` (docs/plugins.md,
// "certinbox-exec"). The event JSON is the command's stdin and its main fields are in its
// environment; the command is killed (its process group) after `timeout`. A failure (non-zero
// exit, timeout, a command that cannot start) is logged and reported with plugin.report, and the
// event is acknowledged either way: the plugin does not run a failing command forever.
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "base/wire.h"
#include "plugins/exec/exec_event.h"
#include "plugins/sdk/plugin.h"

namespace certinbox::exec {
namespace {

// The last non-empty line of a command's output, for a one-line report.
std::string LastLine(const std::string& output) {
  size_t end = output.find_last_not_of("\r\n \t");
  if (end == std::string::npos) return "";
  size_t start = output.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return output.substr(start, end - start + 1);
}

int Main() {
  auto env = sdk::PluginEnv::FromEnvironment();
  if (!env) {
    std::cerr << "certinbox-exec: " << env.error().message << "\n";
    return 1;
  }
  // The command is the operator's, not the plugin: it does not get the plugin's identity (the
  // token would let it fetch the private keys of the resources bound to this plugin).
  ::unsetenv("CERTINBOX_PLUGIN_TOKEN");
  sdk::Plugin plugin(*env);
  auto options = ParseExecOptions(env->options);
  if (!options) {
    std::cerr << "certinbox-exec: " << options.error().message << "\n";
    plugin.ReportProblem("error", options.error().message);
    return 1;
  }
  return plugin.Run([&](const nlohmann::json& event) {
    sdk::CommandResult result = sdk::RunCommand(CommandFor(*options, event));
    if (result.ok()) return;
    std::string message = "event " + std::to_string(event.value(base::field::kSeq, int64_t{0})) +
                          " (" + event.value(base::field::kType, "") +
                          "): the command failed: " + result.message;
    std::string last = LastLine(result.output);
    std::cerr << "certinbox-exec: " << message << "\n";
    std::istringstream lines(result.output);
    for (std::string line; std::getline(lines, line);) {
      std::cerr << "certinbox-exec:   | " << line << "\n";
    }
    plugin.ReportProblem("error", last.empty() ? message : message + ": " + last);
  });
}

}  // namespace
}  // namespace certinbox::exec

namespace {

// clang-format off
constexpr char kUsage[] = R"USAGE(certinbox-exec: runs a command for each certinbox event (a plugin of certinboxd)

Started by certinboxd for a [[plugin]] whose command is certinbox-exec; its options come from
[plugin.options] (CERTINBOX_PLUGIN_OPTIONS):

  command = ["/usr/local/bin/on-cert-event"]     required: argv, or a string for /bin/sh -c
  timeout = "30s"                                then its process group is killed

The command gets the event JSON on stdin and CERTINBOX_EVENT_TYPE, _SEQ, _TIME, CERTINBOX_CERT_ID,
_NAME, _GROUP, _VERSION, _FINGERPRINT, _NOT_AFTER, _DAYS_LEFT, _STATUS and CERTINBOX_RESOURCE
(those the event has) in its environment. A non-zero exit or a timeout is logged and reported
(certinbox status: last_error); the event is acknowledged either way.
To run it by hand against a running daemon:
  eval "$(certinbox plugin env NAME)"; certinbox-exec

Exit codes: 0 stopped (SIGTERM, or the daemon is gone); 1 bad environment, bad options or the
daemon refused its identity; 2 an argument other than --help.
Reference: docs/plugins.md, "certinbox-exec".
)USAGE";
// clang-format on

}  // namespace

int main(int argc, char** argv) {
  if (auto code = certinbox::sdk::HandleArguments(argc, argv, "certinbox-exec", kUsage))
    return *code;
  return certinbox::exec::Main();
}
