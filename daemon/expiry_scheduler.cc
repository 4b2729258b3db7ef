#include "daemon/expiry_scheduler.h"

#include <spdlog/spdlog.h>

#include "base/time.h"

namespace certinbox::daemon {

ExpiryScheduler::ExpiryScheduler(uv_loop_t* loop, storage::Inventory& inventory,
                                 Publisher& publisher, const base::Clock& clock,
                                 uint64_t scan_interval_s)
    : inventory_(inventory),
      publisher_(publisher),
      clock_(clock),
      interval_ms_(scan_interval_s * 1000),
      timer_(base::NewUvTimer(loop, this)) {}

void ExpiryScheduler::Start() { ScanSoon(); }

void ExpiryScheduler::ScanSoon() {
  if (stopped_) return;
  // Timeout 0 runs on the next loop turn; restarting a pending timer replaces it, which is what
  // coalesces a burst of imports into one scan.
  uv_timer_start(
      timer_.get(), [](uv_timer_t* timer) { static_cast<ExpiryScheduler*>(timer->data)->Scan(); },
      0, interval_ms_);
}

void ExpiryScheduler::Reconfigure(uint64_t scan_interval_s) {
  interval_ms_ = scan_interval_s * 1000;
  ScanSoon();
}

void ExpiryScheduler::Stop() {
  stopped_ = true;
  uv_timer_stop(timer_.get());
}

void ExpiryScheduler::Scan() {
  auto events = inventory_.ScanExpiry(clock_.Now());
  if (!events) {
    spdlog::error("expiry scan failed, will retry at the next one: {}", events.error().message);
    return;
  }
  if (!events->empty()) spdlog::info("expiry scan: {} event(s)", events->size());
  // Written to the outbox in the scan's transaction, which has committed: publish them now.
  for (const auto& event : *events) publisher_.Publish(event);
}

}  // namespace certinbox::daemon
