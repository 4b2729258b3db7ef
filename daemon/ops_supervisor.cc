// Operator ops of the plugin supervisor: plugin.env (docs/protocol.md).
#include "daemon/control_args.h"
#include "daemon/daemon.h"

namespace certinbox::daemon {

using nlohmann::json;

std::expected<const PluginConfig*, json> Daemon::ConfiguredPlugin(const std::string& name) const {
  auto plugin = std::find_if(config_.plugins.begin(), config_.plugins.end(),
                             [&](const PluginConfig& p) { return p.name == name; });
  if (plugin != config_.plugins.end()) return &*plugin;
  std::string known;
  for (const PluginConfig& p : config_.plugins) known += (known.empty() ? "" : ", ") + p.name;
  return std::unexpected(ControlServer::ErrorReply(
      "unknown_plugin", "no [[plugin]] named '" + Shorten(name) + "' is configured (configured: " +
                            (known.empty() ? "none" : known) + ")"));
}

void Daemon::RegisterSupervisorOps() {
  // What a supervised plugin gets in its environment (besides the daemon's own), to run it by
  // hand: `certinbox plugin env NAME`; all but CERTINBOX_SUPERVISOR_PID.
  AddOp("plugin.env", [this](const json& request) -> json {
    std::string name = RequiredString(request, "plugin");
    if (auto plugin = ConfiguredPlugin(name); !plugin) return plugin.error();
    auto env = plugins_->Environment(name);
    // A plugin run by hand has no supervisor: with this variable it would see a parent that is
    // not the daemon and exit at once.
    env.erase("CERTINBOX_SUPERVISOR_PID");
    return {{"env", std::move(env)}};
  });
}

}  // namespace certinbox::daemon
