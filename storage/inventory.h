// The SQLite inventory: entries, versions, sealed keys, the import log and the event outbox.
// One thread (the daemon's loop thread) owns an Inventory; it is not thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

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

// A named subscriber cursor: the last event seq the subscriber acknowledged.
struct Cursor {
  std::string name;
  int64_t seq = 0;
  pipeline::UnixTime created_at = 0, updated_at = 0;
};

// What the user said about a drop (sidecar TOML), already validated by the daemon.
struct DropMetadata {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::string group = "default";
  std::vector<std::string> labels;
  nlohmann::json metadata = nlohmann::json::object();
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
  std::vector<Event> events;  // cert.imported / cert.renewed / cert.updated, in seq order
  int new_entries = 0;
  int renewals = 0;        // new versions of existing entries
  int new_keys = 0;        // keys stored (matched or waiting)
  int duplicates = 0;      // objects that were already stored
  bool stored_ca = false;  // a new `ca` certificate: the daemon refreshes its trust context
};

struct ListFilter {
  std::optional<std::string> status;  // valid | expiring_soon | expired | pre_activation
  std::optional<std::string> group;
  std::optional<std::string> label;
  std::optional<int64_t> expiring_within_seconds;
  std::string sort = "name";  // "name" | "expiry"
};

struct InventoryOptions {
  int expiring_soon_days = 90;
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
  // whose entry it does not renew (not later, or another kind) rejects the drop:
  // `not_a_renewal`. The renewal's key is found as for a new entry; bindings stay; version
  // metadata is the sidecar's [metadata], the entry's own is left as it is. Versions beyond
  // max_versions are pruned, oldest first (never the current one; a CA version some stored
  // chain names is kept), with their expiry notices and keys no version uses any more.
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

  // Makes version `to` of an entry (name, group/name or id, as Show) its current version again
  // and writes one `cert.renewed` {certificate, previous, rollback: true}. Bindings stay.
  // Errors: not_found (no such entry or version), already_current, version_expired (its
  // not_after has passed: an expired certificate is never made current again), ambiguous.
  pipeline::Result<Event> RollbackTo(const std::string& entry, int64_t to, pipeline::UnixTime now);

  // Changes an entry's description, labels and metadata, or one version's metadata, and
  // writes one `cert.updated` {certificate, changed} when something changed (no event, and an
  // empty `changed`, when nothing did). Errors: not_found, ambiguous, bad_request (an empty
  // label or key).
  pipeline::Result<MetaOutcome> UpdateMeta(const std::string& entry, const MetaChange& change,
                                           pipeline::UnixTime now);

  // DER of every stored CA certificate (for the trust context).
  pipeline::Result<std::vector<std::string>> CaCertificates();

  // Certificate summaries (DESIGN.md "certificate") for `ls` and `show`.
  pipeline::Result<nlohmann::json> List(const ListFilter& filter, pipeline::UnixTime now);
  // By name (optionally "group/name") or numeric id; error code "not_found".
  // Several groups holding the name: error code "ambiguous". The summary gains "description",
  // "metadata", "created_at", "updated_at" and "versions" [{version, current, status,
  // fingerprint_sha256, not_before, not_after, imported_at, source, metadata}], oldest first.
  pipeline::Result<nlohmann::json> Show(const std::string& name_or_id, pipeline::UnixTime now);

  // Keys waiting for their certificate: [{spki_sha256, algorithm, bits, created_at, source}],
  // never key bytes.
  pipeline::Result<nlohmann::json> UnmatchedKeys();

  // Writes one event that reports no inventory change of its own (config.reloaded, say) to
  // the outbox; inside a batch, as part of it.
  pipeline::Result<Event> AppendEvent(const std::string& type, nlohmann::json fields,
                                      pipeline::UnixTime now);

  // Events with seq > since, oldest first, at most `limit` (limit <= 0: all of them).
  pipeline::Result<std::vector<Event>> EventsSince(int64_t since, int limit);
  // The oldest event seq still in the outbox (last seq + 1 when it is empty): a client that
  // asks for events since a seq below FirstSeq() - 1 has lost the ones in between to retention.
  pipeline::Result<int64_t> FirstSeq();

  // Subscriber cursors (docs/protocol.md "Cursors"). AckCursor creates the cursor or moves it
  // forward (never back) and returns its seq; a seq above the last event is "bad_request".
  pipeline::Result<int64_t> AckCursor(const std::string& name, int64_t seq, pipeline::UnixTime now);
  pipeline::Result<std::optional<int64_t>> CursorSeq(const std::string& name);
  pipeline::Result<std::vector<Cursor>> Cursors();
  pipeline::Result<bool> DeleteCursor(const std::string& name);

  // Retention: deletes events older than `before` with seq <= `published_seq` (never one not
  // published yet) that every cursor has acknowledged, at most `limit` in one transaction.
  // Returns how many were deleted.
  pipeline::Result<int64_t> PruneEvents(pipeline::UnixTime before, int64_t published_seq, int limit);

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
