// Ops on the event outbox (docs/protocol.md "Replay"): events, ack, cursors, cursor.delete.
#pragma once

#include <cstdint>

#include "base/time.h"
#include "daemon/ops/registry.h"
#include "daemon/publisher.h"
#include "storage/inventory.h"

namespace certinbox::daemon::ops {

// Every cursor with how far it is behind `last_seq`: `cursors`, and status's "cursors".
nlohmann::json CursorsJson(storage::Inventory& inventory, int64_t last_seq);

class EventOps : public OpGroup {
 public:
  EventOps(storage::Inventory& inventory, const Publisher& publisher, const base::Clock& clock)
      : inventory_(inventory), publisher_(publisher), clock_(clock) {}
  void Register(OpRegistry& registry) override;

 private:
  // Replays the outbox from `since`, or from where the named `cursor` stands (0 for a new one).
  base::Result<nlohmann::json> Events(const Request& request);
  base::Result<nlohmann::json> Ack(const Request& request);
  base::Result<nlohmann::json> DeleteCursor(const Request& request);

  storage::Inventory& inventory_;
  const Publisher& publisher_;
  const base::Clock& clock_;
};

}  // namespace certinbox::daemon::ops
