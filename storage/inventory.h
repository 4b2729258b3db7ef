// The SQLite inventory: entries, versions, sealed keys, the import log and the event outbox.
// One thread (the daemon's loop thread) owns an Inventory; it is not thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/time.h"
#include "pipeline/csr.h"
#include "pipeline/error.h"
#include "pipeline/types.h"
#include "pipeline/validate.h"
#include "storage/expiry_policy.h"
#include "storage/vault.h"

namespace certinbox::storage {

// One event as written to the outbox; `json` is the whole message (seq, type, time, fields).
struct Event {
  int64_t seq = 0;
  std::string type;
  std::string json;
};

// A named subscriber cursor: the last event seq the subscriber acknowledged.
struct Cursor {
  std::string name;
  int64_t seq = 0;
  base::UnixTime created_at = 0, updated_at = 0;
};

// What the user said about a drop (sidecar TOML), already validated by the daemon.
struct DropMetadata {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::string group = "default";
  // Where else a renewal may be found when the sidecar named no group (the drop's group is
  // then the inbox's): the one entry, in any of these groups, that this certificate renews
  // (std::nullopt: any group). Empty: only in `group`.
  std::optional<std::vector<std::string>> renew_groups = std::vector<std::string>{};
  std::vector<std::string> labels;
  nlohmann::json metadata = nlohmann::json::object();
  // Resources to bind the entry the sidecar describes to (source `sidecar`); see Import.
  std::vector<std::string> bind;
};

struct ImportRequest {
  std::string inbox;  // inbox name
  std::string file;   // file name inside the inbox
  std::string file_sha256;
  DropMetadata meta;
  const pipeline::ParsedFile* parsed = nullptr;
  const pipeline::Validation* validation = nullptr;
  base::UnixTime now = 0;
};

struct ImportOutcome {
  std::vector<Event> events;  // cert.imported / cert.renewed / cert.updated, in seq order
  int new_entries = 0;
  int renewals = 0;        // new versions of existing entries
  int new_keys = 0;        // keys stored (matched or waiting)
  int duplicates = 0;      // objects that were already stored
  bool stored_ca = false;  // a new `ca` certificate: the daemon refreshes its trust context
  // CSR entries that got their certificate (cert.activated instead of cert.imported).
  int activated = 0;
};

// A binding declared in the config ([[binding]]): entry is "NAME" or "GROUP/NAME".
struct DeclaredBinding {
  std::string entry;
  std::string resource;
  std::optional<std::string> plugin;
};

// The result of Bind: `event` (cert.bound) only when something changed.
struct BindOutcome {
  std::optional<Event> event;
  nlohmann::json binding;  // {entry: summary-name fields, resource, plugin, source}
};

// The result of Delete: one result per name asked, in the order asked (docs/protocol.md `rm`):
// {entry, outcome: deleted|refused|failed, id?, name?, group?, error?: {code, message},
// resources? (bound), chained_by? (ca_in_use)}.
struct DeleteOutcome {
  nlohmann::json results = nlohmann::json::array();
  std::vector<Event> events;  // cert.deleted, in seq order
  int deleted = 0;
  int not_deleted = 0;
  bool deleted_ca = false;  // the daemon refreshes its trust context
};

// What a reconciliation of declared bindings did and could not do.
struct ReconcileOutcome {
  std::vector<Event> events;  // cert.unbound, then cert.bound, in seq order
  // Declarations not applied: {resource, entry, state: pending|ambiguous|conflict, message}.
  // `pending`: no entry has that name yet (applied when it is imported).
  nlohmann::json problems = nlohmann::json::array();
};

// A resource name: 1 to 255 bytes, no control characters, no leading or trailing space.
// Error code "bad_resource".
base::Result<void> CheckResourceName(std::string_view resource);

// What a sidecar, a request or the config names an entry with, by pipeline::CheckName: the
// name (when given), the group (when not empty) and each label. Error code "bad_name".
base::Result<void> CheckEntryNames(const std::optional<std::string>& name, std::string_view group,
                                   const std::vector<std::string>& labels);

struct ListFilter {
  std::optional<std::string> status;  // valid | expiring_soon | expired | pre_activation
  std::optional<std::string> group;
  std::optional<std::string> label;
  std::optional<int64_t> expiring_within_seconds;
  // A piece of the name, the group, the subject CN or a SAN of the current version, in any case
  // (ASCII): what a search box finds.
  std::optional<std::string> text;
  std::string sort = "name";  // "name" | "expiry"
};

// An entry's place in the orders of `ls`: sort name is (name, group, id), sort expiry is
// (expiry_order, name, id). expiry_order is the current version's not_after, or INT64_MAX for a
// CSR entry without certificate (listed last). A page of ListPageOf starts after one of these.
struct ListKey {
  int64_t expiry_order = 0;
  std::string name;
  std::string group;
  int64_t id = 0;
};

// One page of `ls` (docs/protocol.md, "ls rows"): the rows, and where the next page starts
// (nothing when this page holds the last matching entry).
struct ListPage {
  nlohmann::json rows = nlohmann::json::array();
  std::optional<ListKey> next;
};

// A CSR made here (`certinbox csr create`), generated by pipeline::GenerateCsr.
struct NewCsr {
  std::string name;
  std::string group = "default";
  std::string description;
  std::vector<std::string> labels;
  std::string key_type;  // rsa-2048, ec-p256, ...
  const pipeline::GeneratedCsr* csr = nullptr;
  base::UnixTime now = 0;
};

// What `export` hands out for an entry's current version.
struct ExportMaterial {
  int64_t entry_id = 0;
  std::string name, group;
  int64_t version = 0;
  std::string cert_der;
  std::vector<std::string> chain_der;  // issuer first; stored CA certificates only, no root
  pipeline::SecretBytes key_pkcs8;     // empty unless asked for
};

// One row of the key export audit log.
struct KeyExportRecord {
  int64_t entry_id = 0;
  std::string entry_name;
  int64_t version = 0;
  std::string what;     // "key" | "pkcs12"
  std::string outcome;  // "exported" | "refused"
  std::string reason;   // the error code when refused
  std::string endpoint;
  base::UnixTime now = 0;
};

// Which entry a resource serves and which plugin handles it (plugins' requests).
struct ResourceBinding {
  int64_t entry_id = 0;
  std::string entry;                  // GROUP/NAME
  std::optional<std::string> plugin;  // none: no plugin handles it
};

// A plugin's report of a push to a bound resource (`push.report`).
struct PushRecord {
  std::string plugin;
  std::string resource;
  int64_t version = 0;  // the entry version pushed (or attempted)
  bool ok = false;
  std::string message;
  std::optional<int64_t> exit_status;
  std::string output;  // the tail of a command's output; the last 4 KiB are kept
  base::UnixTime now = 0;
};

struct InventoryOptions {
  ExpiryPolicy expiry;    // status and notices (docs/configuration.md, [expiry])
  int max_versions = 50;  // versions kept per entry (at least 1; the current one is never pruned)
};

// What `certinbox meta` changes (docs/protocol.md, op "meta"). Unset members change nothing.
struct MetaChange {
  std::optional<std::string> description;
  std::vector<std::string> add_labels;
  std::vector<std::string> remove_labels;
  nlohmann::json set = nlohmann::json::object();  // key -> value
  std::vector<std::string> unset;
  // With a version number, `set` and `unset` apply to that version's metadata, not the entry's.
  std::optional<int64_t> version;
};

struct MetaOutcome {
  std::vector<std::string> changed;  // description, labels, metadata, version_metadata
  std::optional<Event> event;        // cert.updated; none when nothing changed
};

struct Counts {
  int64_t entries = 0, leaf = 0, ca = 0, unmatched_keys = 0, valid = 0, expiring_soon = 0,
          expired = 0, imports = 0, rejections = 0, last_seq = 0;
  int64_t pre_activation = 0;  // CSR entries waiting for their certificate
};

class Inventory {
 public:
  // Opens (creating) the database in WAL mode and applies storage/migrations/NNN_*.sql in order.
  // Then reads the x509-certificate-exporter labels of stored certificates that have none
  // (once, after an upgrade from before migration 009: seconds for tens of thousands), telling
  // `before_names_fill` how many first.
  static base::Result<std::unique_ptr<Inventory>> Open(
      const std::filesystem::path& db_file, Vault vault, InventoryOptions options,
      const std::function<void(int64_t missing)>& before_names_fill = {});
  // A read-only view of a database that Open made, for reads off the loop thread (the HTTP
  // listener's pages): its own read-only connection, no migrations, no key (a write or a key
  // fails). In WAL mode its reads see the last commit and neither wait for nor hold up the
  // writer. One thread at a time.
  static base::Result<std::unique_ptr<Inventory>> OpenReadOnly(const std::filesystem::path& db_file,
                                                               InventoryOptions options);
  ~Inventory();

