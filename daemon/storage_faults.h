// Files whose import could not be stored because of the host's storage, not the file: a full
// disk (storage_full), a read-only database or filesystem (storage_read_only), a failing disk
// (storage_io), or any other storage_* error. Such a file is never moved to failed/ nor
// removed: it stays in its inbox and goes back to its watcher after a pause (1 s, doubling up to
// 30 s while the fault lasts), so a lasting fault is retried without a busy loop. `status`
// reports the fault until a batch is stored again.
#pragma once

#include <uv.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/time.h"
#include "base/uv_handle.h"
#include "pipeline/error.h"

namespace certinbox::daemon {

struct Inbox;

class StorageFaults {
 public:
  // A fault's "since" is clock.Now(); `clock` must outlive this. Pauses are timed by the loop.
  StorageFaults(uv_loop_t* loop, const base::Clock& clock);

  // An error of the storage layer (code storage_*), which says nothing about the file.
  static bool IsStorageFault(const base::Error& error);

  // Storing failed with `error`: `file` of `inbox` (which counts it in inbox.jobs) goes back to
  // the inbox's watcher after the pause. Loop thread.
  void Hold(const base::Error& error, Inbox& inbox, std::string file);
  // A batch was stored and synced: the fault, if any, is over.
  void Cleared();
  // Hands every held file back now (the import service drains before the inboxes go).
  void ReleaseAll();

  size_t held() const { return held_.size(); }
  // null, or {"code", "message", "since" (unix seconds), "retries", "files_waiting"}.
  nlohmann::json StatusJson() const;

 private:
  static constexpr uint64_t kFirstPauseMs = 1000;
  static constexpr uint64_t kLongestPauseMs = 30'000;

  struct Held {
    Inbox* inbox;
    std::string file;
  };
  struct Fault {
    base::Error error;
    int64_t since = 0;  // unix seconds
    uint64_t retries = 0;
  };

  void ArmRetry();

  const base::Clock& clock_;
  base::UvHandlePtr<uv_timer_t> timer_;
  std::vector<Held> held_;
  std::optional<Fault> fault_;
  uint64_t pause_ms_ = kFirstPauseMs;
};

}  // namespace certinbox::daemon
