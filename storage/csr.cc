// CSRs made here (`certinbox csr create`), their activation when the signed certificate is
// dropped, and what `export` reads: the certificate, its chain, its key, and the key export log.
#include <algorithm>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "base/wire.h"
#include "storage/inventory_impl.h"
#include "storage/outbox.h"
#include "storage/summary.h"

namespace certinbox::storage {

namespace {

// The id of the entry Show() resolves `name_or_id` to (not_found, ambiguous as Show).
base::Result<int64_t> EntryIdOf(const nlohmann::json& shown) {
  if (!shown.contains("id") || !shown["id"].is_number_integer()) {
    return base::Fail(base::code::kStorageError, "an entry summary without id");
  }
  return shown["id"].get<int64_t>();
}

}  // namespace

base::Result<Event> Inventory::Impl::CreateCsr(const NewCsr& request) {
  if (request.csr == nullptr || request.name.empty()) {
    return base::Fail(base::code::kBadRequest, "a CSR needs a name and a generated request");
  }
  if (auto ok = CheckEntryNames(request.name, request.group, request.labels); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());
  const std::string group = request.group.empty() ? "default" : request.group;
  const pipeline::GeneratedCsr& csr = *request.csr;

  auto taken = NameTaken(group, request.name);
  if (!taken) return std::unexpected(taken.error());
  if (*taken) {
    return base::Fail(base::code::kNameTaken, "the group " + group +
                                                  " already has an entry named \"" + request.name +
                                                  "\": choose another name or --group");
  }

  // The key, sealed like an imported one (AAD = its public key's hash). A key made just now
  // cannot be stored already.
  auto sealed = vault_.Seal(csr.key.pkcs8_der.view(), csr.key.spki_sha256);
  if (!sealed) return std::unexpected(sealed.error());
  auto key = db_.Prepare(
      "INSERT INTO keys (spki_sha256, algorithm, bits, sealed, created_at, source_inbox,"
      " source_file) VALUES (?1, ?2, ?3, ?4, ?5, 'csr', ?6)");
  if (!key) return std::unexpected(key.error());
  key->Bind(1, csr.key.spki_sha256).Bind(2, csr.key.algorithm).Bind(3, csr.key.bits);
  key->BindBlob(4, *sealed).Bind(5, request.now).Bind(6, group + "/" + request.name);
  if (auto done = key->Run(); !done) return std::unexpected(done.error());
  const int64_t key_id = db_.LastInsertRowid();

  auto entry = db_.Prepare(
      "INSERT INTO entries (name, grp, kind, description, labels, metadata, created_at,"
      " updated_at) VALUES (?1, ?2, 'leaf', ?3, ?4, '{}', ?5, ?5)");
  if (!entry) return std::unexpected(entry.error());
  entry->Bind(1, request.name).Bind(2, group).Bind(3, request.description);
  entry->Bind(4, DumpJson(request.labels)).Bind(5, request.now);
  if (auto done = entry->Run(); !done) return std::unexpected(done.error());
  const int64_t entry_id = db_.LastInsertRowid();

  auto row = db_.Prepare(
      "INSERT INTO csrs (entry_id, key_id, spki_sha256, key_type, key_algorithm, key_bits,"
      " subject, subject_cn, sans, der, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
      " ?10, ?11)");
  if (!row) return std::unexpected(row.error());
  row->Bind(1, entry_id).Bind(2, key_id).Bind(3, csr.key.spki_sha256).Bind(4, request.key_type);
  row->Bind(5, csr.key.algorithm).Bind(6, csr.key.bits).Bind(7, csr.subject);
  row->Bind(8, csr.subject_cn).Bind(9, DumpJson(csr.sans)).BindBlob(10, csr.der);
  row->Bind(11, request.now);
  if (auto done = row->Run(); !done) return std::unexpected(done.error());

  auto summary = SummaryOfEntry(entry_id, request.now);
  if (!summary) return std::unexpected(summary.error());
  auto event = outbox::Append(
      db_, base::topic::kCsrCreated, request.now,
      {{base::field::kCertificate, std::move(*summary)}, {base::field::kCsrPem, csr.pem}});
  if (!event) return std::unexpected(event.error());
  if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
  return std::move(*event);
}

base::Result<nlohmann::json> Inventory::Impl::CsrOf(const std::string& name_or_id,
                                                    base::UnixTime now) {
  auto shown = Show(name_or_id, now);
  if (!shown) return std::unexpected(shown.error());
  auto entry_id = EntryIdOf(*shown);
  if (!entry_id) return std::unexpected(entry_id.error());
  auto st =
      db_.Prepare("SELECT der, key_type, created_at, activated_at FROM csrs WHERE entry_id = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, *entry_id);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) {
    return base::Fail(base::code::kNoCsr,
                      "\"" + name_or_id +
                          "\" was imported, not made by `certinbox csr create`: it "
                          "has no CSR");
  }
  nlohmann::json out = {{"entry", std::move(*shown)},
                        {base::field::kCsrPem, pipeline::CsrPem(st->Blob(0))},
                        {"key_type", st->Text(1)},
                        {"created_at", base::FormatRfc3339(st->Int(2))},
                        {"activated_at", nullptr}};
  if (!st->IsNull(3)) out["activated_at"] = base::FormatRfc3339(st->Int(3));
  return out;
}

base::Result<std::optional<int64_t>> Inventory::Impl::PendingCsrEntry(
    const std::string& spki_sha256) {
  auto st = db_.Prepare(
      "SELECT c.entry_id FROM csrs c JOIN entries e ON e.id = c.entry_id"
      " WHERE c.spki_sha256 = ?1 AND c.activated_at IS NULL AND e.current_version_id IS NULL"
      " ORDER BY c.entry_id LIMIT 1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, spki_sha256);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<int64_t>();
  return std::optional<int64_t>(st->Int(0));
}

base::Result<Event> Inventory::Impl::ActivateCsr(int64_t entry_id,
                                                 const pipeline::Certificate& cert,
                                                 const std::vector<std::string>& chain,
                                                 const std::vector<std::string>& findings,
                                                 std::optional<int64_t> key_id,
                                                 const ImportRequest& request) {
  // The sidecar's [metadata] is version 1's, as for a renewal; the entry keeps what
  // `csr create` and `meta` gave it.
  auto version_id = InsertVersion(entry_id, /*number=*/1, cert, chain, findings, key_id,
                                  DumpJson(request.meta.metadata), request);
  if (!version_id) return std::unexpected(version_id.error());
  auto activated = db_.Prepare("UPDATE csrs SET activated_at = ?1 WHERE entry_id = ?2");
  if (!activated) return std::unexpected(activated.error());
  activated->Bind(1, request.now).Bind(2, entry_id);
  if (auto done = activated->Run(); !done) return std::unexpected(done.error());

  return EntryEvent(entry_id, base::topic::kCertActivated, nlohmann::json::object(), request.now);
}

base::Result<ExportMaterial> Inventory::Impl::ExportMaterialFor(const std::string& name_or_id,
                                                                bool with_key, base::UnixTime now) {
  auto shown = Show(name_or_id, now);
  if (!shown) return std::unexpected(shown.error());
  auto entry_id = EntryIdOf(*shown);
  if (!entry_id) return std::unexpected(entry_id.error());
  ExportMaterial out;
  out.entry_id = *entry_id;
  out.name = shown->value("name", "");
  out.group = shown->value("group", "");
  nlohmann::json chain;
  std::optional<std::string> spki;
  {
    auto st = db_.Prepare(
        "SELECT v.version, v.der, v.chain, k.spki_sha256 FROM entries e"
        " JOIN versions v ON v.id = e.current_version_id LEFT JOIN keys k ON k.id = v.key_id"
        " WHERE e.id = ?1");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, *entry_id);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) {
      return base::Fail(base::code::kNotActivated,
                        "\"" + out.name +
                            "\" is a CSR whose signed certificate has not arrived: drop the "
                            "certificate into an inbox first (`certinbox csr show` prints "
                            "the CSR)");
    }
    out.version = st->Int(0);
    out.cert_der = st->Blob(1);
    chain = ParseJsonOr(st->Text(2), nlohmann::json::array());
    if (!st->IsNull(3)) spki = st->Text(3);
  }
  // The chain as stored (fingerprints, issuer first); roots (self-issued) are left out, as
  // servers should not send them, and so are certificates not stored here (system roots).
  for (const auto& fingerprint : chain) {
    if (!fingerprint.is_string()) continue;
    auto st =
        db_.Prepare("SELECT der, subject = issuer FROM versions WHERE fingerprint_sha256 = ?1");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, fingerprint.get<std::string>());
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (*row && st->Int(1) == 0) out.chain_der.push_back(st->Blob(0));
  }
  if (with_key) {
    if (!spki) {
      return base::Fail(base::code::kNoPrivateKey, "no private key is stored for \"" + out.name +
                                                       "\": drop it into an inbox to export it");
    }
    auto key = PrivateKeyFor(*spki);
    if (!key) return std::unexpected(key.error());
    out.key_pkcs8 = std::move(*key);
  }
  return out;
}

