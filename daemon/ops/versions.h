// Ops on an entry's versions and metadata: rollback, meta (docs/protocol.md).
#pragma once

#include "base/time.h"
#include "daemon/ops/registry.h"
#include "daemon/publisher.h"
#include "storage/inventory.h"

namespace certinbox::daemon::ops {

class VersionOps : public OpGroup {
 public:
  VersionOps(storage::Inventory& inventory, Publisher& publisher, const base::Clock& clock)
      : inventory_(inventory), publisher_(publisher), clock_(clock) {}
  void Register(OpRegistry& registry) override;

 private:
  // {entry, to} -> {certificate, previous, seq}: the cert.renewed it published.
  base::Result<nlohmann::json> Rollback(const Request& request);
  // {entry, description?, add_labels?, remove_labels?, set?, unset?, version?}
  //   -> {changed, certificate?, seq?}: certificate and seq only when something changed.
  base::Result<nlohmann::json> Meta(const Request& request);

  storage::Inventory& inventory_;
  Publisher& publisher_;
  const base::Clock& clock_;
};

}  // namespace certinbox::daemon::ops
