// Schema migrations: storage/migrations/NNN_name.sql, compiled into the binary at build time
// (storage/embed_migrations.cmake), applied in order, each in its own transaction.
#pragma once

#include <span>
#include <string_view>

#include "base/error.h"
#include "pipeline/error.h"
#include "storage/sqlite.h"

namespace certinbox::storage {

struct Migration {
  int version = 0;        // NNN
  std::string_view name;  // the file name's "name" part
  std::string_view sql;
};

// Every migration the binary knows, in file order (generated into migrations_embedded.cc).
std::span<const Migration> EmbeddedMigrations();

// Creates schema_migrations when missing and applies the migrations not yet recorded there,
// each in one BEGIN IMMEDIATE transaction together with its schema_migrations row.
// Refuses (code "storage_schema_too_new") a database that has a migration this binary does not
// know, so an older certinbox never writes to a schema it does not understand.
base::Result<void> ApplyMigrations(sqlite::Connection& db, std::span<const Migration> migrations,
                                   int64_t now);

}  // namespace certinbox::storage