base::Result<void> Inventory::Impl::RecordKeyExport(const KeyExportRecord& record) {
  if (auto ok = CheckBatch(); !ok) return ok;
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());
  auto st = db_.Prepare(
      "INSERT INTO key_exports (time, entry_id, entry_name, version, what, outcome, reason,"
      " endpoint) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, record.now);
  if (record.entry_id > 0) {
    st->Bind(2, record.entry_id);
  } else {
    st->Bind(2, std::nullopt);
  }
  st->Bind(3, record.entry_name);
  if (record.version > 0) {
    st->Bind(4, record.version);
  } else {
    st->Bind(4, std::nullopt);
  }
  st->Bind(5, record.what).Bind(6, record.outcome);
  if (record.reason.empty()) {
    st->Bind(7, std::nullopt);
  } else {
    st->Bind(7, record.reason);
  }
  st->Bind(8, record.endpoint);
  if (auto done = st->Run(); !done) return done;
  return tx->Commit();
}

base::Result<nlohmann::json> Inventory::Impl::KeyExports(int64_t entry_id) {
  auto st = db_.Prepare(
      "SELECT time, version, what, outcome, reason, endpoint FROM key_exports WHERE entry_id = ?1"
      " ORDER BY id");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, entry_id);
  nlohmann::json out = nlohmann::json::array();
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    nlohmann::json item = {
        {"time", base::FormatRfc3339(st->Int(0))},
        {"version", st->IsNull(1) ? nlohmann::json() : nlohmann::json(st->Int(1))},
        {"what", st->Text(2)},
        {"outcome", st->Text(3)},
        {"reason", st->IsNull(4) ? nlohmann::json() : nlohmann::json(st->Text(4))},
        {"endpoint", st->Text(5)}};
    out.push_back(std::move(item));
  }
}

}  // namespace certinbox::storage
