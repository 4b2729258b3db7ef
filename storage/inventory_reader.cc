#include "storage/inventory_reader.h"

#include "storage/sqlite.h"
#include "storage/summary.h"
#include "storage/version_names.h"

namespace certinbox::storage {
namespace {

// Every row of `sql`, each made into a T by `read(statement)`.
template <class T, class Read>
base::Result<std::vector<T>> ReadAllRows(sqlite::Connection& db, const char* sql, Read read) {
  auto st = db.Prepare(sql);
  if (!st) return std::unexpected(st.error());
  std::vector<T> rows;
  for (;;) {
    auto more = st->Step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return rows;
    rows.push_back(read(*st));
  }
}

}  // namespace

struct InventoryReader::Impl {
  sqlite::Connection db;
};

InventoryReader::InventoryReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
InventoryReader::InventoryReader(InventoryReader&&) noexcept = default;
InventoryReader& InventoryReader::operator=(InventoryReader&&) noexcept = default;
InventoryReader::~InventoryReader() = default;

base::Result<InventoryReader> InventoryReader::Open(const std::filesystem::path& db_file) {
  auto db = sqlite::Connection::OpenReadOnly(db_file);
  if (!db) return std::unexpected(db.error());
  return InventoryReader(std::make_unique<Impl>(Impl{std::move(*db)}));
}

base::Result<void> InventoryReader::ForEachEntry(base::UnixTime now, const ExpiryPolicy& expiry,
                                                 const std::function<void(const EntryRow&)>& row) {
  static const std::string sql =
      std::string(
          "SELECT e.name, e.grp, e.kind, e.labels, v.version, v.fingerprint_sha256,"
          " v.not_before, v.not_after, n.version_id, ") +
      kVersionNamesColumns +
      " FROM entries e LEFT JOIN versions v ON v.id = e.current_version_id"
      " LEFT JOIN version_names n ON n.version_id = v.id ORDER BY e.grp, e.name";
  auto st = impl_->db.Prepare(sql);
  if (!st) return std::unexpected(st.error());
  EntryRow entry;
  for (;;) {
    auto more = st->Step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return {};
    entry.name = st->Text(0);
    entry.group = st->Text(1);
    entry.kind = st->Text(2);
    entry.labels_json = st->Text(3);
    if (st->IsNull(4)) {
      entry.version = 0;
      entry.status = "pre_activation";
      entry.fingerprint_sha256.clear();
      entry.not_before = entry.not_after = 0;
      entry.names.reset();
    } else {
      entry.version = st->Int(4);
      entry.fingerprint_sha256 = st->Text(5);
      entry.not_before = st->Int(6);
      entry.not_after = st->Int(7);
      entry.status = std::string(
          StatusOf(expiry, entry.group, entry.name, entry.not_before, entry.not_after, now).status);
      if (st->IsNull(8)) {
        entry.names.reset();
      } else {
        entry.names = ReadVersionNames(*st, 9);
      }
    }
    row(entry);
  }
}

base::Result<std::vector<Cursor>> InventoryReader::Cursors() {
  return ReadAllRows<Cursor>(
      impl_->db, "SELECT name, seq, created_at, updated_at FROM event_cursors ORDER BY name",
      [](const sqlite::Statement& st) {
        return Cursor{st.Text(0), st.Int(1), st.Int(2), st.Int(3)};
      });
}

base::Result<std::vector<ImportTally>> InventoryReader::ImportTallies() {
  return ReadAllRows<ImportTally>(
      impl_->db,
      "SELECT inbox, outcome, coalesce(reason, ''), COUNT(*) FROM import_log"
      " GROUP BY inbox, outcome, coalesce(reason, '') ORDER BY 1, 2, 3",
      [](const sqlite::Statement& st) {
        return ImportTally{st.Text(0), st.Text(1), st.Text(2), st.Int(3)};
      });
}

base::Result<std::vector<BindingState>> InventoryReader::Bindings() {
  return ReadAllRows<BindingState>(
      impl_->db,
      "SELECT b.resource, e.grp || '/' || e.name, coalesce(b.plugin, ''),"
      " coalesce(v.version, 0), coalesce(b.pushed_version, 0), coalesce(b.last_push_result, '')"
      " FROM bindings b JOIN entries e ON e.id = b.entry_id"
      " LEFT JOIN versions v ON v.id = e.current_version_id ORDER BY b.resource",
      [](const sqlite::Statement& st) {
        return BindingState{st.Text(0), st.Text(1), st.Text(2), st.Int(3), st.Int(4), st.Text(5)};
      });
}

base::Result<void> InventoryReader::Begin() { return impl_->db.Exec("BEGIN"); }

void InventoryReader::End() noexcept { (void)impl_->db.Exec("COMMIT"); }

base::Result<int64_t> InventoryReader::EntryCount() {
  auto st = impl_->db.Prepare("SELECT COUNT(*) FROM entries");
  if (!st) return std::unexpected(st.error());
  auto more = st->Step();
  if (!more) return std::unexpected(more.error());
  return *more ? st->Int(0) : 0;
}

base::Result<int64_t> InventoryReader::LastSeq() {
  auto st = impl_->db.Prepare(
      "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)");
  if (!st) return std::unexpected(st.error());
  auto more = st->Step();
  if (!more) return std::unexpected(more.error());
  return *more ? st->Int(0) : 0;
}

}  // namespace certinbox::storage
