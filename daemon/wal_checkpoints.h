// Checkpoints the inventory's WAL on libuv's thread pool (storage::Checkpointer), so the loop
// thread never copies the WAL back into the database nor waits for the checkpoint's fsyncs.
// Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <filesystem>
#include <memory>

#include "base/error.h"
#include "pipeline/error.h"
#include "storage/inventory.h"

namespace certinbox::daemon {

class WalCheckpoints {
 public:
  // A commit that leaves the WAL at this many pages or more queues a checkpoint (SQLite's own
  // automatic checkpoint uses the same size).
  static constexpr int kPages = storage::Inventory::kAutoCheckpointPages;

  // Takes over `inventory`'s checkpoints (Inventory::HandOverCheckpoints); `database` is its
  // file. `inventory` must outlive the returned object.
  static base::Result<std::unique_ptr<WalCheckpoints>> Start(uv_loop_t* loop,
                                                             storage::Inventory& inventory,
                                                             const std::filesystem::path& database);
  // Stops queueing checkpoints. One already queued still runs (it holds what it needs); the
  // last connection to close checkpoints the rest.
  ~WalCheckpoints();

  WalCheckpoints(const WalCheckpoints&) = delete;
  WalCheckpoints& operator=(const WalCheckpoints&) = delete;

  // Checkpoints that copied every frame the WAL held when they started, and those that did
  // not (busy, a reader holding frames back, or an error). Commits beyond
  // Inventory::kInlineCheckpointPages checkpoint on the loop thread, as SQLite would, and are
  // not counted here.
  uint64_t completed() const;
  uint64_t incomplete() const;

 private:
  struct State;
  WalCheckpoints(storage::Inventory& inventory, std::shared_ptr<State> state);
  storage::Inventory& inventory_;
  std::shared_ptr<State> state_;
};

}  // namespace certinbox::daemon
