// The expiry scheduler: runs the inventory's expiry scan at start, every scan_interval and soon
// after each import, and publishes what it announced (cert.expiring, cert.expired).
// Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <vector>

#include "base/time.h"
#include "base/uv_handle.h"
#include "daemon/publisher.h"
#include "storage/inventory.h"

namespace certinbox::daemon {

class ExpiryScheduler {
 public:
  // Scans judge expiry at clock.Now(); `clock` must outlive the scheduler. The scan interval is
  // timed by the loop (libuv's monotonic clock), not by `clock`.
  ExpiryScheduler(uv_loop_t* loop, storage::Inventory& inventory, Publisher& publisher,
                  const base::Clock& clock, uint64_t scan_interval_s);

  // Schedules the first scan on the next loop turn, then one every scan_interval.
  void Start();
  // Asks for a scan on the next loop turn (after an import committed); several requests in one
  // turn make one scan. The periodic schedule restarts from it.
  void ScanSoon();
  // No more scans; the timer closes with the scheduler.
  void Stop();

  // A reloaded config: a new interval, or new rules (the inventory's options); scans on the next
  // loop turn.
  void Reconfigure(uint64_t scan_interval_s);

  // Scans now and publishes the events; failures are logged (the next scan retries).
  void Scan();

 private:
  storage::Inventory& inventory_;
  Publisher& publisher_;
  const base::Clock& clock_;
  uint64_t interval_ms_;
  base::UvHandlePtr<uv_timer_t> timer_;
  bool stopped_ = false;
};

}  // namespace certinbox::daemon
