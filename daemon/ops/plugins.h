// Ops of plugins (docs/plugins.md "Control requests of plugins"): plugin.hello,
// plugin.bindings, material, push.report, plugin.report.
//
// Every request names its plugin and carries its token, the daemon's HMAC of "plugin:NAME"
// under a key derived from the master key (storage::Inventory::Tag). The plugin must be one of
// the config's [[plugin]]s (else unknown_plugin) and the token must match (else
// unauthenticated). A plugin then sees and reports only the resources bound to it: anything
// else is `forbidden`, and a refused or served private key is a row of the key export audit log
// (endpoint "plugin:NAME").
#pragma once

#include "base/time.h"
#include "daemon/config.h"
#include "daemon/ops/registry.h"
#include "daemon/plugin_supervisor.h"
#include "daemon/publisher.h"
#include "storage/inventory.h"

namespace certinbox::daemon::ops {

class PluginOps : public OpGroup {
 public:
  // `config` is the daemon's running config (a reload changes it in place).
  PluginOps(storage::Inventory& inventory, Publisher& publisher, PluginSupervisor& supervisor,
            const Config& config, const base::Clock& clock)
      : inventory_(inventory),
        publisher_(publisher),
        supervisor_(supervisor),
        config_(config),
        clock_(clock) {}
  void Register(OpRegistry& registry) override;

 private:
  // The [[plugin]] a request speaks for, if its token is right.
  base::Result<const PluginConfig*> Authenticate(const Request& request) const;
  base::Result<nlohmann::json> Hello(const PluginConfig& plugin);
  base::Result<nlohmann::json> Bindings(const PluginConfig& plugin);
  base::Result<nlohmann::json> Material(const PluginConfig& plugin, const Request& request);
  base::Result<nlohmann::json> PushReport(const PluginConfig& plugin, const Request& request);
  base::Result<nlohmann::json> Report(const PluginConfig& plugin, const Request& request);
  // A row of the key export audit log and a log line, for a key `plugin` asked for.
  struct KeyAudit {
    int64_t entry_id = 0;
    std::string entry;
    int64_t version = 0;
    std::string outcome;  // exported | refused
    std::string reason;   // the refusal's code
  };
  void Audit(const std::string& plugin, const std::string& resource, const KeyAudit& audit,
             base::UnixTime now);

  storage::Inventory& inventory_;
  Publisher& publisher_;
  PluginSupervisor& supervisor_;
  const Config& config_;
  const base::Clock& clock_;
};

}  // namespace certinbox::daemon::ops
