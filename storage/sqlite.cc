#include "storage/sqlite.h"

#include <cerrno>
#include <climits>
#include <cstring>

#include "base/error.h"
#include "base/error_codes.h"

namespace certinbox::storage::sqlite {

namespace {

// A full disk, a read-only and a failing one are conditions of the host that pass: their own
// codes let callers keep the data that caused the write and try again later.
std::string CodeOf(int rc, int os_error) {
  if (os_error == ENOSPC || os_error == EDQUOT || (rc & 0xff) == SQLITE_FULL)
    return base::code::kStorageFull;
  if (os_error == EROFS || (rc & 0xff) == SQLITE_READONLY) return base::code::kStorageReadOnly;
  if ((rc & 0xff) == SQLITE_IOERR) return base::code::kStorageIo;
  return base::code::kStorageError;
}

}  // namespace

base::Error StorageError(sqlite3* db, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  if (db == nullptr) return base::Error{base::code::kStorageError, std::move(message)};
  const int rc = sqlite3_extended_errcode(db);
  // The OS's errno only where SQLite failed at the OS: otherwise it may be an earlier one's.
  const int primary = rc & 0xff;
  const bool at_the_os = primary == SQLITE_IOERR || primary == SQLITE_FULL ||
                         primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN;
  const int os_error = at_the_os ? sqlite3_system_errno(db) : 0;
  if (os_error != 0) {
    message += " (";
    message += std::strerror(os_error);
    message += ")";
  }
  return base::Error{CodeOf(rc, os_error), std::move(message)};
}

namespace {

base::Error StorageErrorCode(int rc, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += sqlite3_errstr(rc);
  return base::Error{CodeOf(rc, 0), std::move(message)};
}

bool FitsInt(size_t n) { return n <= static_cast<size_t>(INT_MAX); }

}  // namespace

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement& Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

// SQLITE_TRANSIENT: SQLite copies the bytes, so callers may bind temporaries.
Statement& Statement::Bind(int index, std::string_view text) {
  int rc = FitsInt(text.size()) ? sqlite3_bind_text(stmt_, index, text.data(),
                                                    static_cast<int>(text.size()), SQLITE_TRANSIENT)
                                : SQLITE_TOOBIG;
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::Bind(int index, std::nullopt_t) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  int rc = FitsInt(bytes.size())
               ? sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()),
                                   SQLITE_TRANSIENT)
               : SQLITE_TOOBIG;
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

base::Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) {
    return std::unexpected(
        StorageErrorCode(bind_rc_, std::string("binding ") + sqlite3_sql(stmt_)));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(StorageError(db_, sqlite3_sql(stmt_)));
}

base::Result<void> Statement::Run() {
  while (true) {
    auto row = Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
  }
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string Statement::Blob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  if (blob == nullptr) return {};
  return std::string(static_cast<const char*>(blob),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

namespace {

base::Result<DbPtr> OpenWithFlags(const std::filesystem::path& file, int flags) {
  // SQLite's memory statistics put a global mutex around every allocation (several per
  // statement); nothing here reads them. sqlite3_config only works before SQLite initializes,
  // so this is tried once, before the first connection, and a refusal is harmless.
  static const bool kNoMemStatus = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)kNoMemStatus;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);  // sqlite3_open_v2 returns a handle to close even when it fails
  if (rc != SQLITE_OK) {
    return std::unexpected(StorageError(db.get(), "cannot open database " + file.string()));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

}  // namespace

base::Result<Connection> Connection::Open(const std::filesystem::path& file) {
  auto db = OpenWithFlags(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return std::unexpected(db.error());
  return Connection(std::move(*db));
}

base::Result<Connection> Connection::OpenReadOnly(const std::filesystem::path& file) {
  auto db = OpenWithFlags(file, SQLITE_OPEN_READONLY);
  if (!db) return std::unexpected(db.error());
  // A reader waits only while the writer's connection recovers or restarts the WAL (rare and
  // short); a second is plenty, and bounds the read.
  sqlite3_busy_timeout(db->get(), 1000);
  return Connection(std::move(*db));
}

base::Result<Statement> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* raw = nullptr;
    if (!FitsInt(sql.size())) return std::unexpected(StorageErrorCode(SQLITE_TOOBIG, "prepare"));
    int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) {
      return std::unexpected(StorageError(db_.get(), "cannot prepare " + std::string(sql)));
    }
    if (!stmt)
      return std::unexpected(base::Error{base::code::kStorageError, "empty SQL statement"});
    it = cache_.emplace(std::string(sql), std::move(stmt)).first;
  }
  return Statement(db_.get(), it->second.get());
}

base::Result<void> Connection::Exec(const std::string& sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    return std::unexpected(base::Error{base::code::kStorageError, "SQL failed: " + text});
  }
  return {};
}

base::Result<Transaction> Transaction::Start(Connection& db) {
  // A transaction already open means the caller is batching: nest with a savepoint.
  bool savepoint = !db.Autocommit();
  auto begin = db.Prepare(savepoint ? "SAVEPOINT certinbox_op" : "BEGIN IMMEDIATE");
  if (!begin) return std::unexpected(begin.error());
  if (auto done = begin->Run(); !done) return std::unexpected(done.error());
  return Transaction(&db, savepoint);
}

Transaction::~Transaction() { RollbackNoThrow(); }

base::Result<void> Transaction::Commit() {
  Connection* db = std::exchange(db_, nullptr);
  if (db == nullptr)
    return std::unexpected(base::Error{base::code::kStorageError, "transaction closed"});
  auto commit = db->Prepare(savepoint_ ? "RELEASE certinbox_op" : "COMMIT");
  if (!commit) {
    db_ = db;
    return std::unexpected(commit.error());
  }
  if (auto done = commit->Run(); !done) {
    db_ = db;  // still open: the destructor rolls it back
    return std::unexpected(done.error());
  }
  return {};
}

void Transaction::RollbackNoThrow() noexcept {
  Connection* db = std::exchange(db_, nullptr);
  // SQLite may already have rolled the whole transaction back (SQLITE_FULL, SQLITE_IOERR...).
  if (db == nullptr || db->Autocommit()) return;
  if (savepoint_) {
    // ROLLBACK TO keeps the savepoint open; RELEASE then removes it without undoing the batch.
    sqlite3_exec(db->get(), "ROLLBACK TO certinbox_op; RELEASE certinbox_op", nullptr, nullptr,
                 nullptr);
  } else {
    sqlite3_exec(db->get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

}  // namespace certinbox::storage::sqlite
