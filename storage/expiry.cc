// The expiry scan: cert.expiring / cert.expired, each recorded in expiry_notices with its event.
#include <algorithm>
#include <functional>
#include <limits>

#include "base/error.h"
#include "base/time.h"
#include "base/wire.h"
#include "storage/inventory_impl.h"
#include "storage/outbox.h"
#include "storage/summary.h"

namespace certinbox::storage {

namespace {

constexpr char kExpiredMarker[] = "expired";  // expiry_notices.threshold for "expired"
constexpr int kBatchRows = 256;               // due versions read at a time
// A scan that found nothing due still raises the floor, at most this often (it is a write).
constexpr int64_t kFloorRefreshSeconds = 3600;

base::Result<int64_t> ReadFloor(sqlite::Connection& db) {
  auto st = db.Prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'expiry_floor'");
  if (!st) return std::unexpected(st.error());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  return *row ? st->Int(0) : 0;
}

// Only ever called after a complete scan at `now`: every current version that expired by then
// has been announced.
base::Result<void> RaiseFloor(sqlite::Connection& db, base::UnixTime now) {
  auto st = db.Prepare(
      "INSERT INTO meta (key, value) VALUES ('expiry_floor', CAST(?1 AS TEXT))"
      " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
      " WHERE CAST(meta.value AS INTEGER) < ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, now);
  return st->Run();
}

// A current version with something to announce: `marker` is the key of the most urgent
// threshold crossed (kExpiredMarker once expired), not yet recorded.
struct Due {
  int64_t version_id = 0;
  int64_t entry_id = 0;
  base::UnixTime not_before = 0, not_after = 0;
  std::string group, name, marker;
};

// A notice threshold's time left for version v, from its JSON in the rule's list ({k, p, s}: a
// share, a duration or both; as ExpiryThreshold::SecondsFor).
constexpr const char* kNoticeSecondsSql =
    "MIN(COALESCE((v.not_after - v.not_before) * json_extract(t.value, '$.p') / 100,"
    " 9223372036854775807), COALESCE(json_extract(t.value, '$.s'), 9223372036854775807))";

// Driven by versions_not_after (CROSS JOIN keeps versions the outer loop; the entry is found by
// its primary key), so the scan reads only versions up to the longest threshold's reach.
// ?1 now, ?2 the last not_after to read, ?3 row limit, ?4 the floor (below it every current
// version was announced as expired); from ?5 on the names of the rules' groups and entries.
std::string DueSql(const ExpiryPolicy& expiry) {
  int next = 4;
  const std::string thresholds =
      NoticeThresholdsSql(expiry, [&](std::string) { return "?" + std::to_string(++next); });
  return std::string(
             "SELECT id, entry_id, not_before, not_after, grp, name, marker FROM ("
             "  SELECT v.id AS id, v.entry_id AS entry_id, v.not_before AS not_before,"
             "    v.not_after AS not_after, e.grp AS grp, e.name AS name,"
             "    CASE WHEN v.not_after <= ?1 THEN 'expired'"
             "      ELSE (SELECT k FROM (SELECT json_extract(t.value, '$.k') AS k, ") +
         kNoticeSecondsSql + " AS seconds FROM json_each(" + thresholds +
         ") t) WHERE v.not_after - ?1 <= seconds ORDER BY seconds, k LIMIT 1)"
         "    END AS marker"
         "  FROM versions v CROSS JOIN entries e"
         "  WHERE v.not_after >= ?4 AND v.not_after <= ?2"
         "    AND e.id = v.entry_id AND e.current_version_id = v.id)"
         " WHERE marker IS NOT NULL AND NOT EXISTS (SELECT 1 FROM expiry_notices n"
         "   WHERE n.version_id = id AND n.threshold = marker)"
         " ORDER BY not_after, id LIMIT ?3";
}

// The next kBatchRows versions due (DueSql).
base::Result<std::vector<Due>> ReadDue(sqlite::Connection& db, const ExpiryPolicy& expiry,
                                       base::UnixTime now, int64_t floor) {
  auto st = db.Prepare(DueSql(expiry));
  if (!st) return std::unexpected(st.error());
  // Every version when a threshold is a share alone: its reach is the certificate's lifetime.
  const std::optional<int64_t> longest = expiry.LongestNotice();
  st->Bind(1, now)
      .Bind(2, longest ? now + *longest : std::numeric_limits<int64_t>::max())
      .Bind(3, kBatchRows)
      .Bind(4, floor);
  int next = 4;
  NoticeThresholdsSql(expiry, [&](std::string text) {
    st->Bind(++next, text);
    return std::string();
  });
  std::vector<Due> due;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return due;
    due.push_back(
        Due{st->Int(0), st->Int(1), st->Int(2), st->Int(3), st->Text(4), st->Text(5), st->Text(6)});
  }
}

// A threshold announced (`seq`: its event) or passed over (none) for a version.
base::Result<void> RecordNotice(sqlite::Connection& db, int64_t version_id,
                                const std::string& threshold, std::optional<int64_t> seq,
                                base::UnixTime now) {
  auto st = db.Prepare(
      "INSERT OR IGNORE INTO expiry_notices (version_id, threshold, noticed_at, event_seq)"
      " VALUES (?1, ?2, ?3, ?4)");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, version_id).Bind(2, threshold).Bind(3, now);
  if (seq) {
    st->Bind(4, *seq);
  } else {
    st->Bind(4, std::nullopt);
  }
  return st->Run();
}

// The event for a version due: cert.expired, or cert.expiring for threshold d.marker.
base::Result<Event> Announce(sqlite::Connection& db, const ExpiryRule& rule, nlohmann::json summary,
                             const Due& d, base::UnixTime now) {
  nlohmann::json fields = {{base::field::kCertificate, std::move(summary)}};
  const bool expired = d.marker == kExpiredMarker;
  if (!expired) {
    fields[base::field::kDaysLeft] = DaysLeft(d.not_after, now);
    fields[base::field::kThreshold] = d.marker;
    for (const ExpiryThreshold& t : rule.notify) {
      if (t.Key() != d.marker) continue;
      fields[base::field::kThresholdDays] =
          t.SecondsFor(d.not_after - d.not_before) / base::kSecondsPerDay;
    }
  }
  return outbox::Append(db, expired ? base::topic::kCertExpired : base::topic::kCertExpiring, now,
                        std::move(fields));
}

}  // namespace

