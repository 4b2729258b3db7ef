// The outbox's retention: deletes events older than [bus] event_retention, a bounded batch at a
// time, never one that is unpublished or that a registered cursor still needs. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>

#include "base/time.h"
#include "base/uv_handle.h"
#include "daemon/publisher.h"
#include "storage/inventory.h"

namespace certinbox::daemon {

class OutboxPruner {
 public:
  // retention_s 0: keep every event (the pruner never runs). An event's age is measured by
  // `clock`, which must outlive the pruner; the schedule is timed by the loop.
  OutboxPruner(uv_loop_t* loop, storage::Inventory& inventory, const Publisher& publisher,
               const base::Clock& clock, uint64_t retention_s);

  // First run on the next loop turn, then every Interval().
  void Start();
  void Stop();
  // A reloaded config: new retention, schedule restarted.
  void Reconfigure(uint64_t retention_s);

  // Prunes now; failures are logged (the next run retries). Returns the events deleted.
  int64_t Prune();

 private:
  // A quarter of the retention, between 1 second and 1 hour.
  uint64_t IntervalMs() const;

  storage::Inventory& inventory_;
  const Publisher& publisher_;
  const base::Clock& clock_;
  uint64_t retention_s_;
  base::UvHandlePtr<uv_timer_t> timer_;
  bool stopped_ = false;
};

}  // namespace certinbox::daemon