  // Batching: between Begin() and Commit() every operation below shares one transaction
  // (each in its own savepoint, so one failed operation does not undo the others).
  // Without Begin(), each operation is its own transaction.
  // A failed Commit() rolls the whole batch back: nothing since Begin() is stored.
  // A reloaded config: new expiry rules / max_versions from the next operation on.
  void SetOptions(InventoryOptions options);
  const InventoryOptions& options() const;

  base::Result<void> Begin();
  base::Result<void> Commit();
  void Rollback();

  // Makes every commit so far durable: one sync (fdatasync) of the WAL for all the commits
  // since the last. The connection runs with synchronous=NORMAL, so a commit alone survives a
  // killed process but not a power cut or a kernel crash; call this after a commit and before
  // acting on it outside the database (a dropped file leaving its inbox). On the thread that
  // commits; storage_error (with the OS's reason) if the sync fails, and then nothing since the
  // last successful sync may be counted on.
  base::Result<void> SyncToDisk();

  // Hands the WAL's checkpoints to the caller. By default SQLite copies the WAL back into the
  // database inside the COMMIT that takes it past 1000 pages, fsyncs included, on the thread
  // that commits. After this call it does so only when a commit leaves the WAL at
  // kInlineCheckpointPages or more; below that, `after_commit` gets the WAL's size in pages
  // after every commit, and the caller runs a Checkpointer (checkpointer.h) where it likes.
  // (A checkpoint that runs while commits go on cannot let the WAL start over, so under
  // steady writes the caller's checkpoints alone would let it grow without bound.)
  // `after_commit` runs on the committing thread and must not use this Inventory. An empty
  // function gives the checkpoints back to SQLite.
  static constexpr int kAutoCheckpointPages = 1000;  // SQLite's default
  static constexpr int kInlineCheckpointPages = 10 * kAutoCheckpointPages;
  void HandOverCheckpoints(std::function<void(int wal_pages)> after_commit);

