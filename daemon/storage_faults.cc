#include "daemon/storage_faults.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/error.h"
#include "base/text.h"
#include "base/time.h"
#include "daemon/import_service.h"

namespace certinbox::daemon {

StorageFaults::StorageFaults(uv_loop_t* loop, const base::Clock& clock)
    : clock_(clock), timer_(base::NewUvTimer(loop, this)) {}

bool StorageFaults::IsStorageFault(const base::Error& error) {
  return error.code.starts_with("storage_");
}

void StorageFaults::Hold(const base::Error& error, Inbox& inbox, std::string file) {
  if (!fault_) {
    fault_ = Fault{error, clock_.Now(), 0};
    spdlog::error("storage fault ({}): {}; files stay in their inboxes and are tried again",
                  error.code, base::Shorten(error.message));
  } else {
    fault_->error = error;
  }
  held_.push_back({&inbox, std::move(file)});
  ArmRetry();
}

void StorageFaults::ArmRetry() {
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(timer_.get()))) return;
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* timer) {
        auto* self = static_cast<StorageFaults*>(timer->data);
        if (self->fault_) ++self->fault_->retries;
        self->pause_ms_ = std::min(self->pause_ms_ * 2, kLongestPauseMs);
        self->ReleaseAll();
      },
      pause_ms_, 0);
}

void StorageFaults::Cleared() {
  if (fault_) {
    spdlog::info("storage works again after {} retries", fault_->retries);
    fault_.reset();
  }
  pause_ms_ = kFirstPauseMs;
}

void StorageFaults::ReleaseAll() {
  uv_timer_stop(timer_.get());
  // Release may call back into the import service; hand over a list nobody else changes.
  std::vector<Held> held;
  held.swap(held_);
  for (auto& [inbox, file] : held) {
    inbox->watcher->Release(file);
    --inbox->jobs;
  }
}

nlohmann::json StorageFaults::StatusJson() const {
  if (!fault_) return nullptr;
  return {{"code", fault_->error.code},
          {"message", base::Shorten(fault_->error.message)},
          {"since", fault_->since},
          {"retries", fault_->retries},
          {"files_waiting", held_.size()}};
}

}  // namespace certinbox::daemon
