// Operator ops of the plugin supervisor: plugin.env (docs/protocol.md).
#include "daemon/control_args.h"
#include "daemon/daemon.h"

namespace certinbox::daemon {

using nlohmann::json;

void Daemon::RegisterSupervisorOps() {
  // What a supervised plugin gets in its environment (besides the daemon's own), to run it by
  // hand: `certinbox plugin env NAME`.
  AddOp("plugin.env", [this](const json& request) -> json {
    std::string name = RequiredString(request, "plugin");
    if (!plugins_->Configured(name)) {
      std::string known;
      for (const PluginConfig& p : config_.plugins) known += (known.empty() ? "" : ", ") + p.name;
      return ControlServer::ErrorReply(
          "unknown_plugin", "no [[plugin]] named '" + name + "' is configured (configured: " +
                                (known.empty() ? "none" : known) + ")");
    }
    return {{"env", plugins_->Environment(name)}};
  });
}

}  // namespace certinbox::daemon
