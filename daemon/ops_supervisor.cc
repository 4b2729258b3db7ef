// Operator ops of the plugin supervisor: plugin.env (docs/protocol.md).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <set>

#include "base/error_codes.h"
#include "base/text.h"
#include "daemon/control_args.h"
#include "daemon/daemon.h"
#include "daemon/ipc_access.h"

namespace certinbox::daemon {

using nlohmann::json;

base::Result<const PluginConfig*> Daemon::ConfiguredPlugin(const std::string& name) const {
  auto plugin = std::find_if(config_.plugins.begin(), config_.plugins.end(),
                             [&](const PluginConfig& p) { return p.name == name; });
  if (plugin != config_.plugins.end()) return &*plugin;
  std::string known;
  for (const PluginConfig& p : config_.plugins) known += (known.empty() ? "" : ", ") + p.name;
  return base::Fail(base::code::kUnknownPlugin,
                    "no [[plugin]] named '" + Shorten(name) +
                        "' is configured (configured: " + (known.empty() ? "none" : known) + ")");
}

void Daemon::GrantPluginUsers() {
  std::set<uint32_t> uids;
  for (const PluginConfig& plugin : config_.plugins) {
    if (plugin.uid && *plugin.uid != 0 && *plugin.uid != ::geteuid()) uids.insert(*plugin.uid);
  }
  for (const std::string& endpoint : {config_.control_endpoint, config_.publish_endpoint}) {
    if (auto granted = GrantIpcUsers(endpoint, uids); !granted) {
      spdlog::error("{}: plugins with a user cannot reach the daemon", granted.error().message);
    }
  }
}

std::optional<json> Daemon::RefusedForPeer(const json& request) const {
  if (!peer_.uid || *peer_.uid == 0 || *peer_.uid == ::geteuid()) return std::nullopt;
  std::set<std::string> own;  // the plugins that run as this peer's user
  for (const PluginConfig& plugin : config_.plugins) {
    if (plugin.uid && *plugin.uid == *peer_.uid) own.insert(plugin.name);
  }
  // Not a plugin's user: the socket's mode let it in (its owner or group), as before.
  if (own.empty()) return std::nullopt;
  auto text = [&](const char* key) {
    auto it = request.find(key);
    return it != request.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  static const std::set<std::string> kPluginOps = {"plugin.hello", "plugin.bindings", "material",
                                                   "push.report", "plugin.report"};
  const std::string op = text("op");
  if (kPluginOps.contains(op) && own.contains(text("plugin"))) return std::nullopt;
  if (op == "events") return std::nullopt;  // what the publish socket shows it anyway
  const std::string cursor = text("cursor");
  if (op == "ack" && cursor.starts_with("plugin:") && own.contains(cursor.substr(7))) {
    return std::nullopt;
  }
  std::string names;
  for (const auto& name : own) names += (names.empty() ? "" : ", ") + name;
  spdlog::warn("control request '{}' from uid {} (the user of plugin {}) refused",
               base::Escape(Shorten(op)), *peer_.uid, names);
  return ControlServer::ErrorReply(
      base::code::kForbidden,
      "uid " + std::to_string(*peer_.uid) + " runs plugin " + names +
          ": it may ask only its plugins' ops (plugin.hello, plugin.bindings, "
          "material, push.report, plugin.report), events, and ack of their cursors");
}

void Daemon::RegisterSupervisorOps() {
  // What a supervised plugin gets in its environment (besides the daemon's own), to run it by
  // hand: `certinbox plugin env NAME`; all but CERTINBOX_SUPERVISOR_PID.
  //
  // It holds the plugin's token, so it answers only root and the daemon's own user, as libzmq
  // reports the peer of an ipc:// socket (SO_PEERCRED): a member of the control socket's group,
  // or a peer whose uid the transport does not tell, gets `forbidden`.
  AddOp("plugin.env", [this](const json& request) -> json {
    // Over tcp:// a CURVE client with the role `keys` may ask too (daemon/roles.h).
    if (peer_.role != "keys" && (!peer_.uid || (*peer_.uid != 0 && *peer_.uid != ::geteuid()))) {
      return ControlServer::ErrorReply(
          base::code::kForbidden,
          "plugin.env hands out a plugin's token: it answers only root and certinboxd's user "
          "(uid " +
              std::to_string(::geteuid()) + "), and this request came from " +
              (peer_.uid ? "uid " + std::to_string(*peer_.uid) : "a peer of unknown uid"));
    }
    std::string name = RequiredString(request, "plugin");
    if (auto plugin = ConfiguredPlugin(name); !plugin) return Failure(plugin.error());
    auto env = plugins_->Environment(name);
    // A plugin run by hand has no supervisor: with this variable it would see a parent that is
    // not the daemon and exit at once.
    env.erase("CERTINBOX_SUPERVISOR_PID");
    return {{"env", std::move(env)}};
  });
}

}  // namespace certinbox::daemon