base::Result<std::vector<Event>> Inventory::Impl::ScanExpiry(base::UnixTime now) {
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  const ExpiryPolicy& expiry = options_.expiry;
  auto floor = ReadFloor(db_);
  if (!floor) return std::unexpected(floor.error());
  auto read_due = [&] { return ReadDue(db_, expiry, now, *floor); };
  auto record = [&](int64_t version_id, const std::string& threshold, std::optional<int64_t> seq) {
    return RecordNotice(db_, version_id, threshold, seq, now);
  };

  std::vector<Event> events;
  auto due = read_due();
  if (!due) return std::unexpected(due.error());
  if (due->empty()) {
    // The common case: no write, except to raise a floor that has fallen well behind.
    if (*floor + kFloorRefreshSeconds < now) {
      auto tx = sqlite::Transaction::Start(db_);
      if (!tx) return std::unexpected(tx.error());
      if (auto ok = RaiseFloor(db_, now); !ok) return std::unexpected(ok.error());
      if (auto ok = tx->Commit(); !ok) return std::unexpected(ok.error());
    }
    return events;
  }

  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());
  while (!due->empty()) {
    for (const Due& d : *due) {
      auto summary = SummaryOfEntry(d.entry_id, now);
      if (!summary) return std::unexpected(summary.error());
      auto event = Announce(db_, expiry.For(d.group, d.name), std::move(*summary), d, now);
      if (!event) return std::unexpected(event.error());
      if (auto ok = record(d.version_id, d.marker, event->seq); !ok) {
        return std::unexpected(ok.error());
      }
      // Every other threshold crossed by now (all of them once expired) is passed over, so a
      // later scan does not announce a stale one.
      const int64_t lifetime = d.not_after - d.not_before;
      for (const ExpiryThreshold& t : expiry.For(d.group, d.name).notify) {
        const bool crossed = d.not_after - now <= t.SecondsFor(lifetime);
        if (t.Key() == d.marker || !crossed) continue;
        if (auto ok = record(d.version_id, t.Key(), std::nullopt); !ok) {
          return std::unexpected(ok.error());
        }
      }
      events.push_back(std::move(*event));
    }
    // What was just recorded no longer matches, so this reads the next versions due.
    due = read_due();
    if (!due) return std::unexpected(due.error());
  }
  if (auto ok = RaiseFloor(db_, now); !ok) return std::unexpected(ok.error());
  if (auto ok = tx->Commit(); !ok) return std::unexpected(ok.error());
  return events;
}

base::Result<void> Inventory::Impl::LowerExpiryFloor(base::UnixTime not_after) {
  auto st = db_.Prepare(
      "UPDATE meta SET value = CAST(?1 AS TEXT)"
      " WHERE key = 'expiry_floor' AND CAST(value AS INTEGER) > ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, not_after);
  return st->Run();
}

}  // namespace certinbox::storage
