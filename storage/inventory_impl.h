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

#include "storage/inventory.h"
#include "storage/sqlite.h"

namespace certinbox::storage {

// delete.cc: deletes a sealed key that no version and no CSR uses any more, so it is not listed
// as a key waiting for its certificate.
pipeline::Result<void> DeleteKeyIfUnused(sqlite::Connection& db, int64_t key_id);

// import.cc: a version's findings, sorted and unique; `no_private_key` is the inventory's to
// decide, so it is set from `has_key` (a leaf without a key has it).
std::vector<std::string> NormalizeFindings(std::vector<std::string> findings, bool is_leaf,
                                           bool has_key);

class Inventory::Impl {
 public:
  Impl(sqlite::Connection db, Vault vault, InventoryOptions options)
      : db_(std::move(db)), vault_(std::move(vault)), options_(options) {}

  pipeline::Result<void> Begin();
  pipeline::Result<void> Commit();
  void Rollback() noexcept;
  pipeline::Result<void> SyncToDisk();

  // import.cc
  pipeline::Result<ImportOutcome> Import(const ImportRequest& request);
  pipeline::Result<Event> RecordRejection(const std::string& inbox, const std::string& file,
                                          const pipeline::Error& reason, pipeline::UnixTime now);
  // chains.cc
  pipeline::Result<std::optional<Event>> UpdateChain(int64_t version_id,
                                                     const std::vector<std::string>& chain,
                                                     const std::vector<std::string>& findings,
                                                     pipeline::UnixTime now);

  // expiry.cc
  pipeline::Result<std::vector<Event>> ScanExpiry(const std::vector<int>& notify_days,
                                                  pipeline::UnixTime now);
  // Call whenever a version becomes an entry's current version: keeps the scan's floor at or
  // below its not_after, so the scan does not skip it.
  pipeline::Result<void> LowerExpiryFloor(pipeline::UnixTime not_after);

  // versions.cc: renewals, pruning, rollback; metadata.cc: `meta`.
  // The entry a new certificate renews (Inventory::Import's renewal rule), if any. `sidecar_name`
  // is the name the sidecar gives this certificate: when an entry has it and is not renewed by
  // it, the error is not_a_renewal.
  struct Renewal {
    int64_t entry_id = 0;
    int64_t next_version = 0;  // the number the new version gets
    nlohmann::json previous;   // {version, fingerprint_sha256, not_after} of the current version
  };
  pipeline::Result<std::optional<Renewal>> FindRenewal(
      const std::string& group, const pipeline::CertificateInfo& info,
      const std::optional<std::string>& sidecar_name);
  // Deletes the entry's oldest versions beyond options_.max_versions (see Inventory::Import).
  pipeline::Result<int> PruneVersions(int64_t entry_id);
  // Writes cert.renewed for an entry whose current version just changed.
  pipeline::Result<Event> EntryRenewed(int64_t entry_id, nlohmann::json previous, bool rollback,
                                       pipeline::UnixTime now);
  pipeline::Result<Event> RollbackTo(const std::string& entry, int64_t to, pipeline::UnixTime now);
  pipeline::Result<MetaOutcome> UpdateMeta(const std::string& entry, const MetaChange& change,
                                           pipeline::UnixTime now);

  // queries.cc
  pipeline::Result<std::vector<std::pair<int64_t, std::string>>> IncompleteChains(
      int64_t after_id, int64_t limit);
  pipeline::Result<std::vector<std::string>> CaCertificates();
  pipeline::Result<nlohmann::json> List(const ListFilter& filter, pipeline::UnixTime now);
  pipeline::Result<nlohmann::json> Show(const std::string& name_or_id, pipeline::UnixTime now);
  pipeline::Result<nlohmann::json> UnmatchedKeys();
  pipeline::Result<Counts> Count(pipeline::UnixTime now);
  pipeline::Result<pipeline::SecretBytes> PrivateKeyFor(const std::string& spki_sha256);

  // csr.cc: CSRs made here, their activation by Import, exports.
  pipeline::Result<Event> CreateCsr(const NewCsr& request);
  pipeline::Result<nlohmann::json> CsrOf(const std::string& name_or_id, pipeline::UnixTime now);
  pipeline::Result<ExportMaterial> ExportMaterialFor(const std::string& name_or_id, bool with_key,
                                                     pipeline::UnixTime now);
  pipeline::Result<void> RecordKeyExport(const KeyExportRecord& record);
  pipeline::Result<nlohmann::json> KeyExports(int64_t entry_id);
  // The entry of a pending CSR (not yet activated) for this public key, if any.
  pipeline::Result<std::optional<int64_t>> PendingCsrEntry(const std::string& spki_sha256);
  // Makes `cert` version 1 of the pending CSR entry `entry_id`, marks the CSR activated and
  // writes `cert.activated` {certificate}. Called by Import inside its transaction.
  pipeline::Result<Event> ActivateCsr(int64_t entry_id, const pipeline::Certificate& cert,
                                      const std::vector<std::string>& chain,
                                      const std::vector<std::string>& findings,
                                      std::optional<int64_t> key_id, const ImportRequest& request);
  // Entry lookup as Show does it: numeric id (when allow_id), GROUP/NAME, then NAME.
  // Error codes not_found, ambiguous.
  pipeline::Result<int64_t> ResolveEntry(const std::string& name_or_id, bool allow_id = true);