  // Stores what a validated drop holds and writes its events to the outbox:
  // - the sidecar's `bind` (meta.bind) binds the entry the sidecar describes, new, renewed or
  //   activated (source `sidecar`, one cert.bound each, after its cert.imported, cert.renewed
  //   or cert.activated); a drop describing several certificates cannot say which one is meant
  //   (error code "bind_ambiguous"), and a resource bound to another entry fails the import
  //   ("resource_bound"). A duplicate binds nothing.
  // - a leaf for the key of a pending CSR activates the CSR's entry (CreateCsr) before any
  //   renewal rule is tried: the key decides, whatever the CN, SANs or sidecar name say.
  // - each new certificate becomes an entry (kind `leaf`, or `ca` for CA certificates) with
  //   version 1 and one `cert.imported`; its key comes from the drop or a waiting key;
  //   `no_private_key` is added to a leaf's findings when it has none;
  // - a certificate already stored (same fingerprint) is a duplicate: nothing is written;
  // - a key whose certificate is stored without one is attached (`cert.updated`,
  //   changed ["private_key"]); a key with no certificate waits, sealed, as an unmatched key.
  // Records the import in the import log.
  //
  // Renewals: a new certificate that renews an entry becomes its new current version (one
  // `cert.renewed`, rollback false) instead of a new entry. It renews
  // - the entry of the drop's group named by the sidecar's `name`, or, without a name,
  // - the entry of the drop's group and kind whose current version has the same subject CN (for
  //   CA certificates: the same subject) and the same SAN set, in any order;
  // and in both cases only when it expires later than that current version. A sidecar name
  // whose entry it does not renew (not later, or another kind, or a pending CSR entry this
  // certificate is not for) rejects the drop: `not_a_renewal`. The renewal's key is found as for a
  // new entry; bindings stay; version metadata is the sidecar's [metadata], the entry's own is left
  // as it is. Versions beyond max_versions are pruned, oldest first (never the current one; a CA
  // version some stored chain names is kept, and so is a version a binding's pushed_version names),
  // with their expiry notices and keys no version or CSR uses any more.
  base::Result<ImportOutcome> Import(const ImportRequest& request);

