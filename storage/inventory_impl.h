// Inventory::Impl, the SQLite inventory behind storage/inventory.h. Its methods are spread over
// inventory.cc (opening, batching), import.cc and chains.cc (writes), queries.cc (reads),
// expiry.cc, bindings.cc and delete.cc. Internal.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/time.h"
#include "storage/inventory.h"
#include "storage/sqlite.h"

namespace certinbox::storage {

// delete.cc: deletes a sealed key that no version and no CSR uses any more, so it is not listed
// as a key waiting for its certificate.
base::Result<void> DeleteKeyIfUnused(sqlite::Connection& db, int64_t key_id);

// import.cc: a version's findings, sorted and unique; `no_private_key` is the inventory's to
// decide, so it is set from `has_key` (a leaf without a key has it).
std::vector<std::string> NormalizeFindings(std::vector<std::string> findings, bool is_leaf,
                                           bool has_key);

class Inventory::Impl {
 public:
  Impl(sqlite::Connection db, Vault vault, InventoryOptions options)
      : db_(std::move(db)), vault_(std::move(vault)), options_(options) {}

  base::Result<void> Begin();
  base::Result<void> Commit();
  void Rollback() noexcept;
  base::Result<void> SyncToDisk();

  // import.cc
  base::Result<ImportOutcome> Import(const ImportRequest& request);
  base::Result<Event> RecordRejection(const std::string& inbox, const std::string& file,
                                      const base::Error& reason, base::UnixTime now);
  // chains.cc
  base::Result<std::optional<Event>> UpdateChain(int64_t version_id,
                                                 const std::vector<std::string>& chain,
                                                 const std::vector<std::string>& findings,
                                                 base::UnixTime now);

  // expiry.cc
  base::Result<std::vector<Event>> ScanExpiry(base::UnixTime now);
  // Call whenever a version becomes an entry's current version: keeps the scan's floor at or
  // below its not_after, so the scan does not skip it.
  base::Result<void> LowerExpiryFloor(base::UnixTime not_after);

  // versions.cc: renewals, pruning, rollback; metadata.cc: `meta`.
  // The entry a new certificate renews (Inventory::Import's renewal rule), if any. `sidecar_name`
  // is the name the sidecar gives this certificate: when an entry has it and is not renewed by
  // it, the error is not_a_renewal.
  struct Renewal {
    int64_t entry_id = 0;
    int64_t next_version = 0;  // the number the new version gets
    nlohmann::json previous;   // {version, fingerprint_sha256, not_after} of the current version
  };
  // When `group` has none and `renew_groups` allows, the groups listed there (or any group,
  // std::nullopt) are looked in too: a renewal is found there when exactly one group has an
  // entry by that name (or a current certificate with that subject CN).
  base::Result<std::optional<Renewal>> FindRenewal(
      const std::string& group, const pipeline::CertificateInfo& info,
      const std::optional<std::string>& sidecar_name,
      const std::optional<std::vector<std::string>>& renew_groups = std::vector<std::string>{});
  // Deletes the entry's oldest versions beyond options_.max_versions (see Inventory::Import).
  base::Result<int> PruneVersions(int64_t entry_id);
  // Writes cert.renewed for an entry whose current version just changed.
  base::Result<Event> EntryRenewed(int64_t entry_id, nlohmann::json previous, bool rollback,
                                   base::UnixTime now);
  base::Result<Event> RollbackTo(const std::string& entry, int64_t to, base::UnixTime now);
  base::Result<MetaOutcome> UpdateMeta(const std::string& entry, const MetaChange& change,
                                       base::UnixTime now);

  // queries.cc
  base::Result<std::vector<std::pair<int64_t, std::string>>> IncompleteChains(int64_t after_id,
                                                                              int64_t limit);
  base::Result<std::vector<std::string>> CaCertificates();
  base::Result<nlohmann::json> Show(const std::string& name_or_id, base::UnixTime now);
  base::Result<nlohmann::json> UnmatchedKeys();
  base::Result<Counts> Count(base::UnixTime now);
  base::Result<pipeline::SecretBytes> PrivateKeyFor(const std::string& spki_sha256);

  // list.cc
  base::Result<nlohmann::json> List(const ListFilter& filter, base::UnixTime now);
  base::Result<ListPage> ListPageOf(const ListFilter& filter, const std::optional<ListKey>& after,
                                    int64_t limit, size_t max_bytes, base::UnixTime now);

  // csr.cc: CSRs made here, their activation by Import, exports.
  base::Result<Event> CreateCsr(const NewCsr& request);
  base::Result<nlohmann::json> CsrOf(const std::string& name_or_id, base::UnixTime now);
  base::Result<ExportMaterial> ExportMaterialFor(const std::string& name_or_id, bool with_key,
                                                 base::UnixTime now);
  base::Result<void> RecordKeyExport(const KeyExportRecord& record);
  base::Result<nlohmann::json> KeyExports(int64_t entry_id);
  // The entry of a pending CSR (not yet activated) for this public key, if any.
  base::Result<std::optional<int64_t>> PendingCsrEntry(const std::string& spki_sha256);
  // Makes `cert` version 1 of the pending CSR entry `entry_id`, marks the CSR activated and
  // writes `cert.activated` {certificate}. Called by Import inside its transaction.
  base::Result<Event> ActivateCsr(int64_t entry_id, const pipeline::Certificate& cert,
                                  const std::vector<std::string>& chain,
                                  const std::vector<std::string>& findings,
                                  std::optional<int64_t> key_id, const ImportRequest& request);
  // Entry lookup as Show does it: numeric id (when allow_id), GROUP/NAME, then NAME.
  // Error codes not_found, ambiguous.
  base::Result<int64_t> ResolveEntry(const std::string& name_or_id, bool allow_id = true);

