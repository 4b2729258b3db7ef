// Makes the stored bindings what the config's [[binding]] declarations say (docs/plugins.md
// "Bindings"), publishes the changes, and remembers what could not be applied (for `status`).
// Loop thread only.
#pragma once

#include <nlohmann/json.hpp>

#include "base/time.h"
#include "daemon/config.h"
#include "daemon/publisher.h"
#include "storage/inventory.h"

namespace certinbox::daemon {

class BindingReconciler {
 public:
  // `config` is the daemon's running config (a reload changes it in place).
  BindingReconciler(storage::Inventory& inventory, Publisher& publisher, const Config& config,
                    const base::Clock& clock)
      : inventory_(inventory), publisher_(publisher), config_(config), clock_(clock) {}

  // At start and after a reload changed the declarations.
  void Reconcile();
  // After an import or a new CSR: when a declaration waits for its entry.
  void ReconcilePending();
  // After an unbind: when a declaration waits for a CLI binding to go.
  void ReconcileConflicts();

  // The declarations the last reconciliation could not apply: [{entry, resource, state,
  // message}], state "pending" (no such entry yet) or "conflict".
  const nlohmann::json& problems() const { return problems_; }

 private:
  storage::Inventory& inventory_;
  Publisher& publisher_;
  const Config& config_;
  const base::Clock& clock_;
  nlohmann::json problems_ = nlohmann::json::array();
};

}  // namespace certinbox::daemon
