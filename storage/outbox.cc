#include "storage/outbox.h"

#include <charconv>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "base/wire.h"
#include "storage/actor.h"
#include "storage/summary.h"

namespace certinbox::storage::outbox {

base::Result<Event> Append(sqlite::Connection& db, const std::string& type, base::UnixTime now,
                           nlohmann::json fields) {
  // The payload carries its own seq, so the seq is chosen first: the one AUTOINCREMENT would
  // pick (above the high-water mark in sqlite_sequence and above every row), read inside the
  // caller's transaction, which holds the write lock. Then one INSERT writes the whole row.
  Event event;
  {
    auto next = db.Prepare(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
        " coalesce((SELECT max(seq) FROM events), 0)) + 1");
    if (!next) return std::unexpected(next.error());
    auto row = next->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return base::Fail(base::code::kStorageError, "no next event seq");
    event.seq = next->Int(0);
  }
  event.type = type;
  fields[base::field::kSeq] = event.seq;
  fields[base::field::kType] = type;
  fields[base::field::kTime] = base::FormatRfc3339(now);
  if (const std::string& who = ScopedActor::Current();
      !who.empty() && !fields.contains(base::field::kBy)) {
    fields[base::field::kBy] = who;
  }
  event.json = DumpJson(fields);
  auto insert = db.Prepare("INSERT INTO events (seq, type, time, payload) VALUES (?1, ?2, ?3, ?4)");
  if (!insert) return std::unexpected(insert.error());
  insert->Bind(1, event.seq).Bind(2, type).Bind(3, now).Bind(4, event.json);
  if (auto done = insert->Run(); !done) return std::unexpected(done.error());
  return event;
}

namespace {

// The rows of a SELECT seq, type, payload.
base::Result<std::vector<Event>> ReadEvents(sqlite::Statement& st) {
  std::vector<Event> events;
  while (true) {
    auto row = st.Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    events.push_back(Event{st.Int(0), st.Text(1), st.Text(2)});
  }
  return events;
}

}  // namespace

base::Result<std::vector<Event>> Since(sqlite::Connection& db, int64_t since, int limit) {
  auto st =
      db.Prepare("SELECT seq, type, payload FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, since).Bind(2, limit > 0 ? static_cast<int64_t>(limit) : int64_t{-1});
  return ReadEvents(*st);
}

base::Result<std::vector<Event>> OfEntry(sqlite::Connection& db, int64_t entry_id, int limit) {
  // The expression is the one of the index events_entry (migration 008), word for word.
  auto st = db.Prepare(
      "SELECT seq, type, payload FROM events WHERE json_extract(payload, '$.certificate.id') = ?1 "
      "ORDER BY seq DESC LIMIT ?2");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, entry_id).Bind(2, static_cast<int64_t>(limit));
  return ReadEvents(*st);
}

base::Result<int64_t> LastSeq(sqlite::Connection& db) {
  // sqlite_sequence keeps the high-water mark of an AUTOINCREMENT table.
  auto st = db.Prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'");
  if (!st) return std::unexpected(st.error());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  return *row ? st->Int(0) : 0;
}

base::Result<int64_t> FirstSeq(sqlite::Connection& db) {
  auto st = db.Prepare("SELECT min(seq) FROM events");
  if (!st) return std::unexpected(st.error());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (*row && !st->IsNull(0)) return st->Int(0);
  auto last = LastSeq(db);
  if (!last) return last;
  return *last + 1;
}

base::Result<int64_t> PublishedSeq(sqlite::Connection& db) {
  auto st = db.Prepare("SELECT value FROM meta WHERE key = 'published_seq'");
  if (!st) return std::unexpected(st.error());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return 0;
  std::string text = st->Text(0);
  int64_t seq = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return base::Fail(base::code::kStorageError, "meta.published_seq is not a number: " + text);
  }
  return seq;
}

base::Result<void> SetPublishedSeq(sqlite::Connection& db, int64_t seq) {
  auto st = db.Prepare(
      "INSERT INTO meta (key, value) VALUES ('published_seq', ?1)"
      " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, std::to_string(seq));
  return st->Run();
}

base::Result<int64_t> AckCursor(sqlite::Connection& db, const std::string& name, int64_t seq,
                                base::UnixTime now) {
  auto st = db.Prepare(
      "INSERT INTO event_cursors (name, seq, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)"
      " ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq), updated_at = "
      "excluded.updated_at"
      " RETURNING seq");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, name).Bind(2, seq).Bind(3, now);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return base::Fail(base::code::kStorageError, "no cursor row after the ack");
  return st->Int(0);
}

base::Result<std::optional<int64_t>> FirstMatching(sqlite::Connection& db, int64_t after,
                                                   const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) return std::optional<int64_t>();
  // The prefixes as a JSON array, so one statement serves any number of them.
  auto st = db.Prepare(
      "SELECT min(seq) FROM events WHERE seq > ?1 AND EXISTS (SELECT 1 FROM json_each(?2) p"
      " WHERE substr(events.type, 1, length(p.value)) = p.value)");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, after).Bind(2, nlohmann::json(prefixes).dump());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row || st->IsNull(0)) return std::optional<int64_t>();
  return std::optional<int64_t>(st->Int(0));
}

base::Result<std::optional<int64_t>> CursorSeq(sqlite::Connection& db, const std::string& name) {
  auto st = db.Prepare("SELECT seq FROM event_cursors WHERE name = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, name);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<int64_t>();
  return std::optional<int64_t>(st->Int(0));
}

base::Result<std::vector<Cursor>> Cursors(sqlite::Connection& db) {
  auto st = db.Prepare("SELECT name, seq, created_at, updated_at FROM event_cursors ORDER BY name");
  if (!st) return std::unexpected(st.error());
  std::vector<Cursor> out;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(Cursor{st->Text(0), st->Int(1), st->Int(2), st->Int(3)});
  }
}

base::Result<bool> DeleteCursor(sqlite::Connection& db, const std::string& name) {
  auto st = db.Prepare("DELETE FROM event_cursors WHERE name = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, name);
  if (auto done = st->Run(); !done) return std::unexpected(done.error());
  return db.Changes() > 0;
}

base::Result<int64_t> Prune(sqlite::Connection& db, base::UnixTime before, int64_t max_seq,
                            int limit) {
  // Acknowledged by every cursor (none: no cursor holds anything back).
  auto st = db.Prepare(
      "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE time < ?1 AND seq <= ?2"
      " AND seq <= coalesce((SELECT min(seq) FROM event_cursors), ?2) ORDER BY seq LIMIT ?3)");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, before).Bind(2, max_seq).Bind(3, static_cast<int64_t>(limit));
  if (auto done = st->Run(); !done) return std::unexpected(done.error());
  return db.Changes();
}

}  // namespace certinbox::storage::outbox
