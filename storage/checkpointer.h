// Copies the inventory's WAL back into the database file (a checkpoint) from a connection of
// its own, so that the thread that commits does not (Inventory::HandOverCheckpoints).
#pragma once

#include <filesystem>
#include <memory>

#include "base/error.h"
#include "pipeline/error.h"

namespace certinbox::storage {

class Checkpointer {
 public:
  // Opens a second connection to `db_file`, an inventory's database (already in WAL mode).
  static base::Result<std::unique_ptr<Checkpointer>> Open(const std::filesystem::path& db_file);

  struct Progress {
    int wal_frames = 0;     // frames in the WAL when the checkpoint ran
    int copied_frames = 0;  // of those, copied into the database file
  };

  // One PASSIVE checkpoint: copies the frames the WAL held when it started, as far as no
  // reader holds them back, without waiting for anyone, then fsyncs (synchronous=NORMAL).
  // When all were copied and nothing was committed meanwhile, the next commit starts the WAL
  // over from its beginning. Blocking; any thread, but one at a time. "storage_busy" when
  // another checkpoint was running (try again later).
  base::Result<Progress> Run();

  ~Checkpointer();

 private:
  struct Impl;
  explicit Checkpointer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace certinbox::storage
