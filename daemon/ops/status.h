// The status op (docs/protocol.md): the daemon's state, counts, inboxes, cursors, plugins,
// storage faults, the last reload and the bindings that could not be made.
#pragma once

#include <memory>
#include <vector>

#include "base/time.h"
#include "daemon/binding_reconciler.h"
#include "daemon/config.h"
#include "daemon/curve_auth.h"
#include "daemon/import_service.h"
#include "daemon/inbox.h"
#include "daemon/ops/registry.h"
#include "daemon/plugin_supervisor.h"
#include "daemon/publisher.h"
#include "daemon/wal_checkpoints.h"
#include "storage/inventory.h"

namespace certinbox::daemon::ops {

inline constexpr char kVersion[] = "0.1.0";

class StatusOp : public OpGroup {
 public:
  // Everything status reports on. The daemon owns it all and keeps it current; the references
  // stay valid as long as the daemon.
  struct Parts {
    const Config& config;  // the running config (a reload changes it in place)
    storage::Inventory& inventory;
    const Publisher& publisher;
    const ImportService& imports;
    const WalCheckpoints& wal_checkpoints;
    const PluginSupervisor& plugins;
    const BindingReconciler& bindings;
    const std::vector<std::unique_ptr<Inbox>>& inboxes;
    const std::vector<UnwatchedInbox>& unwatched_inboxes;
    const CurveServerKeys* curve_keys;  // null without a tcp:// endpoint
    const ZapHandler* zap;              // null without a tcp:// endpoint
    const base::UnixTime& started_at;
    const bool& stopping;
    const nlohmann::json& last_reload;  // null before the first reload
    const base::Clock& clock;
  };
  explicit StatusOp(Parts parts) : parts_(parts) {}
  void Register(OpRegistry& registry) override;

 private:
  nlohmann::json Status() const;
  nlohmann::json Counts() const;
  nlohmann::json Curve() const;  // null without a tcp:// endpoint

  Parts parts_;
};

}  // namespace certinbox::daemon::ops
