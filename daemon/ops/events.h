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

// A page of `events` (docs/protocol.md "Replay") from any inventory: the loop's, or a read-only
// view on a pool thread (the web page's API). `published_seq`: the publisher's last seq.
base::Result<nlohmann::json> EventsPage(storage::Inventory& inventory, const Request& request,
                                        int64_t published_seq);

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