  // bindings.cc: bindings and their reconciliation with the config; delete.cc: Delete.
  base::Result<BindOutcome> Bind(const std::string& entry, const std::string& resource,
                                 const std::optional<std::string>& plugin, base::UnixTime now);
  base::Result<Event> Unbind(const std::string& entry, const std::string& resource,
                             base::UnixTime now);
  base::Result<ReconcileOutcome> ReconcileBindings(const std::vector<DeclaredBinding>& declared,
                                                   base::UnixTime now);
  base::Result<DeleteOutcome> Delete(const std::vector<std::string>& entries, base::UnixTime now);
  // Binds inside the caller's transaction (`certinbox bind`, a sidecar's `bind`): the rules of
  // Inventory::Bind. Returns cert.bound, or std::nullopt when the binding was already so.
  base::Result<std::optional<Event>> PutBinding(int64_t entry_id, const std::string& resource,
                                                const std::optional<std::string>& plugin,
                                                std::string_view source, base::UnixTime now);
  // Import's sidecar `bind` (import.cc calls it; the rules are Inventory::Import's).
  base::Result<void> BindSidecarResources(const std::vector<int64_t>& described_entries,
                                          const ImportRequest& request, ImportOutcome& outcome);
  // cert.bound / cert.unbound {certificate (after the change), resource, plugin}; marks the
  // entry updated.
  base::Result<Event> BindingEvent(const char* type, int64_t entry_id, const std::string& resource,
                                   const std::optional<std::string>& plugin, base::UnixTime now);
  // [{resource, plugin, source, created_at, pushed_version, pushed_at, last_push_at,
  // last_push_result, last_push_message}] of an entry, by resource (nulls where not yet pushed).
  base::Result<nlohmann::json> BindingDetails(int64_t entry_id);

  sqlite::Connection& db() { return db_; }
  void set_options(InventoryOptions options) { options_ = std::move(options); }
  const InventoryOptions& options() const { return options_; }
  void HandOverCheckpoints(std::function<void(int wal_pages)> after_commit);

  // Fails when a batch was opened but SQLite has since rolled it back on its own (disk full,
  // I/O error): continuing would silently write outside the batch.
  base::Result<void> CheckBatch() const;

  // The summary of an entry's current version; not_found when there is no such entry.
  base::Result<nlohmann::json> SummaryOfEntry(int64_t entry_id, base::UnixTime now);
  base::Result<Event> EntryUpdated(int64_t entry_id, const std::vector<std::string>& changed,
                                   base::UnixTime now);

  base::Result<std::string> Tag(std::string_view message) const { return vault_.Tag(message); }

  // push.cc: what plugins see of their bindings, and their push reports.
  base::Result<std::optional<ResourceBinding>> BindingOfResource(const std::string& resource);
  base::Result<nlohmann::json> PluginBindings(const std::string& plugin, base::UnixTime now);
  base::Result<Event> RecordPush(const PushRecord& record);

 private:
  struct StoredKey {
    int64_t id = 0;
    bool new_in_this_drop = false;
  };
  class ImportRun;  // import.cc: the state of one Import() between its steps

  base::Result<std::optional<int64_t>> FindKey(const std::string& spki_sha256);
  base::Result<int64_t> StoreKey(const pipeline::PrivateKey& key, const ImportRequest& request);
  base::Result<bool> FingerprintStored(const std::string& fingerprint);
  base::Result<bool> NameTaken(const std::string& group, const std::string& name);
  // import.cc: stores `cert` as version `number` of an entry and makes it current.
  base::Result<int64_t> InsertVersion(int64_t entry_id, int64_t number,
                                      const pipeline::Certificate& cert,
                                      const std::vector<std::string>& chain,
                                      const std::vector<std::string>& findings,
                                      std::optional<int64_t> key_id, const std::string& metadata,
                                      const ImportRequest& request);
  // Marks the entry updated and writes an event of `type` with its summary as `certificate`
  // beside `fields`.
  base::Result<Event> EntryEvent(int64_t entry_id, const std::string& type, nlohmann::json fields,
                                 base::UnixTime now);
  // bindings.cc: step 3 of ReconcileBindings, for one declaration naming entry `entry_id`.
  base::Result<void> ApplyDeclaredBinding(const DeclaredBinding& d, int64_t entry_id,
                                          base::UnixTime now, ReconcileOutcome& outcome);
  base::Result<std::string> FreeName(const std::string& group, const std::string& base,
                                     const std::string& fingerprint);
  // Attaches a stored key to every version of its public key that has none, dropping
  // no_private_key; one cert.updated per entry so changed. Returns how many versions changed.
  base::Result<int> AttachKey(int64_t key_id, const std::string& spki_sha256, base::UnixTime now,
                              ImportOutcome& outcome, std::vector<int64_t>& entry_ids);

  sqlite::Connection db_;
  Vault vault_;
  InventoryOptions options_;
  std::function<void(int wal_pages)> after_commit_;  // HandOverCheckpoints
  bool in_batch_ = false;
};

}  // namespace certinbox::storage
