// Who may ask what over tcp:// (docs/protocol.md "Authentication" and "Roles"), and the record
// of who asked for each change and each key.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <set>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/text.h"
#include "daemon/daemon.h"
#include "daemon/roles.h"

namespace certinbox::daemon {

using nlohmann::json;

namespace {

// The op as text for the log (a non-string op is the dispatcher's bad_request, not ours).
std::string OpText(const json& request) {
  auto it = request.find("op");
  if (it == request.end() || !it->is_string()) return "";
  return base::Escape(base::Shorten(it->get<std::string>()));
}

}  // namespace

base::Result<void> Daemon::StartCurve() {
  const bool tcp = config_.control_endpoint.starts_with("tcp://") ||
                   config_.publish_endpoint.starts_with("tcp://");
  if (!tcp) return {};
  auto keys = LoadOrCreateServerKeys(config_.state_dir);
  if (!keys) return std::unexpected(keys.error());
  curve_keys_ = std::make_unique<CurveServerKeys>(std::move(*keys));
  // Before the sockets that use it are bound: a CURVE socket with no handler admits any key.
  auto zap = ZapHandler::Bind(&loop_, zmq_, config_.clients);
  if (!zap) return std::unexpected(zap.error());
  zap_ = std::move(*zap);
  spdlog::info(
      "tcp:// endpoints take CURVE clients only: {} client key(s) allowed; the server's "
      "public key is {} (in {})",
      config_.clients.size(), curve_keys_->public_z85,
      (config_.state_dir / "curve_server.pub").string());
  return {};
}

SocketAccess Daemon::BusAccess() const {
  SocketAccess access{.curve = curve_keys_.get(), .zap = zap_.get()};
  if (config_.ipc_uids.empty() && config_.ipc_gids.empty()) return access;
  std::set<uint32_t> uids(config_.ipc_uids.begin(), config_.ipc_uids.end());
  uids.insert(0);
  uids.insert(::geteuid());
  for (const PluginConfig& plugin : config_.plugins) {
    if (plugin.uid) uids.insert(*plugin.uid);
  }
  access.ipc_uids.assign(uids.begin(), uids.end());
  access.ipc_gids = config_.ipc_gids;
  return access;
}

json Daemon::CurveStatus() const {
  if (!zap_ || !curve_keys_) return nullptr;
  return {{"server_public_key", curve_keys_->public_z85},
          {"clients", config_.clients.size()},
          {"admitted", zap_->admitted()},
          {"refused", zap_->refused()}};
}

std::optional<json> Daemon::RefusedForRole(const json& request) const {
  // ipc:// requests: the socket file's mode let them in (and RefusedForPeer narrows plugins'
  // users). Over tcp:// every request came through the ZAP handler with a client's name.
  if (!config_.control_endpoint.starts_with("tcp://") && peer_.name.empty()) return std::nullopt;
  if (RoleAllows(peer_.role, request)) return std::nullopt;
  const std::string op = OpText(request);
  spdlog::warn("control request '{}' from {} (role {}) refused", op, peer_.Who(),
               peer_.role.empty() ? "none: not in [[bus.client]]" : peer_.role);
  return ControlServer::ErrorReply(
      base::code::kForbidden,
      "'" + op + "' is not allowed to client '" + peer_.name + "' (role " +
          (peer_.role.empty() ? "none" : peer_.role) +
          "): read may only read; admin may change but not export keys; keys may "
          "read and export keys; plugin:NAME may ask only that plugin's ops");
}

void Daemon::LogWhoAsked(const json& request) const {
  const OpKind kind = KindOf(request);
  if (kind != OpKind::kChange && kind != OpKind::kKeyMaterial) return;
  std::string entry;
  if (auto it = request.find("entry"); it != request.end() && it->is_string()) {
    entry = " " + base::Escape(base::Shorten(it->get<std::string>()));
  }
  spdlog::info("control {}{} asked by {}", OpText(request), entry, peer_.Who());
}

}  // namespace certinbox::daemon
