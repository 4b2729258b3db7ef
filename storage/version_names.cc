#include "storage/version_names.h"

#include <functional>

namespace certinbox::storage {

base::Result<void> InsertVersionNames(sqlite::Connection& db, int64_t version_id,
                                      const pipeline::ExporterNames& names) {
  auto st = db.Prepare(
      "INSERT INTO version_names (version_id, serial_decimal, subject_c, subject_st, subject_l,"
      " subject_o, subject_ou, subject_cn, issuer_c, issuer_st, issuer_l, issuer_o, issuer_ou,"
      " issuer_cn) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, version_id).Bind(2, names.serial_decimal);
  int column = 3;
  for (const pipeline::NameFields* fields : {&names.subject, &names.issuer}) {
    for (const std::string* value :
         {&fields->c, &fields->st, &fields->l, &fields->o, &fields->ou, &fields->cn}) {
      st->Bind(column++, *value);
    }
  }
  return st->Run();
}

pipeline::ExporterNames ReadVersionNames(const sqlite::Statement& row, int column) {
  pipeline::ExporterNames names{.serial_decimal = row.Text(column++)};
  for (pipeline::NameFields* fields : {&names.subject, &names.issuer}) {
    for (std::string* value :
         {&fields->c, &fields->st, &fields->l, &fields->o, &fields->ou, &fields->cn}) {
      *value = row.Text(column++);
    }
  }
  return names;
}

// One transaction per kFillBatch versions, so that a fill cut short (the daemon stopped) keeps
// what it did.
constexpr int64_t kFillBatch = 1000;

struct FilledBatch {
  int64_t seen = 0, filled = 0, last_id = 0;
};

// The names of up to kFillBatch versions after `after_id` that have none.
base::Result<FilledBatch> FillBatch(sqlite::Connection& db, int64_t after_id) {
  auto rows = db.Prepare(
      "SELECT v.id, v.der FROM versions v WHERE v.id > ?1"
      " AND NOT EXISTS (SELECT 1 FROM version_names n WHERE n.version_id = v.id)"
      " ORDER BY v.id LIMIT ?2");
  if (!rows) return std::unexpected(rows.error());
  rows->Bind(1, after_id).Bind(2, kFillBatch);
  FilledBatch batch{.last_id = after_id};
  for (;;) {
    auto row = rows->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return batch;
    ++batch.seen;
    batch.last_id = rows->Int(0);
    // A DER that does not read as a certificate stays without names (x509_read_errors).
    auto names = pipeline::ReadExporterNames(rows->Blob(1));
    if (!names) continue;
    if (auto ok = InsertVersionNames(db, batch.last_id, *names); !ok) {
      return std::unexpected(ok.error());
    }
    ++batch.filled;
  }
}

base::Result<int64_t> FillMissingVersionNames(sqlite::Connection& db,
                                              const std::function<void(int64_t missing)>& before) {
  int64_t missing = 0;
  {
    auto count = db.Prepare(
        "SELECT COUNT(*) FROM versions v"
        " WHERE NOT EXISTS (SELECT 1 FROM version_names n WHERE n.version_id = v.id)");
    if (!count) return std::unexpected(count.error());
    auto counted = count->Step();
    if (!counted) return std::unexpected(counted.error());
    if (*counted) missing = count->Int(0);
  }
  if (missing == 0) return 0;
  if (before) before(missing);
  int64_t filled = 0, after_id = 0;
  for (bool more = true; more;) {
    auto tx = sqlite::Transaction::Start(db);
    if (!tx) return std::unexpected(tx.error());
    auto batch = FillBatch(db, after_id);
    if (!batch) return std::unexpected(batch.error());
    filled += batch->filled;
    after_id = batch->last_id;
    more = batch->seen == kFillBatch;
    if (auto ok = tx->Commit(); !ok) return std::unexpected(ok.error());
  }
  return filled;
}

}  // namespace certinbox::storage
