// The SQLite inventory: entries, versions, sealed keys, the import log and the event outbox.
// One thread (the daemon's loop thread) owns an Inventory; it is not thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/error.h"
#include "pipeline/types.h"
#include "pipeline/validate.h"
#include "storage/vault.h"

namespace certinbox::storage {

// One event as written to the outbox; `json` is the whole message (seq, type, time, fields).
struct Event {
  int64_t seq = 0;
  std::string type;
  std::string json;
};

// What the user said about a drop (sidecar TOML), already validated by the daemon.
struct DropMetadata {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::string group = "default";
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
  pipeline::UnixTime now = 0;
};

struct ImportOutcome {
  std::vector<Event> events;  // cert.imported / cert.updated, in seq order
  int new_entries = 0;
  int new_keys = 0;            // keys stored (matched or waiting)
  int duplicates = 0;          // objects that were already stored
  bool stored_ca = false;      // a new `ca` entry: the daemon refreshes its trust context
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
pipeline::Result<void> CheckResourceName(std::string_view resource);

struct ListFilter {
  std::optional<std::string> status;  // valid | expiring_soon | expired | pre_activation
  std::optional<std::string> group;
  std::optional<std::string> label;
  std::optional<int64_t> expiring_within_seconds;
  std::string sort = "name";  // "name" | "expiry"
};

struct InventoryOptions {
  int expiring_soon_days = 90;
};

struct Counts {
  int64_t entries = 0, leaf = 0, ca = 0, unmatched_keys = 0, valid = 0, expiring_soon = 0,
          expired = 0, imports = 0, rejections = 0, last_seq = 0;
};

class Inventory {
 public:
  // Opens (creating) the database in WAL mode and applies storage/migrations/NNN_*.sql in order.
  static pipeline::Result<std::unique_ptr<Inventory>> Open(const std::filesystem::path& db_file,
                                                           Vault vault, InventoryOptions options);
  ~Inventory();

  // Batching: between Begin() and Commit() every operation below shares one transaction
  // (each in its own savepoint, so one failed operation does not undo the others).
  // Without Begin(), each operation is its own transaction.
  // A failed Commit() rolls the whole batch back: nothing since Begin() is stored.
  pipeline::Result<void> Begin();
  pipeline::Result<void> Commit();
  void Rollback();

  // Stores what a validated drop holds and writes its events to the outbox:
  // - the sidecar's `bind` (meta.bind) binds the new entry the sidecar describes (source
  //   `sidecar`, one cert.bound each, after its cert.imported); a drop describing several new
  //   entries cannot say which one is meant (error code "bind_ambiguous"), and a resource bound
  //   to another entry fails the import ("resource_bound"). A duplicate binds nothing.
  // - each new certificate becomes an entry (kind `leaf`, or `ca` for CA certificates) with
  //   version 1 and one `cert.imported`; its key comes from the drop or a waiting key;
  //   `no_private_key` is added to a leaf's findings when it has none;
  // - a certificate already stored (same fingerprint) is a duplicate: nothing is written;
  // - a key whose certificate is stored without one is attached (`cert.updated`,
  //   changed ["private_key"]); a key with no certificate waits, sealed, as an unmatched key.
  // Records the import in the import log.
  pipeline::Result<ImportOutcome> Import(const ImportRequest& request);

  // Records a rejected drop in the import log and writes `import.rejected`.
  pipeline::Result<Event> RecordRejection(const std::string& inbox, const std::string& file,
                                          const pipeline::Error& reason, pipeline::UnixTime now);

  // Certificates (leaves, and intermediates stored before their root) whose chain was
  // incomplete when stored, as (version id, DER), to validate again after a CA certificate arrived.
  pipeline::Result<std::vector<std::pair<int64_t, std::string>>> IncompleteChains();
  // Stores a chain and findings found again (findings as Validate gives them: the inventory
  // keeps `no_private_key` itself). Writes `cert.updated` (changed ["chain", "findings"]) and
  // returns it when something changed, std::nullopt otherwise.
  pipeline::Result<std::optional<Event>> UpdateChain(int64_t version_id,
                                                     const std::vector<std::string>& chain,
                                                     const std::vector<std::string>& findings,
                                                     pipeline::UnixTime now);

  // DER of every stored CA certificate (for the trust context).
  pipeline::Result<std::vector<std::string>> CaCertificates();

  // Certificate summaries (DESIGN.md "certificate") for `ls` and `show`.
  pipeline::Result<nlohmann::json> List(const ListFilter& filter, pipeline::UnixTime now);
  // By name (optionally "group/name") or numeric id; error code "not_found".
  // Several groups holding the name: error code "ambiguous". The summary gains "description",
  // "metadata", "created_at", "updated_at" and "versions" [{version, fingerprint_sha256,
  // not_after, imported_at, source}].
  pipeline::Result<nlohmann::json> Show(const std::string& name_or_id, pipeline::UnixTime now);

