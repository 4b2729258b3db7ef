// The event outbox: events are rows written in the caller's transaction, published later from
// the table by seq. Internal to storage/.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/time.h"
#include "pipeline/error.h"
#include "pipeline/types.h"
#include "storage/inventory.h"
#include "storage/sqlite.h"

namespace certinbox::storage::outbox {

// Appends `fields` plus seq, type and time as one event; the stored payload holds its own seq.
base::Result<Event> Append(sqlite::Connection& db, const std::string& type, base::UnixTime now,
                           nlohmann::json fields);

// seq > since, oldest first; limit <= 0 means no limit.
base::Result<std::vector<Event>> Since(sqlite::Connection& db, int64_t since, int limit);

// The events whose certificate is entry `entry_id`, newest first, at most `limit` (an index).
base::Result<std::vector<Event>> OfEntry(sqlite::Connection& db, int64_t entry_id, int limit);

// The highest seq ever written (0 for none), including pruned events.
base::Result<int64_t> LastSeq(sqlite::Connection& db);

// The oldest seq still in the outbox: LastSeq() + 1 when it is empty.
base::Result<int64_t> FirstSeq(sqlite::Connection& db);

base::Result<int64_t> PublishedSeq(sqlite::Connection& db);
base::Result<void> SetPublishedSeq(sqlite::Connection& db, int64_t seq);

// Named subscriber cursors (event_cursors). Ack moves a cursor forward only (an older seq
// leaves it where it is) and creates it when it is new; returns the cursor's seq afterwards.
base::Result<int64_t> AckCursor(sqlite::Connection& db, const std::string& name, int64_t seq,
                                base::UnixTime now);
base::Result<std::optional<int64_t>> CursorSeq(sqlite::Connection& db, const std::string& name);
base::Result<std::vector<Cursor>> Cursors(sqlite::Connection& db);
base::Result<bool> DeleteCursor(sqlite::Connection& db, const std::string& name);

// The first seq > `after` whose type starts with one of `prefixes` ("" matches every type), if
// any: whether a subscriber of those topics has events waiting above its cursor.
base::Result<std::optional<int64_t>> FirstMatching(sqlite::Connection& db, int64_t after,
                                                   const std::vector<std::string>& prefixes);

// Deletes at most `limit` events older than `before` (time < before), with seq <= `max_seq`,
// that every cursor has acknowledged; returns how many.
base::Result<int64_t> Prune(sqlite::Connection& db, base::UnixTime before, int64_t max_seq,
                            int limit);

}  // namespace certinbox::storage::outbox
