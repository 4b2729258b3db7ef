// RAII for SQLite: a connection that caches its prepared statements, and a borrowed statement
// that is reset when it goes out of scope. Internal to storage/.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "base/error.h"
#include "base/error_codes.h"
#include "pipeline/error.h"

namespace certinbox::storage::sqlite {

struct CloseDb {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct FinalizeStmt {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, CloseDb>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, FinalizeStmt>;

// Error{base::code::kStorageError, "<what>: <sqlite3_errmsg>"}.
base::Error StorageError(sqlite3* db, std::string_view what);

// A prepared statement borrowed from a Connection's cache. Binding is 1-based, columns 0-based.
// The destructor resets the statement and clears its bindings, so no cached statement keeps a
// read transaction open or holds on to bound values. Binding failures are remembered and
// reported by the next Step()/Run().
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Statement& Bind(int index, const std::string& text) {
    return Bind(index, std::string_view(text));
  }
  Statement& Bind(int index, std::nullopt_t);
  Statement& BindBlob(int index, std::string_view bytes);

  // true: a row is available; false: the statement is done.
  base::Result<bool> Step();
  // Steps a statement that returns no rows (or whose rows are not wanted) to completion.
  base::Result<void> Run();

  bool IsNull(int column) const;
  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

class Connection {
 public:
  // Opens or creates the database file read-write. No pragmas are applied here.
  static base::Result<Connection> Open(const std::filesystem::path& file);
  // Opens an existing database file read-only (no create, no writes, no schema change): a
  // reader beside the writer's connection, which in WAL mode sees the last commit before each
  // of its read transactions and never blocks the writer. Waits at most a second for a lock.
  static base::Result<Connection> OpenReadOnly(const std::filesystem::path& file);

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;

  // Returns the cached prepared statement for `sql` (preparing it on first use). The SQL text
  // is the cache key, so the set of distinct texts must stay bounded.
  base::Result<Statement> Prepare(std::string_view sql);
  // Runs one or more statements without caching (schema, pragmas).
  base::Result<void> Exec(const std::string& sql);

  int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_.get()); }
  int Changes() const { return sqlite3_changes(db_.get()); }
  // True when no transaction is open (SQLite's autocommit mode).
  bool Autocommit() const { return sqlite3_get_autocommit(db_.get()) != 0; }
  sqlite3* get() const { return db_.get(); }

 private:
  explicit Connection(DbPtr db) : db_(std::move(db)) {}
  // Declared before the cache so that it is destroyed after every statement is finalized.
  DbPtr db_;
  // Looked up by string_view: a cache hit (nearly every call) allocates nothing.
  struct SqlHash {
    using is_transparent = void;
    size_t operator()(std::string_view sql) const noexcept {
      return std::hash<std::string_view>{}(sql);
    }
  };
  std::unordered_map<std::string, StmtPtr, SqlHash, std::equal_to<>> cache_;
};

// A write transaction for one operation. Outside a batch it is BEGIN IMMEDIATE ... COMMIT;
// inside a batch (a transaction already open) it is a SAVEPOINT, so a failed operation undoes
// only itself. Destroyed without Commit(), it rolls back.
class Transaction {
 public:
  static base::Result<Transaction> Start(Connection& db);
  Transaction(Transaction&& other) noexcept
      : db_(std::exchange(other.db_, nullptr)), savepoint_(other.savepoint_) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  base::Result<void> Commit();

 private:
  Transaction(Connection* db, bool savepoint) : db_(db), savepoint_(savepoint) {}
  void RollbackNoThrow() noexcept;
  Connection* db_;
  bool savepoint_;
};

}  // namespace certinbox::storage::sqlite
