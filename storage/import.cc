// Inventory writes: Import (its steps and what they share) and RecordRejection.
#include <algorithm>
#include <set>
#include <unordered_set>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "base/wire.h"
#include "storage/inventory_impl.h"
#include "storage/outbox.h"
#include "storage/summary.h"
#include "storage/version_names.h"

namespace certinbox::storage {

std::vector<std::string> NormalizeFindings(std::vector<std::string> findings, bool is_leaf,
                                           bool has_key) {
  std::erase(findings, std::string(pipeline::kNoPrivateKey));
  if (is_leaf && !has_key) findings.emplace_back(pipeline::kNoPrivateKey);
  std::sort(findings.begin(), findings.end());
  findings.erase(std::unique(findings.begin(), findings.end()), findings.end());
  return findings;
}

namespace {

// The name an entry gets when the sidecar gives none: CN, else the first SAN without its type
// prefix ("DNS:"), else "cert-" and the fingerprint's start.
std::string DefaultName(const pipeline::CertificateInfo& info) {
  if (!info.subject_cn.empty()) return info.subject_cn;
  if (!info.sans.empty()) {
    const std::string& san = info.sans.front();
    size_t colon = san.find(':');
    std::string value = colon == std::string::npos ? san : san.substr(colon + 1);
    if (!value.empty()) return value;
  }
  return "cert-" + info.fingerprint_sha256.substr(0, 12);
}

nlohmann::json Source(const ImportRequest& request) {
  return {{base::field::kInbox, request.inbox}, {base::field::kFile, request.file}};
}

base::Result<void> CheckRequest(const ImportRequest& request) {
  if (request.parsed == nullptr || request.validation == nullptr) {
    return base::Fail(base::code::kStorageError, "Import needs the parsed file and its validation");
  }
  const auto& certs = request.parsed->certificates;
  const auto& keys = request.parsed->keys;
  for (const pipeline::ValidatedCertificate& vc : request.validation->certificates) {
    if (vc.index >= certs.size() || (vc.key_index && *vc.key_index >= keys.size()) ||
        (vc.key_index && keys[*vc.key_index].spki_sha256 != certs[vc.index].info.spki_sha256)) {
      return base::Fail(base::code::kStorageError,
                        "the validation does not belong to the parsed file");
    }
  }
  for (size_t k : request.validation->unmatched_keys) {
    if (k >= keys.size()) {
      return base::Fail(base::code::kStorageError,
                        "the validation does not belong to the parsed file");
    }
  }
  return {};
}

}  // namespace

base::Result<std::optional<int64_t>> Inventory::Impl::FindKey(const std::string& spki_sha256) {
  auto st = db_.Prepare("SELECT id FROM keys WHERE spki_sha256 = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, spki_sha256);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<int64_t>();
  return std::optional<int64_t>(st->Int(0));
}

base::Result<int64_t> Inventory::Impl::StoreKey(const pipeline::PrivateKey& key,
                                                const ImportRequest& request) {
  // The AAD binds the sealed blob to its public key: a blob moved to another row does not open.
  auto sealed = vault_.Seal(key.pkcs8_der.view(), key.spki_sha256);
  if (!sealed) return std::unexpected(sealed.error());
  auto st = db_.Prepare(
      "INSERT INTO keys (spki_sha256, algorithm, bits, sealed, created_at, source_inbox,"
      " source_file) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, key.spki_sha256).Bind(2, key.algorithm).Bind(3, key.bits).BindBlob(4, *sealed);
  st->Bind(5, request.now).Bind(6, request.inbox).Bind(7, request.file);
  if (auto done = st->Run(); !done) return std::unexpected(done.error());
  return db_.LastInsertRowid();
}

base::Result<bool> Inventory::Impl::FingerprintStored(const std::string& fingerprint) {
  auto st = db_.Prepare("SELECT 1 FROM versions WHERE fingerprint_sha256 = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, fingerprint);
  return st->Step();
}

base::Result<bool> Inventory::Impl::NameTaken(const std::string& group, const std::string& name) {
  auto st = db_.Prepare("SELECT 1 FROM entries WHERE grp = ?1 AND name = ?2");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, group).Bind(2, name);
  return st->Step();
}

// A name taken by another entry of the group gets the fingerprint's start appended (a sidecar
// name taken by an entry the certificate does not renew never gets here: see FindRenewal).
base::Result<std::string> Inventory::Impl::FreeName(const std::string& group,
                                                    const std::string& base,
                                                    const std::string& fingerprint) {
  for (std::string candidate :
       {base, base + " (" + fingerprint.substr(0, 8) + ")", base + " (" + fingerprint + ")"}) {
    auto taken = NameTaken(group, candidate);
    if (!taken) return std::unexpected(taken.error());
    if (!*taken) return candidate;
  }
  return base::Fail(base::code::kStorageError, "no free name for " + base + " in group " + group);
}

base::Result<int> Inventory::Impl::AttachKey(int64_t key_id, const std::string& spki_sha256,
                                             base::UnixTime now, ImportOutcome& outcome,
                                             std::vector<int64_t>& entry_ids) {
  struct Waiting {
    int64_t version_id, entry_id;
    std::vector<std::string> findings;
    bool is_leaf;
  };
  std::vector<Waiting> waiting;
  {
    auto st = db_.Prepare(
        "SELECT v.id, v.entry_id, v.findings, e.kind = 'leaf' FROM versions v"
        " JOIN entries e ON e.id = v.entry_id"
        " WHERE v.spki_sha256 = ?1 AND v.key_id IS NULL ORDER BY v.id");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, spki_sha256);
    while (true) {
      auto row = st->Step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto findings =
          ParseJsonOr(st->Text(2), nlohmann::json::array()).get<std::vector<std::string>>();
      waiting.push_back({st->Int(0), st->Int(1), std::move(findings), st->Int(3) != 0});
    }
  }
  // entry id -> what changed, in first-seen order.
  std::vector<std::pair<int64_t, std::set<std::string>>> changed;
  for (Waiting& w : waiting) {
    auto findings = NormalizeFindings(w.findings, w.is_leaf, /*has_key=*/true);
    auto st = db_.Prepare("UPDATE versions SET key_id = ?1, findings = ?2 WHERE id = ?3");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, key_id).Bind(2, DumpJson(findings)).Bind(3, w.version_id);
    if (auto done = st->Run(); !done) return std::unexpected(done.error());
    auto it = std::find_if(changed.begin(), changed.end(),
                           [&](const auto& c) { return c.first == w.entry_id; });
    if (it == changed.end()) it = changed.insert(changed.end(), {w.entry_id, {}});
    it->second.insert("private_key");
    if (findings != w.findings) it->second.insert("findings");
  }
  for (const auto& [entry_id, what] : changed) {
    auto event = EntryUpdated(entry_id, std::vector<std::string>(what.begin(), what.end()), now);
    if (!event) return std::unexpected(event.error());
    outcome.events.push_back(std::move(*event));
    if (std::find(entry_ids.begin(), entry_ids.end(), entry_id) == entry_ids.end()) {
      entry_ids.push_back(entry_id);
    }
  }
  return static_cast<int>(waiting.size());
}

// Stores a certificate as version `number` of an entry and makes it the entry's current version.
base::Result<int64_t> Inventory::Impl::InsertVersion(
    int64_t entry_id, int64_t number, const pipeline::Certificate& cert,
    const std::vector<std::string>& chain, const std::vector<std::string>& findings,
    std::optional<int64_t> key_id, const std::string& metadata, const ImportRequest& request) {
  const pipeline::CertificateInfo& info = cert.info;
  auto version = db_.Prepare(
      "INSERT INTO versions (entry_id, version, fingerprint_sha256, spki_sha256, serial,"
      " subject, issuer, subject_cn, sans, not_before, not_after, key_algorithm, key_bits,"
      " signature_algorithm, chain, findings, source_inbox, source_file, imported_at, metadata,"
      " der, key_id) VALUES (?1, ?22, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
      " ?15, ?16, ?17, ?18, ?19, ?20, ?21)");
  if (!version) return std::unexpected(version.error());
  version->Bind(1, entry_id).Bind(2, info.fingerprint_sha256).Bind(3, info.spki_sha256);
  version->Bind(4, info.serial).Bind(5, info.subject).Bind(6, info.issuer);
  version->Bind(7, info.subject_cn).Bind(8, DumpJson(info.sans)).Bind(9, info.not_before);
  version->Bind(10, info.not_after).Bind(11, info.key_algorithm).Bind(12, info.key_bits);
  version->Bind(13, info.signature_algorithm).Bind(14, DumpJson(chain));
  version->Bind(15, DumpJson(findings)).Bind(16, request.inbox).Bind(17, request.file);
  version->Bind(18, request.now).Bind(19, metadata).BindBlob(20, cert.der);
  if (key_id) {
    version->Bind(21, *key_id);
  } else {
    version->Bind(21, std::nullopt);
  }
  version->Bind(22, number);
  if (auto done = version->Run(); !done) return std::unexpected(done.error());
  const int64_t version_id = db_.LastInsertRowid();
  if (auto ok = InsertVersionNames(db_, version_id, info.exporter); !ok) {
    return std::unexpected(ok.error());
  }

  auto current = db_.Prepare("UPDATE entries SET current_version_id = ?1 WHERE id = ?2");
  if (!current) return std::unexpected(current.error());
  current->Bind(1, version_id).Bind(2, entry_id);
  if (auto done = current->Run(); !done) return std::unexpected(done.error());
  if (auto ok = LowerExpiryFloor(info.not_after); !ok) return std::unexpected(ok.error());
  return version_id;
}

// Marks the entry updated and writes an event about it: its summary as `certificate`, and `fields`.
base::Result<Event> Inventory::Impl::EntryEvent(int64_t entry_id, const std::string& type,
                                                nlohmann::json fields, base::UnixTime now) {
  auto touch = db_.Prepare("UPDATE entries SET updated_at = ?1 WHERE id = ?2");
  if (!touch) return std::unexpected(touch.error());
  touch->Bind(1, now).Bind(2, entry_id);
  if (auto done = touch->Run(); !done) return std::unexpected(done.error());
  auto summary = SummaryOfEntry(entry_id, now);
  if (!summary) return std::unexpected(summary.error());
  fields[base::field::kCertificate] = std::move(*summary);
  return outbox::Append(db_, type, now, std::move(fields));
}

// cert.updated (`changed`: what changed).
base::Result<Event> Inventory::Impl::EntryUpdated(int64_t entry_id,
                                                  const std::vector<std::string>& changed,
                                                  base::UnixTime now) {
  return EntryEvent(entry_id, base::topic::kCertUpdated, {{base::field::kChanged, changed}}, now);
}

// The sidecar's `bind`: resources for the one certificate it describes (a new entry, a renewal
// or a CSR's activation). Written after that entry's cert.imported / cert.renewed /
// cert.activated, in the same transaction; a failure fails the import (the file goes to
// failed/ with the reason), so a drop is never stored with half of what its sidecar said.
base::Result<void> Inventory::Impl::BindSidecarResources(
    const std::vector<int64_t>& described_entries, const ImportRequest& request,
    ImportOutcome& outcome) {
  if (request.meta.bind.empty() || described_entries.empty()) return {};
  if (described_entries.size() > 1) {
    return base::Fail(base::code::kBindAmbiguous,
                      "the sidecar's bind names resources for one certificate, but " +
                          request.file + " holds " + std::to_string(described_entries.size()) +
                          " new certificates it describes: drop them in separate files");
  }
  for (const std::string& resource : request.meta.bind) {
    auto event =
        PutBinding(described_entries.front(), resource, std::nullopt, "sidecar", request.now);
    if (!event) return std::unexpected(event.error());
    if (*event) outcome.events.push_back(std::move(**event));
  }
  return {};
}

// One Import(): the drop's state between its numbered steps (Import below). Lives inside
// Import's transaction; every step returns the first error, and Import then rolls back.
class Inventory::Impl::ImportRun {
 public:
  ImportRun(Impl& impl, const ImportRequest& request)
      : impl_(impl),
        request_(request),
        parsed_(*request.parsed),
        meta_(request.meta),
        group_(meta_.group.empty() ? "default" : meta_.group) {}

