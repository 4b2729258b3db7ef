// Ops on entries: ls, show, rm (docs/protocol.md).
#pragma once

#include "base/time.h"
#include "daemon/import_service.h"
#include "daemon/ops/registry.h"
#include "daemon/publisher.h"
#include "storage/inventory.h"

namespace certinbox::daemon::ops {

// ls and show on any inventory: the loop's, or a read-only view on a pool thread (the web
// page's API, daemon/web_api.cc). Arguments as the control ops take them (docs/protocol.md).
base::Result<nlohmann::json> ListEntries(storage::Inventory& inventory, const Request& request,
                                         base::UnixTime now);
base::Result<nlohmann::json> ShowEntry(storage::Inventory& inventory, const Request& request,
                                       base::UnixTime now);

class EntryOps : public OpGroup {
 public:
  // `imports` learns when a CA is deleted (new drops must not chain to it).
  EntryOps(storage::Inventory& inventory, Publisher& publisher, ImportService& imports,
           const base::Clock& clock)
      : inventory_(inventory), publisher_(publisher), imports_(imports), clock_(clock) {}
  void Register(OpRegistry& registry) override;

 private:
  base::Result<nlohmann::json> Ls(const Request& request);
  base::Result<nlohmann::json> Show(const Request& request);
  base::Result<nlohmann::json> Rm(const Request& request);

  storage::Inventory& inventory_;
  Publisher& publisher_;
  ImportService& imports_;
  const base::Clock& clock_;
};

}  // namespace certinbox::daemon::ops
