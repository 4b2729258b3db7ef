// The event outbox: events are rows written in the caller's transaction, published later from
// the table by seq. Internal to storage/.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/error.h"
#include "pipeline/types.h"
#include "storage/inventory.h"
#include "storage/sqlite.h"

namespace certinbox::storage::outbox {

// Appends `fields` plus seq, type and time as one event; the stored payload holds its own seq.
pipeline::Result<Event> Append(sqlite::Connection& db, const std::string& type,
                               pipeline::UnixTime now, nlohmann::json fields);

// seq > since, oldest first; limit <= 0 means no limit.
pipeline::Result<std::vector<Event>> Since(sqlite::Connection& db, int64_t since, int limit);

// The highest seq ever written (0 for none), including pruned events.
pipeline::Result<int64_t> LastSeq(sqlite::Connection& db);

pipeline::Result<int64_t> PublishedSeq(sqlite::Connection& db);
pipeline::Result<void> SetPublishedSeq(sqlite::Connection& db, int64_t seq);

}  // namespace certinbox::storage::outbox
