// Turns settled inbox files into inventory entries: reads and parses them on libuv's thread
// pool, stores the results on the loop thread (several files per transaction), publishes the
// events, and only then removes each file from its inbox (or moves it to failed/).
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "daemon/config.h"
#include "daemon/publisher.h"
#include "watchers/uv_handle.h"
#include "pipeline/validate.h"
#include "storage/inventory.h"
#include "watchers/inbox_watcher.h"

namespace certinbox::daemon {

// One watched inbox: its config and its watcher. Owned by the daemon, address stable.
struct Inbox {
  InboxConfig config;
  std::unique_ptr<watchers::InboxWatcher> watcher;
  // Files handed to the import service and not yet finished, failed or released. An inbox a
  // config reload removed (retired) is destroyed only when this is 0: jobs use its watcher.
  size_t jobs = 0;
  bool retired = false;  // takes no new files
};

struct ImportJob;

class ImportService {
 public:
  ImportService(uv_loop_t* loop, storage::Inventory& inventory, Publisher& publisher,
                bool system_trust);
  ~ImportService();

  // Loads the trust context (system store + stored CAs). Call once before Submit.
  pipeline::Result<void> Start();

  // A watcher handed over a settled file (loop thread).
  void Submit(Inbox& inbox, const watchers::ReadyFile& file);

  // Stops taking new files; calls `done` once every job in flight is stored and published.
  // Files not started are released back to their inboxes.
  void Drain(std::function<void()> done);

  // Called after a batch that stored at least one drop has committed and been published (the
  // daemon asks for an expiry scan there).
  void set_after_store(std::function<void()> callback) { after_store_ = std::move(callback); }

  // Reloads the stored CA certificates into the trust context (after CAs were deleted).
  void RefreshTrust();

  size_t in_flight() const { return running_ + completed_.size(); }
  size_t queued() const { return queue_.size(); }

 private:
  static constexpr size_t kMaxRunning = 64;  // jobs on the thread pool at once (bounds memory)

  void StartQueued();
  void OnJobDone(ImportJob* job);
  void Flush();  // stores every completed job in one transaction, then publishes and finishes
  void RevisitIncompleteChains();
  void MaybeDrained();

  uv_loop_t* loop_;
  storage::Inventory& inventory_;
  Publisher& publisher_;
  bool system_trust_;
  std::shared_ptr<const pipeline::TrustContext> trust_;
  std::deque<std::unique_ptr<ImportJob>> queue_;
  std::vector<std::unique_ptr<ImportJob>> completed_;
  size_t running_ = 0;
  watchers::UvHandlePtr<uv_check_t> flush_check_;
  bool draining_ = false;
  std::function<void()> drained_;
  std::function<void()> after_store_;
};

}  // namespace certinbox::daemon
