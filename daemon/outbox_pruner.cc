#include "daemon/outbox_pruner.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/time.h"

namespace certinbox::daemon {
namespace {

// One transaction deletes at most this many events, so the loop thread is never held long.
constexpr int kBatch = 5000;
// Batches in one run; the rest waits for the next run.
constexpr int kBatchesPerRun = 20;

}  // namespace

OutboxPruner::OutboxPruner(uv_loop_t* loop, storage::Inventory& inventory,
                           const Publisher& publisher, const base::Clock& clock,
                           uint64_t retention_s)
    : inventory_(inventory),
      publisher_(publisher),
      clock_(clock),
      retention_s_(retention_s),
      timer_(base::NewUvTimer(loop, this)) {}

uint64_t OutboxPruner::IntervalMs() const {
  return std::clamp<uint64_t>(retention_s_ * 1000 / 4, 1000, 3'600'000);
}

void OutboxPruner::Start() {
  if (stopped_ || retention_s_ == 0) return;
  uv_timer_start(
      timer_.get(), [](uv_timer_t* timer) { static_cast<OutboxPruner*>(timer->data)->Prune(); }, 0,
      IntervalMs());
}

void OutboxPruner::Stop() {
  stopped_ = true;
  uv_timer_stop(timer_.get());
}

void OutboxPruner::Reconfigure(uint64_t retention_s) {
  retention_s_ = retention_s;
  uv_timer_stop(timer_.get());
  Start();
}

int64_t OutboxPruner::Prune() {
  if (retention_s_ == 0) return 0;
  const base::UnixTime before = clock_.Now() - static_cast<int64_t>(retention_s_);
  int64_t total = 0;
  for (int i = 0; i < kBatchesPerRun; ++i) {
    auto pruned = inventory_.PruneEvents(before, publisher_.last_published_seq(), kBatch);
    if (!pruned) {
      spdlog::error("pruning old events failed, will retry: {}", pruned.error().message);
      break;
    }
    total += *pruned;
    if (*pruned < kBatch) break;
  }
  if (total > 0) spdlog::info("pruned {} event(s) past the retention", total);
  return total;
}

}  // namespace certinbox::daemon
