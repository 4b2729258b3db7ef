#include "storage/version_names.h"

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

base::Result<int64_t> FillMissingVersionNames(sqlite::Connection& db) {
  auto tx = sqlite::Transaction::Start(db);
  if (!tx) return std::unexpected(tx.error());
  auto missing = db.Prepare(
      "SELECT v.id, v.der FROM versions v"
      " WHERE NOT EXISTS (SELECT 1 FROM version_names n WHERE n.version_id = v.id)");
  if (!missing) return std::unexpected(missing.error());
  int64_t filled = 0;
  for (;;) {
    auto more = missing->Step();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    auto names = pipeline::ReadExporterNames(missing->Blob(1));
    if (!names) continue;
    if (auto ok = InsertVersionNames(db, missing->Int(0), *names); !ok) {
      return std::unexpected(ok.error());
    }
    ++filled;
  }
  if (auto ok = tx->Commit(); !ok) return std::unexpected(ok.error());
  return filled;
}

}  // namespace certinbox::storage