  // Records a rejected drop in the import log and writes `import.rejected`.
  base::Result<Event> RecordRejection(const std::string& inbox, const std::string& file,
                                      const base::Error& reason, base::UnixTime now);

  // Certificates (leaves, and intermediates stored before their root) whose chain was
  // incomplete when stored, as (version id, DER), to validate again after a CA certificate
  // arrived: those with an id above `after_id`, in id order, at most `limit` (-1: all).
  base::Result<std::vector<std::pair<int64_t, std::string>>> IncompleteChains(int64_t after_id = 0,
                                                                              int64_t limit = -1);
  // Stores a chain and findings found again (findings as Validate gives them: the inventory
  // keeps `no_private_key` itself). Writes `cert.updated` (changed ["chain", "findings"]) and
  // returns it when something changed, std::nullopt otherwise.
  base::Result<std::optional<Event>> UpdateChain(int64_t version_id,
                                                 const std::vector<std::string>& chain,
                                                 const std::vector<std::string>& findings,
                                                 base::UnixTime now);

  // Makes version `to` of an entry (name, group/name or id, as Show) its current version again
  // and writes one `cert.renewed` {certificate, previous, rollback: true}. Bindings stay.
  // Errors: not_found (no such entry or version), already_current, version_expired (its
  // not_after has passed: an expired certificate is never made current again), ambiguous,
  // not_activated (a CSR entry without certificate).
  base::Result<Event> RollbackTo(const std::string& entry, int64_t to, base::UnixTime now);

  // Changes an entry's description, labels and metadata, or one version's metadata, and
  // writes one `cert.updated` {certificate, changed} when something changed (no event, and an
  // empty `changed`, when nothing did). Errors: not_found, ambiguous, bad_request (an empty
  // label or key).
  base::Result<MetaOutcome> UpdateMeta(const std::string& entry, const MetaChange& change,
                                       base::UnixTime now);

  // DER of every stored CA certificate (for the trust context).
  base::Result<std::vector<std::string>> CaCertificates();

  // Certificate summaries (docs/events.md, "The certificate summary") of every entry the
  // filter matches, in its order, all at once: what the storage tests read (`ls` pages with
  // ListPageOf, so that no request builds the whole inventory).
  base::Result<nlohmann::json> List(const ListFilter& filter, base::UnixTime now);
  // The `ls` rows (a short summary, docs/protocol.md) of the entries the filter matches that come
  // after `after` in its order (from the first without it): at most `limit` rows, and fewer when
  // the next would take them past `max_bytes`, a row's size being estimated from its stored texts
  // (the first row always comes, so paging moves on). Each page is one query on an index that
  // holds the whole order (no OFFSET), so a late page costs what the first does, and an entry
  // that exists from the first page to the last is listed once, whatever else is added or
  // deleted meanwhile, unless its own sort key changes (a renewal moves it in the expiry order).
  // Error code bad_filter for an unknown status or sort.
  base::Result<ListPage> ListPageOf(const ListFilter& filter, const std::optional<ListKey>& after,
                                    int64_t limit, size_t max_bytes, base::UnixTime now);
  // By name (optionally "group/name") or numeric id; error code "not_found".
  // Several groups holding the name: error code "ambiguous". The summary gains "description",
  // "metadata", "created_at", "updated_at" and "versions" [{version, current, status,
  // fingerprint_sha256, not_before, not_after, imported_at, source, metadata}], oldest first.
  base::Result<nlohmann::json> Show(const std::string& name_or_id, base::UnixTime now);

