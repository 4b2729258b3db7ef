#include "daemon/wal_checkpoints.h"

#include <spdlog/spdlog.h>

#include <exception>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/uv_work.h"
#include "storage/checkpointer.h"

namespace certinbox::daemon {

struct WalCheckpoints::State {
  uv_loop_t* loop = nullptr;
  std::unique_ptr<storage::Checkpointer> checkpointer;
  bool running = false;
  uint64_t completed = 0;
  uint64_t incomplete = 0;
};

WalCheckpoints::WalCheckpoints(storage::Inventory& inventory, std::shared_ptr<State> state)
    : inventory_(inventory), state_(std::move(state)) {}

WalCheckpoints::~WalCheckpoints() { inventory_.HandOverCheckpoints(nullptr); }

base::Result<std::unique_ptr<WalCheckpoints>> WalCheckpoints::Start(
    uv_loop_t* loop, storage::Inventory& inventory, const std::filesystem::path& database) {
  auto checkpointer = storage::Checkpointer::Open(database);
  if (!checkpointer) return std::unexpected(checkpointer.error());
  auto state = std::make_shared<State>();
  state->loop = loop;
  state->checkpointer = std::move(*checkpointer);
  // The listener keeps its own reference: a checkpoint queued by the last commit may finish
  // after this object is gone.
  inventory.HandOverCheckpoints([state](int wal_pages) {
    if (state->running || wal_pages < kPages) return;
    int rc = base::RunOnPool<storage::Checkpointer::Progress>(
        state->loop, [state] { return state->checkpointer->Run(); },
        [state](base::Result<storage::Checkpointer::Progress> result) {
          state->running = false;
          if (!result) {
            ++state->incomplete;
            if (result.error().code != base::code::kStorageBusy) {
              spdlog::warn("WAL checkpoint failed (the WAL grows until one works): {}",
                           result.error().message);
            }
          } else if (result->copied_frames < result->wal_frames) {
            ++state->incomplete;  // a reader held frames back; the next commit asks again
          } else {
            ++state->completed;
          }
        },
        base::code::kStorageError);
    if (rc != 0) {
      spdlog::warn("cannot queue a WAL checkpoint: {}", uv_strerror(rc));
      return;
    }
    state->running = true;
  });
  return std::unique_ptr<WalCheckpoints>(new WalCheckpoints(inventory, std::move(state)));
}

uint64_t WalCheckpoints::completed() const { return state_->completed; }
uint64_t WalCheckpoints::incomplete() const { return state_->incomplete; }

}  // namespace certinbox::daemon
