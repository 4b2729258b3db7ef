// `certinbox plugin env`: one plugin.env request (docs/protocol.md).
#include "cli/plugin_commands.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/exit_codes.h"
#include "cli/render.h"
#include "cli/shell_quote.h"

namespace certinbox::cli {

CLI::App* AddPlugin(CLI::App& app, PluginCommand& command) {
  CLI::App* plugin = app.add_subcommand("plugin", "Work with the plugins the daemon supervises");
  plugin->require_subcommand(1);
  command.env = plugin->add_subcommand(
      "env", "Print the environment the daemon gives a plugin, as shell export lines");
  command.env->add_option("name", command.name, "The plugin's name, as in its [[plugin]]")
      ->required()
      ->type_name("NAME");
  command.env->add_flag("--json", command.json, "Print {\"env\": {VARIABLE: value}} instead");
  command.env->footer(
      "Prints one 'export VARIABLE='value'' line for each variable the daemon sets for the\n"
      "plugin (CERTINBOX_PLUGIN, CERTINBOX_PLUGIN_TOKEN, CERTINBOX_CONTROL, CERTINBOX_PUBLISH,\n"
      "CERTINBOX_PLUGIN_EVENTS, CERTINBOX_PLUGIN_OPTIONS, CERTINBOX_PLUGIN_DIR) and its\n"
      "[[plugin]] env, quoted for a POSIX shell, so that you can run the plugin by hand (to\n"
      "debug it) as the daemon would. Left out: the daemon's own environment, and\n"
      "CERTINBOX_SUPERVISOR_PID (a supervised plugin exits when its parent is not that pid;\n"
      "one run by hand has no supervisor). The output holds the plugin's token, a secret: do\n"
      "not paste it anywhere. A plugin run by hand gets its events by the same cursor as the\n"
      "supervised one: disable that one first (enabled = false) so that they do not share it.\n\n"
      "Examples:\n"
      "  eval \"$(certinbox plugin env deploy)\"; certinbox-deploy\n"
      "  certinbox plugin env webhook --json | jq -r .env.CERTINBOX_PLUGIN_OPTIONS\n\n"
      "Exit codes: 0 ok, 1 the daemon answered with an error (unknown_plugin: no such\n"
      "[[plugin]]), 2 usage error, 3 unreachable.");
  plugin->footer(
      "Plugins are declared in the daemon's config ([[plugin]]); 'certinbox status' shows\n"
      "each one's state, restarts, last error and cursor.\n\n"
      "Examples:\n"
      "  certinbox plugin env deploy\n\n"
      "Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage error, 3 unreachable.");
  return plugin;
}

int RunPlugin(const GlobalOptions& global, const PluginCommand& command) {
  auto session = Session::Open(global);
  if (!session) return session.error();
  auto reply = (*session)->Request("plugin.env", {{"plugin", command.name}});
  if (!reply) return (*session)->Fail(reply.error());
  if (command.json) {
    std::cout << DumpJson(*reply, 2) << "\n";
    return kExitOk;
  }
  const Json& env = FieldOf(*reply, "env");
  if (!env.is_object()) {
    PrintError("the daemon's plugin.env reply has no env");
    return kExitDaemonError;
  }
  for (const auto& [var, value] : env.items()) {
    std::cout << "export " << var << "="
              << ShellQuote(value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  }
  return kExitOk;
}

}  // namespace certinbox::cli
