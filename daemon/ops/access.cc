#include "daemon/ops/access.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <set>

#include "base/error_codes.h"
#include "base/text.h"
#include "daemon/roles.h"

namespace certinbox::daemon::ops {
namespace {

using nlohmann::json;

// The op as text for the log (a non-string op is the registry's bad_request, not ours).
std::string OpText(const json& request) { return ForLog(TextArg(request, "op")); }

}  // namespace

std::optional<base::Error> Access::Refusal(const Request& request) const {
  if (auto refused = RefusedForRole(request)) return refused;
  return RefusedForPeer(request);
}

std::optional<base::Error> Access::RefusedForRole(const Request& request) const {
  const ControlServer::Peer& peer = request.peer();
  // ipc:// requests: the socket file's mode let them in (and RefusedForPeer narrows plugins'
  // users). Over tcp:// every request came through the ZAP handler with a client's name.
  if (!config_.control_endpoint.starts_with("tcp://") && peer.name.empty()) return std::nullopt;
  if (RoleAllows(peer.role, request.body())) return std::nullopt;
  const std::string op = OpText(request.body());
  spdlog::warn("control request '{}' from {} (role {}) refused", op, peer.Who(),
               peer.role.empty() ? "none: not in [[bus.client]]" : peer.role);
  return base::Error{base::code::kForbidden,
                     "'" + op + "' is not allowed to client '" + peer.name + "' (role " +
                         (peer.role.empty() ? "none" : peer.role) +
                         "): read may only read; admin may change but not export keys; keys may "
                         "read and export keys; plugin:NAME may ask only that plugin's ops"};
}

std::optional<base::Error> Access::RefusedForPeer(const Request& request) const {
  const ControlServer::Peer& peer = request.peer();
  if (!peer.uid || *peer.uid == 0 || *peer.uid == ::geteuid()) return std::nullopt;
  std::set<std::string> own;  // the plugins that run as this peer's user
  for (const PluginConfig& plugin : config_.plugins) {
    if (plugin.uid && *plugin.uid == *peer.uid) own.insert(plugin.name);
  }
  // Not a plugin's user: the socket's mode let it in (its owner or group), as before.
  if (own.empty()) return std::nullopt;
  const std::string op = TextArg(request.body(), "op");
  if (IsPluginOp(op) && own.contains(TextArg(request.body(), "plugin"))) return std::nullopt;
  if (op == "events") return std::nullopt;  // what the publish socket shows it anyway
  const std::string cursor = TextArg(request.body(), "cursor");
  if (op == "ack" && cursor.starts_with("plugin:") && own.contains(cursor.substr(7))) {
    return std::nullopt;
  }
  std::string names;
  for (const auto& name : own) names += (names.empty() ? "" : ", ") + name;
  spdlog::warn("control request '{}' from uid {} (the user of plugin {}) refused", ForLog(op),
               *peer.uid, names);
  return base::Error{base::code::kForbidden,
                     "uid " + std::to_string(*peer.uid) + " runs plugin " + names +
                         ": it may ask only its plugins' ops (plugin.hello, plugin.bindings, "
                         "material, push.report, plugin.report), events, and ack of their cursors"};
}

void Access::LogWhoAsked(const Request& request) const {
  const OpKind kind = KindOf(request.body());
  if (kind != OpKind::kChange && kind != OpKind::kKeyMaterial) return;
  std::string entry;
  if (auto it = request.body().find("entry"); it != request.body().end() && it->is_string()) {
    entry = " " + ForLog(it->get<std::string>());
  }
  spdlog::info("control {}{} asked by {}", OpText(request.body()), entry, request.peer().Who());
}

}  // namespace certinbox::daemon::ops
