#include "daemon/ops/plugin_env.h"

#include <unistd.h>

#include "base/error_codes.h"

namespace certinbox::daemon::ops {

using nlohmann::json;

void PluginEnvOp::Register(OpRegistry& registry) {
  registry.Add("plugin.env", [this](const Request& request) { return Env(request); });
}

base::Result<json> PluginEnvOp::Env(const Request& request) const {
  const ControlServer::Peer& peer = request.peer();
  if (peer.role != "keys" && (!peer.uid || (*peer.uid != 0 && *peer.uid != ::geteuid()))) {
    return base::Fail(
        base::code::kForbidden,
        "plugin.env hands out a plugin's token: it answers only root and certinboxd's user (uid " +
            std::to_string(::geteuid()) + "), and this request came from " +
            (peer.uid ? "uid " + std::to_string(*peer.uid) : "a peer of unknown uid"));
  }
  auto name = request.RequiredString("plugin");
  if (!name) return std::unexpected(name.error());
  if (auto plugin = FindPlugin(config_, *name); !plugin) return std::unexpected(plugin.error());
  auto env = supervisor_.Environment(*name);
  // A plugin run by hand has no supervisor: with this variable it would see a parent that is
  // not the daemon and exit at once.
  env.erase("CERTINBOX_SUPERVISOR_PID");
  return json{{"env", std::move(env)}};
}

}  // namespace certinbox::daemon::ops
