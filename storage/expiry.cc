// The expiry scan: cert.expiring / cert.expired, each recorded in expiry_notices with its event.
#include <algorithm>
#include <functional>

#include "base/error.h"
#include "base/time.h"
#include "base/wire.h"
#include "storage/inventory_impl.h"
#include "storage/outbox.h"
#include "storage/summary.h"

namespace certinbox::storage {

namespace {

constexpr int64_t kExpiredMarker = -1;  // expiry_notices.threshold_days for "expired"
constexpr int kBatchRows = 256;         // due versions read at a time
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

// A current version with something to announce: `marker` is the most urgent threshold crossed
// (kExpiredMarker once expired), not yet recorded.
struct Due {
  int64_t version_id = 0;
  int64_t entry_id = 0;
  base::UnixTime not_after = 0;
  int64_t marker = 0;
};

// Driven by versions_not_after (CROSS JOIN keeps versions the outer loop; the entry is found by
// its primary key), so the scan reads only versions up to now + the largest threshold.
// ?1 now, ?2 thresholds (JSON array), ?3 largest threshold in days, ?4 row limit, ?5 the floor
// (below it every current version was announced as expired).
constexpr const char* kDueSql =
    "SELECT id, entry_id, not_after, marker FROM ("
    "  SELECT v.id AS id, v.entry_id AS entry_id, v.not_after AS not_after,"
    "    CASE WHEN v.not_after <= ?1 THEN -1"
    "      ELSE (SELECT min(t.value) FROM json_each(?2) t"
    "            WHERE v.not_after - ?1 <= t.value * 86400)"
    "    END AS marker"
    "  FROM versions v CROSS JOIN entries e"
    "  WHERE v.not_after >= ?5 AND v.not_after <= ?1 + ?3 * 86400"
    "    AND e.id = v.entry_id AND e.current_version_id = v.id)"
    " WHERE marker IS NOT NULL AND NOT EXISTS (SELECT 1 FROM expiry_notices n"
    "   WHERE n.version_id = id AND n.threshold_days = marker)"
    " ORDER BY not_after, id LIMIT ?4";

// The next kBatchRows versions due (kDueSql).
base::Result<std::vector<Due>> ReadDue(sqlite::Connection& db, base::UnixTime now,
                                       const std::string& thresholds_json, int64_t largest,
                                       int64_t floor) {
  auto st = db.Prepare(kDueSql);
  if (!st) return std::unexpected(st.error());
  st->Bind(1, now).Bind(2, thresholds_json).Bind(3, largest).Bind(4, kBatchRows).Bind(5, floor);
  std::vector<Due> due;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return due;
    due.push_back(Due{st->Int(0), st->Int(1), st->Int(2), st->Int(3)});
  }
}

// A threshold announced (`seq`: its event) or passed over (none) for a version.
base::Result<void> RecordNotice(sqlite::Connection& db, int64_t version_id, int64_t threshold,
                                std::optional<int64_t> seq, base::UnixTime now) {
  auto st = db.Prepare(
      "INSERT OR IGNORE INTO expiry_notices (version_id, threshold_days, noticed_at, event_seq)"
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

}  // namespace

base::Result<std::vector<Event>> Inventory::Impl::ScanExpiry(const std::vector<int>& notify_days,
                                                             base::UnixTime now) {
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  std::vector<int64_t> thresholds;
  for (int days : notify_days) {
    if (days > 0) thresholds.push_back(days);  // 0 is the moment of expiry: cert.expired
  }
  std::sort(thresholds.begin(), thresholds.end(), std::greater<>());
  thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());
  const int64_t largest = thresholds.empty() ? 0 : thresholds.front();
  const std::string thresholds_json = DumpJson(nlohmann::json(thresholds));

  auto floor = ReadFloor(db_);
  if (!floor) return std::unexpected(floor.error());
  auto read_due = [&] { return ReadDue(db_, now, thresholds_json, largest, *floor); };
  auto record = [&](int64_t version_id, int64_t threshold, std::optional<int64_t> seq) {
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
      nlohmann::json fields = {{base::field::kCertificate, std::move(*summary)}};
      const bool expired = d.marker == kExpiredMarker;
      if (!expired) {
        fields[base::field::kDaysLeft] = DaysLeft(d.not_after, now);
        fields[base::field::kThresholdDays] = d.marker;
      }
      auto event =
          outbox::Append(db_, expired ? base::topic::kCertExpired : base::topic::kCertExpiring, now,
                         std::move(fields));
      if (!event) return std::unexpected(event.error());
      if (auto ok = record(d.version_id, d.marker, event->seq); !ok) {
        return std::unexpected(ok.error());
      }
      // Every larger threshold is crossed too (all of them once expired): passed over, so a
      // later scan does not announce a stale one.
      for (int64_t threshold : thresholds) {
        if (!expired && threshold <= d.marker) continue;
        if (auto ok = record(d.version_id, threshold, std::nullopt); !ok) {
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
