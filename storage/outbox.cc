#include "storage/outbox.h"

#include <charconv>

#include "storage/summary.h"

namespace certinbox::storage::outbox {

pipeline::Result<Event> Append(sqlite::Connection& db, const std::string& type,
                               pipeline::UnixTime now, nlohmann::json fields) {
  // The seq is the row id, known only after the INSERT: insert, then store the payload that
  // carries it, both inside the caller's transaction.
  {
    auto insert = db.Prepare("INSERT INTO events (type, time, payload) VALUES (?1, ?2, '{}')");
    if (!insert) return std::unexpected(insert.error());
    insert->Bind(1, type).Bind(2, now);
    if (auto done = insert->Run(); !done) return std::unexpected(done.error());
  }
  Event event;
  event.seq = db.LastInsertRowid();
  event.type = type;
  fields["seq"] = event.seq;
  fields["type"] = type;
  fields["time"] = Rfc3339(now);
  event.json = DumpJson(fields);
  auto update = db.Prepare("UPDATE events SET payload = ?1 WHERE seq = ?2");
  if (!update) return std::unexpected(update.error());
  update->Bind(1, event.json).Bind(2, event.seq);
  if (auto done = update->Run(); !done) return std::unexpected(done.error());
  return event;
}

pipeline::Result<std::vector<Event>> Since(sqlite::Connection& db, int64_t since, int limit) {
  auto st =
      db.Prepare("SELECT seq, type, payload FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, since).Bind(2, limit > 0 ? static_cast<int64_t>(limit) : int64_t{-1});
  std::vector<Event> events;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    events.push_back(Event{st->Int(0), st->Text(1), st->Text(2)});
  }
  return events;
}

pipeline::Result<int64_t> LastSeq(sqlite::Connection& db) {
  // sqlite_sequence keeps the high-water mark of an AUTOINCREMENT table.
  auto st = db.Prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'");
  if (!st) return std::unexpected(st.error());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  return *row ? st->Int(0) : 0;
}

pipeline::Result<int64_t> PublishedSeq(sqlite::Connection& db) {
  auto st = db.Prepare("SELECT value FROM meta WHERE key = 'published_seq'");
  if (!st) return std::unexpected(st.error());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return 0;
  std::string text = st->Text(0);
  int64_t seq = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return pipeline::Fail("storage_error", "meta.published_seq is not a number: " + text);
  }
  return seq;
}

pipeline::Result<void> SetPublishedSeq(sqlite::Connection& db, int64_t seq) {
  auto st = db.Prepare(
      "INSERT INTO meta (key, value) VALUES ('published_seq', ?1)"
      " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, std::to_string(seq));
  return st->Run();
}

}  // namespace certinbox::storage::outbox