  base::Result<void> StoreKeys();
  base::Result<void> StoreCertificates();
  base::Result<void> BindSidecarResources() {
    return impl_.BindSidecarResources(described_entries_, request_, outcome_);
  }
  base::Result<void> AttachKeys();
  base::Result<void> LogImport();

  ImportOutcome& outcome() { return outcome_; }

 private:
  // A certificate of the drop that is not stored yet, and what step 2 found out about it.
  struct NewCertificate {
    const pipeline::ValidatedCertificate& vc;
    const pipeline::Certificate& cert;
    bool is_leaf;
    bool described;  // what the sidecar speaks of
    bool named;      // the sidecar names it
    std::optional<int64_t> key_id;
    std::vector<std::string> findings;
  };

  const StoredKey* KeyOf(const std::string& spki) const;
  base::Result<void> StoreCertificate(const pipeline::ValidatedCertificate& vc);
  base::Result<bool> ActivateForCsr(const NewCertificate& c);
  base::Result<bool> Renew(const NewCertificate& c, const std::string& base,
                           const std::string& metadata);
  base::Result<void> AddEntry(const NewCertificate& c, const std::string& base,
                              const std::string& metadata);

  Impl& impl_;
  const ImportRequest& request_;
  const pipeline::ParsedFile& parsed_;
  const DropMetadata& meta_;
  const std::string group_;
  ImportOutcome outcome_;
  std::vector<int64_t> entry_ids_;
  std::vector<std::pair<std::string, StoredKey>> keys_;  // spki -> key row, in drop order
  bool has_leaf_ = false;
  bool sidecar_name_ = false;
  int named_count_ = 0;
  std::vector<int64_t> described_entries_;  // new, renewed or activated entries it speaks of
  int attached_ = 0;                        // versions step 3 gave a key
};

const Inventory::Impl::StoredKey* Inventory::Impl::ImportRun::KeyOf(const std::string& spki) const {
  for (const auto& [k, v] : keys_) {
    if (k == spki) return &v;
  }
  return nullptr;
}

base::Result<void> Inventory::Impl::ImportRun::StoreKeys() {
  for (const pipeline::PrivateKey& key : parsed_.keys) {
    if (KeyOf(key.spki_sha256) != nullptr) {
      ++outcome_.duplicates;  // the same key twice in one file
      continue;
    }
    auto existing = impl_.FindKey(key.spki_sha256);
    if (!existing) return std::unexpected(existing.error());
    StoredKey row;
    if (*existing) {
      row.id = **existing;
    } else {
      auto id = impl_.StoreKey(key, request_);
      if (!id) return std::unexpected(id.error());
      row = StoredKey{*id, true};
      ++outcome_.new_keys;
    }
    keys_.emplace_back(key.spki_sha256, row);
  }
  return {};
}

base::Result<void> Inventory::Impl::ImportRun::StoreCertificates() {
  const auto& validated = request_.validation->certificates;
  has_leaf_ = std::any_of(validated.begin(), validated.end(), [&](const auto& vc) {
    return !parsed_.certificates[vc.index].info.is_ca;
  });
  sidecar_name_ = meta_.name.has_value() && !meta_.name->empty();
  for (const pipeline::ValidatedCertificate& vc : validated) {
    if (auto ok = StoreCertificate(vc); !ok) return ok;
  }
  return {};
}

base::Result<void> Inventory::Impl::ImportRun::StoreCertificate(
    const pipeline::ValidatedCertificate& vc) {
  const pipeline::Certificate& cert = parsed_.certificates[vc.index];
  const pipeline::CertificateInfo& info = cert.info;
  const bool is_leaf = !info.is_ca;
  const bool described = is_leaf || !has_leaf_;  // what the sidecar speaks of
  const bool named = sidecar_name_ && described;
  if (named) ++named_count_;  // counted for duplicates too, so names do not shift

  auto stored = impl_.FingerprintStored(info.fingerprint_sha256);
  if (!stored) return std::unexpected(stored.error());
  if (*stored) {
    ++outcome_.duplicates;  // a key it lacked is attached in step 3
    return {};
  }

  std::optional<int64_t> key_id;
  if (const StoredKey* k = KeyOf(info.spki_sha256)) {
    key_id = k->id;
  } else {
    auto waiting = impl_.FindKey(info.spki_sha256);  // a key that arrived in an earlier drop
    if (!waiting) return std::unexpected(waiting.error());
    key_id = *waiting;
  }
  const NewCertificate c{.vc = vc,
                         .cert = cert,
                         .is_leaf = is_leaf,
                         .described = described,
                         .named = named,
                         .key_id = key_id,
                         .findings = NormalizeFindings(vc.findings, is_leaf, key_id.has_value())};

  if (is_leaf) {
    auto activated = ActivateForCsr(c);
    if (!activated) return std::unexpected(activated.error());
    if (*activated) return {};
  }

  std::string base = DefaultName(info);
  if (named) {
    base = named_count_ == 1 ? *meta_.name : *meta_.name + "-" + std::to_string(named_count_);
  }
  // The sidecar's [metadata] is also the first version's: on a renewal it is the new
  // version's only, and the entry keeps what it has (changed with `certinbox meta`).
  const std::string metadata = DumpJson(described ? meta_.metadata : nlohmann::json::object());
  auto renewed = Renew(c, base, metadata);
  if (!renewed) return std::unexpected(renewed.error());
  if (*renewed) return {};
  return AddEntry(c, base, metadata);
}

// A certificate for a CSR made here becomes version 1 of the CSR's entry (storage/csr.cc).
// Returns whether it did.
base::Result<bool> Inventory::Impl::ImportRun::ActivateForCsr(const NewCertificate& c) {
  auto csr_entry = impl_.PendingCsrEntry(c.cert.info.spki_sha256);
  if (!csr_entry) return std::unexpected(csr_entry.error());
  if (!*csr_entry) return false;
  auto event = impl_.ActivateCsr(**csr_entry, c.cert, c.vc.chain, c.findings, c.key_id, request_);
  if (!event) return std::unexpected(event.error());
  outcome_.events.push_back(std::move(*event));
  ++outcome_.activated;
  entry_ids_.push_back(**csr_entry);
  described_entries_.push_back(**csr_entry);  // a leaf: what the sidecar speaks of
  return true;
}

// A new version of the entry it renews (FindRenewal), if any. Returns whether it was one.
base::Result<bool> Inventory::Impl::ImportRun::Renew(const NewCertificate& c,
                                                     const std::string& base,
                                                     const std::string& metadata) {
  auto renewal = impl_.FindRenewal(group_, c.cert.info,
                                   c.named ? std::optional<std::string>(base) : std::nullopt,
                                   request_.meta.renew_groups);
  if (!renewal) return std::unexpected(renewal.error());
  if (!*renewal) return false;
  auto version_id = impl_.InsertVersion((*renewal)->entry_id, (*renewal)->next_version, c.cert,
                                        c.vc.chain, c.findings, c.key_id, metadata, request_);
  if (!version_id) return std::unexpected(version_id.error());
  if (auto pruned = impl_.PruneVersions((*renewal)->entry_id); !pruned) {
    return std::unexpected(pruned.error());
  }
  auto event = impl_.EntryRenewed((*renewal)->entry_id, std::move((*renewal)->previous),
                                  /*rollback=*/false, request_.now);
  if (!event) return std::unexpected(event.error());
  outcome_.events.push_back(std::move(*event));
  ++outcome_.renewals;
  outcome_.stored_ca = outcome_.stored_ca || !c.is_leaf;
  entry_ids_.push_back((*renewal)->entry_id);
  // The sidecar's bind names resources for the renewed entry as for a new one.
  if (c.described) described_entries_.push_back((*renewal)->entry_id);
  return true;
}

// A new entry, with the certificate as its version 1, and its cert.imported.
base::Result<void> Inventory::Impl::ImportRun::AddEntry(const NewCertificate& c,
                                                        const std::string& base,
                                                        const std::string& metadata) {
  const pipeline::CertificateInfo& info = c.cert.info;
  auto name = impl_.FreeName(group_, base, info.fingerprint_sha256);
  if (!name) return std::unexpected(name.error());
  nlohmann::json labels = c.described ? nlohmann::json(meta_.labels) : nlohmann::json::array();

  auto entry = impl_.db_.Prepare(
      "INSERT INTO entries (name, grp, kind, description, labels, metadata, created_at,"
      " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)");
  if (!entry) return std::unexpected(entry.error());
  entry->Bind(1, *name).Bind(2, group_).Bind(3, c.is_leaf ? "leaf" : "ca");
  entry->Bind(4, c.described ? meta_.description.value_or("") : "");
  entry->Bind(5, DumpJson(labels));
  entry->Bind(6, metadata).Bind(7, request_.now);
  if (auto done = entry->Run(); !done) return std::unexpected(done.error());
  const int64_t entry_id = impl_.db_.LastInsertRowid();

  auto version_id = impl_.InsertVersion(entry_id, /*number=*/1, c.cert, c.vc.chain, c.findings,
                                        c.key_id, metadata, request_);
  if (!version_id) return std::unexpected(version_id.error());

  // Described from what was just written (SummaryFromRow would read the same back); a new
  // entry has no bindings yet.
  nlohmann::json summary = SummaryJson(
      SummaryFields{
          .id = entry_id,
          .name = *name,
          .group = group_,
          .kind = c.is_leaf ? "leaf" : "ca",
          .labels = std::move(labels),
          .version = 1,
          .fingerprint_sha256 = info.fingerprint_sha256,
          .subject = info.subject,
          .issuer = info.issuer,
          .sans = info.sans,
          .not_before = info.not_before,
          .not_after = info.not_after,
          .has_private_key = c.key_id.has_value(),
          .findings = c.findings,
          .key_algorithm = info.key_algorithm,
          .key_bits = info.key_bits,
          .serial = info.serial,
          .chain = c.vc.chain,
          .signature_algorithm = info.signature_algorithm,
      },
      request_.now, impl_.options_.expiry);
  auto event = outbox::Append(impl_.db_, base::topic::kCertImported, request_.now,
                              {{base::field::kCertificate, std::move(summary)},
                               {base::field::kSource, Source(request_)},
                               {base::field::kFindings, c.findings}});
  if (!event) return std::unexpected(event.error());
  outcome_.events.push_back(std::move(*event));
  ++outcome_.new_entries;
  outcome_.stored_ca = outcome_.stored_ca || !c.is_leaf;
  entry_ids_.push_back(entry_id);
  if (c.described) described_entries_.push_back(entry_id);
  return {};
}

base::Result<void> Inventory::Impl::ImportRun::AttachKeys() {
  for (const auto& [spki, key] : keys_) {
    auto n = impl_.AttachKey(key.id, spki, request_.now, outcome_, entry_ids_);
    if (!n) return std::unexpected(n.error());
    attached_ += *n;
    if (!key.new_in_this_drop && *n == 0) ++outcome_.duplicates;
  }
  return {};
}

base::Result<void> Inventory::Impl::ImportRun::LogImport() {
  const bool wrote = outcome_.new_entries > 0 || outcome_.renewals > 0 || outcome_.new_keys > 0 ||
                     attached_ > 0 || outcome_.activated > 0;
  auto log = impl_.db_.Prepare(
      "INSERT INTO import_log (time, inbox, file, file_sha256, outcome, entry_ids)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!log) return std::unexpected(log.error());
  log->Bind(1, request_.now).Bind(2, request_.inbox).Bind(3, request_.file);
  log->Bind(4, request_.file_sha256).Bind(5, wrote ? "imported" : "duplicate");
  log->Bind(6, DumpJson(entry_ids_));
  if (auto done = log->Run(); !done) return std::unexpected(done.error());
  return {};
}

base::Result<ImportOutcome> Inventory::Impl::Import(const ImportRequest& request) {
  if (auto ok = CheckRequest(request); !ok) return std::unexpected(ok.error());
  if (auto ok = CheckEntryNames(request.meta.name, request.meta.group, request.meta.labels); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());
  ImportRun run(*this, request);

  // 1. Every key of the drop is stored sealed, once per public key.
  if (auto ok = run.StoreKeys(); !ok) return std::unexpected(ok.error());

  // 2. Each new certificate renews an entry (FindRenewal: a new version of it) or becomes an
  // entry with version 1. The sidecar's name, description,
  // labels and metadata describe the leaf (several leaves: name, name-2, ...); the CA
  // certificates that came with it are named after themselves. A drop of CA certificates only
  // is what the sidecar describes. CA entries go to the drop's group: a group then lists the
  // chain its certificates were delivered with (a CA already stored elsewhere stays where it is).
  if (auto ok = run.StoreCertificates(); !ok) return std::unexpected(ok.error());
  if (auto bound = run.BindSidecarResources(); !bound) return std::unexpected(bound.error());

  // 3. Keys that complete certificates stored earlier without one.
  if (auto ok = run.AttachKeys(); !ok) return std::unexpected(ok.error());

  // 4. The import log.
  if (auto ok = run.LogImport(); !ok) return std::unexpected(ok.error());

  if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
  return std::move(run.outcome());
}

base::Result<Event> Inventory::Impl::RecordRejection(const std::string& inbox,
                                                     const std::string& file,
                                                     const base::Error& reason,
                                                     base::UnixTime now) {
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());
  auto log = db_.Prepare(
      "INSERT INTO import_log (time, inbox, file, outcome, reason, message)"
      " VALUES (?1, ?2, ?3, 'rejected', ?4, ?5)");
  if (!log) return std::unexpected(log.error());
  log->Bind(1, now).Bind(2, inbox).Bind(3, file).Bind(4, reason.code).Bind(5, reason.message);
  if (auto done = log->Run(); !done) return std::unexpected(done.error());
  auto event = outbox::Append(
      db_, base::topic::kImportRejected, now,
      {{base::field::kSource, {{base::field::kInbox, inbox}, {base::field::kFile, file}}},
       {base::field::kReason, reason.code},
       {base::field::kMessage, reason.message}});
  if (!event) return std::unexpected(event.error());
  if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
  return std::move(*event);
}

}  // namespace certinbox::storage
