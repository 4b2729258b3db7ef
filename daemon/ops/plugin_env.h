// plugin.env (docs/protocol.md): what a supervised plugin gets in its environment (besides the
// daemon's own), to run it by hand: `certinbox plugin env NAME`; all but
// CERTINBOX_SUPERVISOR_PID.
//
// It holds the plugin's token, so it answers only root and the daemon's own user, as libzmq
// reports the peer of an ipc:// socket (SO_PEERCRED), and over tcp:// a CURVE client with the role
// `keys` (daemon/roles.h): a member of the control socket's group, or a peer whose uid the
// transport does not tell, gets `forbidden`.
#pragma once

#include "daemon/config.h"
#include "daemon/ops/registry.h"
#include "daemon/plugin_supervisor.h"

namespace certinbox::daemon::ops {

class PluginEnvOp : public OpGroup {
 public:
  // `config` is the daemon's running config (a reload changes it in place).
  PluginEnvOp(const PluginSupervisor& supervisor, const Config& config)
      : supervisor_(supervisor), config_(config) {}
  void Register(OpRegistry& registry) override;

 private:
  base::Result<nlohmann::json> Env(const Request& request) const;

  const PluginSupervisor& supervisor_;
  const Config& config_;
};

}  // namespace certinbox::daemon::ops