  // Bindings (bindings.cc). Entries are named as Show names them (name, GROUP/NAME or id).
  //
  // Binds an entry to a resource (source `cli` unless said otherwise). Binding it again to the
  // same resource with the same plugin changes nothing (no event); with another plugin (or none)
  // the plugin is replaced and cert.bound is written again. Error codes: not_found, ambiguous,
  // bad_resource, resource_bound (the resource is bound to another entry; the message names it),
  // declared (the binding is the config's: change its [[binding]] instead).
  base::Result<BindOutcome> Bind(const std::string& entry, const std::string& resource,
                                 const std::optional<std::string>& plugin, base::UnixTime now);
  // Removes a binding and writes cert.unbound. Error codes: not_found (no such entry, or the
  // entry is not bound to that resource), ambiguous, declared (made by the config: remove its
  // [[binding]] and reload).
  base::Result<Event> Unbind(const std::string& entry, const std::string& resource,
                             base::UnixTime now);
  // Deletes entries: each with its versions, their expiry notices, its CSR and the keys no
  // remaining version or CSR uses, and one cert.deleted {certificate as it was}, all in one
  // transaction (a storage error deletes nothing and fails the whole call). Per name, refused when
  // the entry is bound (code "bound", every resource named) or is a CA that entries not deleted in
  // the same call chain to (code "ca_in_use"); failed when the name finds no entry (not_found,
  // ambiguous). A name given twice, or two names of one entry, are one deletion.
  base::Result<DeleteOutcome> Delete(const std::vector<std::string>& entries, base::UnixTime now);
  // Makes the stored `config` bindings what `declared` says, in one transaction:
  // - a `config` binding whose resource is no longer declared is removed (cert.unbound);
  // - a declared binding whose entry exists is made (cert.bound) or, when the resource is the
  //   config's already, moved to the declared entry / given the declared plugin; one made by
  //   the CLI or a sidecar for the same entry becomes the config's (no event unless the plugin
  //   changes); one that another entry holds by CLI or sidecar is left alone (a "conflict");
  // - a declaration whose entry does not exist (yet) or is ambiguous changes nothing, so what
  //   the config bound earlier stays bound until the declaration can be applied.
  // Declarations must have distinct resources (the config checks it). Works inside a batch.
  base::Result<ReconcileOutcome> ReconcileBindings(const std::vector<DeclaredBinding>& declared,
                                                   base::UnixTime now);

  // Keys waiting for their certificate: [{spki_sha256, algorithm, bits, created_at, source}],
  // never key bytes.
  base::Result<nlohmann::json> UnmatchedKeys();

  // Writes one event that reports no inventory change of its own (config.reloaded, say) to
  // the outbox; inside a batch, as part of it.
  base::Result<Event> AppendEvent(const std::string& type, nlohmann::json fields,
                                  base::UnixTime now);

  // Events with seq > since, oldest first, at most `limit` (limit <= 0: all of them).
  base::Result<std::vector<Event>> EventsSince(int64_t since, int limit);
  // The events about entry `entry_id` (their `certificate.id`), newest first, at most `limit`.
  base::Result<std::vector<Event>> EventsOfEntry(int64_t entry_id, int limit);
  // The oldest event seq still in the outbox (last seq + 1 when it is empty): a client that
  // asks for events since a seq below FirstSeq() - 1 has lost the ones in between to retention.
  base::Result<int64_t> FirstSeq();

  // Subscriber cursors (docs/protocol.md "Cursors"). AckCursor creates the cursor or moves it
  // forward (never back) and returns its seq; a seq above the last event is "bad_request".
  base::Result<int64_t> AckCursor(const std::string& name, int64_t seq, base::UnixTime now);
  base::Result<std::optional<int64_t>> CursorSeq(const std::string& name);
  base::Result<std::vector<Cursor>> Cursors();
  base::Result<bool> DeleteCursor(const std::string& name);
  // The first event seq above `after` of a type starting with one of `prefixes` ("" = any), if
  // there is one: a plugin's events waiting above its cursor (the supervisor's hang check).
  base::Result<std::optional<int64_t>> FirstEventMatching(int64_t after,
                                                          const std::vector<std::string>& prefixes);

  // Retention: deletes events older than `before` with seq <= `published_seq` (never one not
  // published yet) that every cursor has acknowledged, at most `limit` in one transaction.
  // Returns how many were deleted.
  base::Result<int64_t> PruneEvents(base::UnixTime before, int64_t published_seq, int limit);

  // The outbox's publish cursor: events above it were committed but maybe not yet published.
  base::Result<int64_t> PublishedSeq();
  base::Result<void> SetPublishedSeq(int64_t seq);

