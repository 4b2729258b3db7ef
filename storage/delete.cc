// Deleting entries (`certinbox rm`): refused for bound entries and for CA entries that entries
// staying in the inventory chain to; everything an entry owns goes with it.
#include <algorithm>
#include <unordered_map>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "base/wire.h"
#include "storage/inventory_impl.h"
#include "storage/outbox.h"
#include "storage/summary.h"

namespace certinbox::storage {

namespace {

constexpr size_t kNamesInMessage = 5;

struct Target {
  int64_t id = 0;
  std::string kind, group, name, holder;  // holder: GROUP/NAME
  std::vector<std::string> resources;
  bool deletable = true;
  std::optional<base::Error> refusal;
  nlohmann::json chained_by = nlohmann::json::array();
};

std::string NameList(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < kNamesInMessage; ++i) {
    out += (i == 0 ? "" : ", ") + names[i];
  }
  if (names.size() > kNamesInMessage) {
    out += " and " + std::to_string(names.size() - kNamesInMessage) + " more";
  }
  return out;
}

base::Result<void> Describe(sqlite::Connection& db, Target& target) {
  {
    auto st = db.Prepare("SELECT kind, grp, name FROM entries WHERE id = ?1");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, target.id);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row)
      return base::Fail(base::code::kStorageError,
                        "entry " + std::to_string(target.id) + " vanished");
    target.kind = st->Text(0);
    target.group = st->Text(1);
    target.name = st->Text(2);
    target.holder = target.group + "/" + target.name;
  }
  auto st = db.Prepare("SELECT resource FROM bindings WHERE entry_id = ?1 ORDER BY resource");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, target.id);
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
    target.resources.push_back(st->Text(0));
  }
}

// Entries other than `ca_id` with a version (current or not: rollback may need it) whose chain
// holds a certificate of `ca_id`. Walks every version's chain: deleting a CA is rare.
base::Result<std::vector<std::pair<int64_t, std::string>>> ChainedBy(sqlite::Connection& db,
                                                                     int64_t ca_id) {
  auto st = db.Prepare(
      "SELECT DISTINCT e.id, e.grp || '/' || e.name FROM versions v, json_each(v.chain) c"
      " JOIN entries e ON e.id = v.entry_id"
      " WHERE v.entry_id != ?1"
      "   AND c.value IN (SELECT fingerprint_sha256 FROM versions WHERE entry_id = ?1)"
      " ORDER BY e.grp, e.name");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, ca_id);
  std::vector<std::pair<int64_t, std::string>> out;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.emplace_back(st->Int(0), st->Text(1));
  }
}

// The entry row goes; its versions, their expiry notices and its CSR (if it was made by `csr
// create`) follow by ON DELETE CASCADE. Keys that only its versions or its CSR used go too, or
// they would be listed as keys waiting for a certificate (a pending CSR has no version: its
// key is known only from its csrs row).
base::Result<void> DeleteEntry(sqlite::Connection& db, int64_t entry_id) {
  std::vector<int64_t> key_ids;
  {
    auto st = db.Prepare(
        "SELECT key_id FROM versions WHERE entry_id = ?1 AND key_id IS NOT NULL"
        " UNION SELECT key_id FROM csrs WHERE entry_id = ?1");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, entry_id);
    while (true) {
      auto row = st->Step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      key_ids.push_back(st->Int(0));
    }
  }
  auto entry = db.Prepare("DELETE FROM entries WHERE id = ?1");
  if (!entry) return std::unexpected(entry.error());
  entry->Bind(1, entry_id);
  if (auto done = entry->Run(); !done) return done;
  for (int64_t key_id : key_ids) {
    if (auto done = DeleteKeyIfUnused(db, key_id); !done) return done;
  }
  return {};
}

// Step 2 of Delete: what keeps an entry, its bindings, and, for a CA, entries that chain to it
// and stay. A CA refused makes nothing else refused, but a leaf refused keeps its CA, so CAs are
// looked at again until nothing changes.
base::Result<void> MarkRefused(sqlite::Connection& db, std::vector<Target>& targets,
                               const std::unordered_map<int64_t, size_t>& target_of) {
  for (Target& target : targets) {
    if (target.resources.empty()) continue;
    target.deletable = false;
    target.refusal =
        base::Error{base::code::kBound,
                    target.holder + " is bound to " + NameList(target.resources) +
                        ": unbind it first (certinbox unbind " + target.holder + " RESOURCE)"};
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (Target& target : targets) {
      if (!target.deletable || target.kind != "ca") continue;
      auto chained = ChainedBy(db, target.id);
      if (!chained) return std::unexpected(chained.error());
      std::vector<std::string> staying;
      for (const auto& [id, holder] : *chained) {
        auto it = target_of.find(id);
        if (it == target_of.end() || !targets[it->second].deletable) staying.push_back(holder);
      }
      if (staying.empty()) continue;
      target.deletable = false;
      target.chained_by = staying;
      target.refusal =
          base::Error{base::code::kCaInUse,
                      target.holder + " is the CA of " + NameList(staying) +
                          ": their chains would lose it; delete them first, or in the same "
                          "command"};
      changed = true;
    }
  }
  return {};
}

