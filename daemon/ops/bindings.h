// Ops on bindings made from the CLI: bind, unbind (docs/protocol.md). The config's [[binding]]
// declarations are the BindingReconciler's.
#pragma once

#include "base/time.h"
#include "daemon/binding_reconciler.h"
#include "daemon/config.h"
#include "daemon/ops/registry.h"
#include "daemon/publisher.h"
#include "storage/inventory.h"

namespace certinbox::daemon::ops {

class BindingOps : public OpGroup {
 public:
  // `config` is the daemon's running config (a reload changes it in place).
  BindingOps(storage::Inventory& inventory, Publisher& publisher, BindingReconciler& declared,
             const Config& config, const base::Clock& clock)
      : inventory_(inventory),
        publisher_(publisher),
        declared_(declared),
        config_(config),
        clock_(clock) {}
  void Register(OpRegistry& registry) override;

 private:
  base::Result<nlohmann::json> Bind(const Request& request);
  base::Result<nlohmann::json> Unbind(const Request& request);

  storage::Inventory& inventory_;
  Publisher& publisher_;
  BindingReconciler& declared_;
  const Config& config_;
  const base::Clock& clock_;
};

}  // namespace certinbox::daemon::ops
