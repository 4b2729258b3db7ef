// The bus sockets' access: CURVE on tcp:// endpoints (docs/protocol.md "Authentication"), and
// who may connect to the ipc:// socket files.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <set>

#include "daemon/daemon.h"
#include "daemon/ipc_access.h"

namespace certinbox::daemon {

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

}  // namespace certinbox::daemon