  // Bindings (bindings.cc). Entries are named as Show names them (name, GROUP/NAME or id).
  //
  // Binds an entry to a resource (source `cli` unless said otherwise). Binding it again to the
  // same resource with the same plugin changes nothing (no event); with another plugin (or none)
  // the plugin is replaced and cert.bound is written again. Error codes: not_found, ambiguous,
  // bad_resource, resource_bound (the resource is bound to another entry; the message names it),
  // declared (the binding is the config's: change its [[binding]] instead).
  pipeline::Result<BindOutcome> Bind(const std::string& entry, const std::string& resource,
                                     const std::optional<std::string>& plugin,
                                     pipeline::UnixTime now);
  // Removes a binding and writes cert.unbound. Error codes: not_found (no such entry, or the
  // entry is not bound to that resource), ambiguous, declared (made by the config: remove its
  // [[binding]] and reload).
  pipeline::Result<Event> Unbind(const std::string& entry, const std::string& resource,
                                 pipeline::UnixTime now);
  // Deletes entries: each with its versions, their expiry notices and the keys no remaining
  // version uses, and one cert.deleted {certificate as it was}, all in one transaction (a
  // storage error deletes nothing and fails the whole call). Per name, refused when the entry
  // is bound (code "bound", every resource named) or is a CA that entries not deleted in the
  // same call chain to (code "ca_in_use"); failed when the name finds no entry (not_found,
  // ambiguous). A name given twice, or two names of one entry, are one deletion.
  pipeline::Result<DeleteOutcome> Delete(const std::vector<std::string>& entries,
                                         pipeline::UnixTime now);
  // Makes the stored `config` bindings what `declared` says, in one transaction:
  // - a `config` binding whose resource is no longer declared is removed (cert.unbound);
  // - a declared binding whose entry exists is made (cert.bound) or, when the resource is the
  //   config's already, moved to the declared entry / given the declared plugin; one made by
  //   the CLI or a sidecar for the same entry becomes the config's (no event unless the plugin
  //   changes); one that another entry holds by CLI or sidecar is left alone (a "conflict");
  // - a declaration whose entry does not exist (yet) or is ambiguous changes nothing, so what
  //   the config bound earlier stays bound until the declaration can be applied.
  // Declarations must have distinct resources (the config checks it). Works inside a batch.
  pipeline::Result<ReconcileOutcome> ReconcileBindings(const std::vector<DeclaredBinding>& declared,
                                                       pipeline::UnixTime now);

  // Keys waiting for their certificate: [{spki_sha256, algorithm, bits, created_at, source}],
  // never key bytes.
  pipeline::Result<nlohmann::json> UnmatchedKeys();

  // Writes one event that reports no inventory change of its own (config.reloaded, say) to
  // the outbox; inside a batch, as part of it.
  pipeline::Result<Event> AppendEvent(const std::string& type, nlohmann::json fields,
                                      pipeline::UnixTime now);

  // Events with seq > since, oldest first, at most `limit` (limit <= 0: all of them).
  pipeline::Result<std::vector<Event>> EventsSince(int64_t since, int limit);
  // The outbox's publish cursor: events above it were committed but maybe not yet published.
  pipeline::Result<int64_t> PublishedSeq();
  pipeline::Result<void> SetPublishedSeq(int64_t seq);

  pipeline::Result<Counts> Count(pipeline::UnixTime now);

  // The expiry scan. Walks versions.not_after from the oldest up to now + max(notify_days)
  // (the index, a bounded batch at a time: never the whole inventory) and, for each entry's
  // current version, announces the most urgent thing not yet announced:
  // - expired (not_after <= now): one `cert.expired` {certificate};
  // - else the smallest threshold T of `notify_days` with not_after - now <= T days: one
  //   `cert.expiring` {certificate, days_left, threshold_days: T}.
  // Thresholds passed over (larger than the one announced, or all of them once expired) are
  // recorded as done without an event, so a scan after a long downtime sends no stale ones.
  // A threshold of 0 is the moment of expiry, announced as `cert.expired`.
  // Each announcement is recorded (expiry_notices) with its event in one transaction, so it is
  // made once per version and threshold, across restarts. Writes nothing when nothing is due.
  // Works inside a batch (Begin/Commit) or as its own transaction. Returns the events written.
  pipeline::Result<std::vector<Event>> ScanExpiry(const std::vector<int>& notify_days,
                                                  pipeline::UnixTime now);

  // Stored sealed keys, for tests and export (unseals through the vault).
  pipeline::Result<pipeline::SecretBytes> PrivateKeyFor(const std::string& spki_sha256);

 private:
  class Impl;
  explicit Inventory(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace certinbox::storage