  base::Result<Counts> Count(base::UnixTime now);

  // The expiry scan, by the notice thresholds of each entry's rule (options().expiry). Walks
  // versions.not_after from the floor up to now + the longest duration of any threshold (the
  // index, a bounded batch at a time; the whole range of current versions only when a
  // threshold is a share alone) and, for each entry's current version, announces the most
  // urgent thing not yet announced:
  // - expired (not_after <= now): one `cert.expired` {certificate};
  // - else the threshold T that leaves the least time among those crossed (not_after - now <=
  //   T's time for this certificate's lifetime): one `cert.expiring` {certificate, days_left,
  //   threshold: T's key, threshold_days: T's time in whole days}.
  // Thresholds passed over (crossed with the one announced, or all of them once expired) are
  // recorded as done without an event, so a scan after a long downtime sends no stale ones.
  // Each announcement is recorded (expiry_notices, by version and threshold key) with its event
  // in one transaction, so it is made once per version and threshold, across restarts. Writes
  // nothing when nothing is due. Works inside a batch (Begin/Commit) or as its own transaction.
  // Returns the events written.
  base::Result<std::vector<Event>> ScanExpiry(base::UnixTime now);

  // --- CSRs made here, and exports (storage/csr.cc) ---
  // Stores a generated CSR in one transaction: its key sealed (like an imported key), the entry
  // (kind leaf, no version: status pre_activation), the CSR and `csr.created` {certificate,
  // csr_pem}. Errors: name_taken (the group has an entry of that name), bad_request.
  // A certificate for the CSR's key dropped later (any inbox, any time) activates the entry:
  // Import makes it version 1 of this entry and writes `cert.activated` {certificate}.
  base::Result<Event> CreateCsr(const NewCsr& request);
  // The CSR of an entry (name, group/name or id): {"entry": summary, "csr_pem", "key_type",
  // "created_at", "activated_at" (null while pending)}. Errors: not_found, ambiguous, no_csr.
  base::Result<nlohmann::json> CsrOf(const std::string& name_or_id, base::UnixTime now);
  // The current certificate of an entry, its chain and (with_key) its private key, unsealed.
  // Errors: not_found, ambiguous, not_activated (a CSR without certificate), no_private_key.
  base::Result<ExportMaterial> ExportMaterialFor(const std::string& name_or_id, bool with_key,
                                                 base::UnixTime now);
  // Appends to the key export audit log (key_exports).
  base::Result<void> RecordKeyExport(const KeyExportRecord& record);
  // An entry's key exports, oldest first: [{time, version, what, outcome, reason, endpoint}].
  base::Result<nlohmann::json> KeyExports(int64_t entry_id);
  // Vault::Tag: a stable secret derived from the master key (plugin tokens); "" when it cannot
  // be computed, which matches no token. Kept as a string because its callers (the plugin ops
  // and the supervisor) only compare or hand it on.
  std::string Tag(std::string_view message) const;

  // --- Plugins (storage/push.cc) ---
  // The binding of a resource, std::nullopt when nothing is bound to it.
  base::Result<std::optional<ResourceBinding>> BindingOfResource(const std::string& resource);
  // The resources bound to `plugin`, by resource: [{resource, entry (GROUP/NAME), id, version
  // (the entry's current; 0 for a CSR without certificate), fingerprint_sha256, not_after,
  // has_private_key, pushed_version, pushed_at, last_push_result, last_push_message}].
  base::Result<nlohmann::json> PluginBindings(const std::string& plugin, base::UnixTime now);
  // Records a push on the binding (last_push_at/_result/_message; on success pushed_version and
  // pushed_at) and writes push.succeeded / push.failed {certificate, resource, plugin, version,
  // message, exit_status, output} in one transaction. Errors: forbidden (the resource is not
  // bound to record.plugin), not_found (the entry has no such version).
  base::Result<Event> RecordPush(const PushRecord& record);

  // Stored sealed keys, for tests and export (unseals through the vault).
  base::Result<pipeline::SecretBytes> PrivateKeyFor(const std::string& spki_sha256);

 private:
  class Impl;
  explicit Inventory(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace certinbox::storage