  // bindings.cc: bindings and their reconciliation with the config; delete.cc: Delete.
  pipeline::Result<BindOutcome> Bind(const std::string& entry, const std::string& resource,
                                     const std::optional<std::string>& plugin,
                                     pipeline::UnixTime now);
  pipeline::Result<Event> Unbind(const std::string& entry, const std::string& resource,
                                 pipeline::UnixTime now);
  pipeline::Result<ReconcileOutcome> ReconcileBindings(const std::vector<DeclaredBinding>& declared,
                                                       pipeline::UnixTime now);
  pipeline::Result<DeleteOutcome> Delete(const std::vector<std::string>& entries,
                                         pipeline::UnixTime now);
  // Binds inside the caller's transaction (`certinbox bind`, a sidecar's `bind`): the rules of
  // Inventory::Bind. Returns cert.bound, or std::nullopt when the binding was already so.
  pipeline::Result<std::optional<Event>> PutBinding(int64_t entry_id, const std::string& resource,
                                                    const std::optional<std::string>& plugin,
                                                    std::string_view source,
                                                    pipeline::UnixTime now);
  // Import's sidecar `bind` (import.cc calls it; the rules are Inventory::Import's).
  pipeline::Result<void> BindSidecarResources(const std::vector<int64_t>& described_entries,
                                              const ImportRequest& request, ImportOutcome& outcome);
  // cert.bound / cert.unbound {certificate (after the change), resource, plugin}; marks the
  // entry updated.
  pipeline::Result<Event> BindingEvent(const char* type, int64_t entry_id,
                                       const std::string& resource,
                                       const std::optional<std::string>& plugin,
                                       pipeline::UnixTime now);
  // [{resource, plugin, source, created_at, pushed_version, pushed_at, last_push_at,
  // last_push_result, last_push_message}] of an entry, by resource (nulls where not yet pushed).
  pipeline::Result<nlohmann::json> BindingDetails(int64_t entry_id);

  sqlite::Connection& db() { return db_; }
  void set_options(InventoryOptions options) { options_ = options; }
  void HandOverCheckpoints(std::function<void(int wal_pages)> after_commit);

  // Fails when a batch was opened but SQLite has since rolled it back on its own (disk full,
  // I/O error): continuing would silently write outside the batch.
  pipeline::Result<void> CheckBatch() const;

  // The summary of an entry's current version; not_found when there is no such entry.
  pipeline::Result<nlohmann::json> SummaryOfEntry(int64_t entry_id, pipeline::UnixTime now);
  pipeline::Result<Event> EntryUpdated(int64_t entry_id, const std::vector<std::string>& changed,
                                       pipeline::UnixTime now);

  std::string Tag(std::string_view message) const { return vault_.Tag(message); }

  // push.cc: what plugins see of their bindings, and their push reports.
  pipeline::Result<std::optional<ResourceBinding>> BindingOfResource(const std::string& resource);
  pipeline::Result<nlohmann::json> PluginBindings(const std::string& plugin,
                                                  pipeline::UnixTime now);
  pipeline::Result<Event> RecordPush(const PushRecord& record);

 private:
  struct StoredKey {
    int64_t id = 0;
    bool new_in_this_drop = false;
  };
  class ImportRun;  // import.cc: the state of one Import() between its steps

  pipeline::Result<std::optional<int64_t>> FindKey(const std::string& spki_sha256);
  pipeline::Result<int64_t> StoreKey(const pipeline::PrivateKey& key, const ImportRequest& request);
  pipeline::Result<bool> FingerprintStored(const std::string& fingerprint);
  pipeline::Result<bool> NameTaken(const std::string& group, const std::string& name);
  // import.cc: stores `cert` as version `number` of an entry and makes it current.
  pipeline::Result<int64_t> InsertVersion(
      int64_t entry_id, int64_t number, const pipeline::Certificate& cert,
      const std::vector<std::string>& chain, const std::vector<std::string>& findings,
      std::optional<int64_t> key_id, const std::string& metadata, const ImportRequest& request);
  // Marks the entry updated and writes an event of `type` with its summary as `certificate`
  // beside `fields`.
  pipeline::Result<Event> EntryEvent(int64_t entry_id, const std::string& type,
                                     nlohmann::json fields, pipeline::UnixTime now);
  // bindings.cc: step 3 of ReconcileBindings, for one declaration naming entry `entry_id`.
  pipeline::Result<void> ApplyDeclaredBinding(const DeclaredBinding& d, int64_t entry_id,
                                              pipeline::UnixTime now, ReconcileOutcome& outcome);
  pipeline::Result<std::string> FreeName(const std::string& group, const std::string& base,
                                         const std::string& fingerprint);
  // Attaches a stored key to every version of its public key that has none, dropping
  // no_private_key; one cert.updated per entry so changed. Returns how many versions changed.
  pipeline::Result<int> AttachKey(int64_t key_id, const std::string& spki_sha256,
                                  pipeline::UnixTime now, ImportOutcome& outcome,
                                  std::vector<int64_t>& entry_ids);

  sqlite::Connection db_;
  Vault vault_;
  InventoryOptions options_;
  std::function<void(int wal_pages)> after_commit_;  // HandOverCheckpoints
  bool in_batch_ = false;
};

}  // namespace certinbox::storage
