#include "storage/migrations.h"

#include <string>

#include "base/error.h"
#include "base/error_codes.h"

namespace certinbox::storage {

namespace {

base::Result<int64_t> LatestApplied(sqlite::Connection& db) {
  auto st = db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!st) return std::unexpected(st.error());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  return *row ? st->Int(0) : 0;
}

base::Result<void> CheckNotNewer(sqlite::Connection& db, int newest_known) {
  auto latest = LatestApplied(db);
  if (!latest) return std::unexpected(latest.error());
  if (*latest > newest_known) {
    return base::Fail(base::code::kStorageSchemaTooNew,
                      "the database has schema version " + std::to_string(*latest) +
                          " but this certinbox knows only up to " + std::to_string(newest_known) +
                          ": run a newer certinbox, or point state_dir at another database");
  }
  return {};
}

}  // namespace

base::Result<void> ApplyMigrations(sqlite::Connection& db, std::span<const Migration> migrations,
                                   int64_t now) {
  int newest_known = 0;
  for (const Migration& m : migrations) {
    if (m.version <= newest_known) {
      return base::Fail(
          base::code::kStorageError,
          "embedded migrations are not in increasing order at " + std::to_string(m.version));
    }
    newest_known = m.version;
  }
  if (auto done = db.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                          "  version INTEGER PRIMARY KEY,"
                          "  name TEXT NOT NULL,"
                          "  applied_at INTEGER NOT NULL)");
      !done) {
    return done;
  }
  if (auto ok = CheckNotNewer(db, newest_known); !ok) return ok;

  for (const Migration& m : migrations) {
    // Check again inside the write lock: another process may be migrating the same file.
    auto tx = sqlite::Transaction::Start(db);
    if (!tx) return std::unexpected(tx.error());
    auto check = db.Prepare("SELECT 1 FROM schema_migrations WHERE version = ?1");
    if (!check) return std::unexpected(check.error());
    check->Bind(1, m.version);
    auto applied = check->Step();
    if (!applied) return std::unexpected(applied.error());
    if (*applied) continue;  // tx rolls back: nothing was written
    if (auto done = db.Exec(std::string(m.sql)); !done) {
      return base::Fail(base::code::kStorageError, "migration " + std::to_string(m.version) + "_" +
                                                       std::string(m.name) +
                                                       " failed: " + done.error().message);
    }
    auto record =
        db.Prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)");
    if (!record) return std::unexpected(record.error());
    record->Bind(1, m.version).Bind(2, m.name).Bind(3, now);
    if (auto done = record->Run(); !done) return done;
    if (auto done = tx->Commit(); !done) return done;
  }
  return CheckNotNewer(db, newest_known);
}

}  // namespace certinbox::storage