// Step 4 of Delete: one result per name, in the order asked (`asked`: the index in `targets`, or
// why the name found no entry).
void ReportResults(const std::vector<std::string>& entries,
                   const std::vector<base::Result<size_t>>& asked,
                   const std::vector<Target>& targets, DeleteOutcome& outcome) {
  for (size_t i = 0; i < entries.size(); ++i) {
    nlohmann::json result = {{"entry", entries[i]}};
    if (!asked[i]) {
      result["outcome"] = "failed";
      result["error"] = {{"code", asked[i].error().code}, {"message", asked[i].error().message}};
      ++outcome.not_deleted;
    } else {
      const Target& target = targets[*asked[i]];
      result["id"] = target.id;
      result["group"] = target.group;
      result["name"] = target.name;
      if (target.deletable) {
        result["outcome"] = "deleted";
        ++outcome.deleted;
      } else {
        result["outcome"] = "refused";
        result["error"] = {{"code", target.refusal->code}, {"message", target.refusal->message}};
        if (!target.resources.empty()) result["resources"] = target.resources;
        if (!target.chained_by.empty()) result["chained_by"] = target.chained_by;
        ++outcome.not_deleted;
      }
    }
    outcome.results.push_back(std::move(result));
  }
}

}  // namespace

base::Result<void> DeleteKeyIfUnused(sqlite::Connection& db, int64_t key_id) {
  auto key = db.Prepare(
      "DELETE FROM keys WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM versions WHERE key_id = ?1)"
      " AND NOT EXISTS (SELECT 1 FROM csrs WHERE key_id = ?1)");
  if (!key) return std::unexpected(key.error());
  key->Bind(1, key_id);
  return key->Run();
}

base::Result<DeleteOutcome> Inventory::Impl::Delete(const std::vector<std::string>& entries,
                                                    base::UnixTime now) {
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());

  // 1. Each name's entry. Targets are kept in the order first asked.
  std::vector<Target> targets;
  std::unordered_map<int64_t, size_t> target_of;
  std::vector<base::Result<size_t>> asked;
  for (const std::string& name : entries) {
    auto entry_id = ResolveEntry(name);
    if (!entry_id) {
      if (entry_id.error().code != base::code::kNotFound &&
          entry_id.error().code != base::code::kAmbiguous) {
        return std::unexpected(entry_id.error());
      }
      asked.emplace_back(std::unexpected(entry_id.error()));
      continue;
    }
    auto [it, added] = target_of.emplace(*entry_id, targets.size());
    if (added) {
      Target target;
      target.id = *entry_id;
      if (auto ok = Describe(db_, target); !ok) return std::unexpected(ok.error());
      targets.push_back(std::move(target));
    }
    asked.emplace_back(it->second);
  }

  // 2. What keeps an entry: its bindings, and, for a CA, entries that chain to it and stay.
  if (auto ok = MarkRefused(db_, targets, target_of); !ok) return std::unexpected(ok.error());

  // 3. Delete, each announced with its summary as it was.
  DeleteOutcome outcome;
  for (const Target& target : targets) {
    if (!target.deletable) continue;
    auto summary = SummaryOfEntry(target.id, now);
    if (!summary) return std::unexpected(summary.error());
    if (auto done = DeleteEntry(db_, target.id); !done) return std::unexpected(done.error());
    auto event = outbox::Append(db_, base::topic::kCertDeleted, now,
                                {{base::field::kCertificate, std::move(*summary)}});
    if (!event) return std::unexpected(event.error());
    outcome.events.push_back(std::move(*event));
    outcome.deleted_ca = outcome.deleted_ca || target.kind == "ca";
  }

  // 4. One result per name, in the order asked.
  ReportResults(entries, asked, targets, outcome);
  if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
  return outcome;
}

}  // namespace certinbox::storage
