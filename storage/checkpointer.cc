#include "storage/checkpointer.h"

#include "base/error.h"
#include "base/error_codes.h"
#include "storage/sqlite.h"

namespace certinbox::storage {

struct Checkpointer::Impl {
  sqlite::Connection db;
};

Checkpointer::Checkpointer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Checkpointer::~Checkpointer() = default;

base::Result<std::unique_ptr<Checkpointer>> Checkpointer::Open(
    const std::filesystem::path& db_file) {
  auto db = sqlite::Connection::Open(db_file);
  if (!db) return std::unexpected(db.error());
  // The same durability as the inventory's connection (inventory.cc): synchronous is a
  // setting of each connection, and it decides the checkpoint's fsyncs. NORMAL syncs the WAL
  // before a checkpoint copies it and the database after, before the WAL may start over, so a
  // checkpoint never loses a commit that Inventory::SyncToDisk() made durable.
  // A read puts the connection's pager in WAL mode; before one, a checkpoint does nothing
  // and reports -1 frames.
  if (auto ok = db->Exec("PRAGMA synchronous = NORMAL; PRAGMA schema_version;"); !ok) {
    return std::unexpected(ok.error());
  }
  return std::unique_ptr<Checkpointer>(
      new Checkpointer(std::make_unique<Impl>(Impl{std::move(*db)})));
}

base::Result<Checkpointer::Progress> Checkpointer::Run() {
  Progress progress;
  int rc = sqlite3_wal_checkpoint_v2(impl_->db.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                     &progress.wal_frames, &progress.copied_frames);
  if ((rc & 0xff) == SQLITE_BUSY) {
    return base::Fail(base::code::kStorageBusy, "another checkpoint of the database is running");
  }
  if (rc != SQLITE_OK) return std::unexpected(sqlite::StorageError(impl_->db.get(), "checkpoint"));
  if (progress.wal_frames < 0) {
    return base::Fail(base::code::kStorageError, "checkpoint: the database is not in WAL mode");
  }
  return progress;
}

}  // namespace certinbox::storage
