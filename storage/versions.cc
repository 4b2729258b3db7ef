// Versions of an entry: which entry a new certificate renews, pruning beyond max_versions, and
// rollback to an earlier version. The contract is Inventory::Import's and Inventory::RollbackTo's.
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

// SANs compare as sets: a CA may reorder them from one issuance to the next.
std::vector<std::string> SanSet(std::vector<std::string> sans) {
  std::sort(sans.begin(), sans.end());
  sans.erase(std::unique(sans.begin(), sans.end()), sans.end());
  return sans;
}

nlohmann::json Previous(int64_t version, const std::string& fingerprint, base::UnixTime not_after) {
  return {{base::field::kVersion, version},
          {base::field::kFingerprintSha256, fingerprint},
          {base::field::kNotAfter, base::FormatRfc3339(not_after)}};
}

std::string Quoted(const std::string& group, const std::string& name) {
  return "\"" + name + "\" (group " + group + ")";
}

// Inventory::Impl::Renewal, found (Impl's types are its own: this is the same three fields).
struct Renewal {
  int64_t entry_id = 0;
  int64_t next_version = 0;
  nlohmann::json previous;
};

// FindRenewal when the sidecar names the certificate: that entry, or not_a_renewal.
base::Result<std::optional<Renewal>> RenewalByName(sqlite::Connection& db, const std::string& group,
                                                   const pipeline::CertificateInfo& info,
                                                   const std::string& kind,
                                                   const std::string& sidecar_name) {
  auto st = db.Prepare(
      "SELECT e.id, e.kind, v.version, v.fingerprint_sha256, v.not_after,"
      " (SELECT max(w.version) FROM versions w WHERE w.entry_id = e.id)"
      " FROM entries e LEFT JOIN versions v ON v.id = e.current_version_id"
      " WHERE e.grp = ?1 AND e.name = ?2");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, group).Bind(2, sidecar_name);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<Renewal>();
  // A CSR entry waiting for its certificate: its certificate is found by the CSR's key (Import
  // activates it before looking for a renewal), so this one is not it.
  if (st->IsNull(2)) {
    return base::Fail(base::code::kNotARenewal,
                      "the sidecar names " + Quoted(group, sidecar_name) +
                          ", a CSR waiting for its signed certificate, but this certificate "
                          "is not for the CSR's key: give it another name in its sidecar, or "
                          "drop the certificate issued for that CSR");
  }
  // The sidecar says "this is NAME": a certificate that cannot be NAME's next version is
  // refused rather than replacing a newer one or becoming another entry under another name.
  if (st->Text(1) != kind) {
    return base::Fail(base::code::kNotARenewal,
                      "the sidecar names " + Quoted(group, sidecar_name) + ", a " + st->Text(1) +
                          " entry, but this is a " + kind +
                          " certificate: give it another name in its sidecar");
  }
  const base::UnixTime current_not_after = st->Int(4);
  if (info.not_after <= current_not_after) {
    return base::Fail(
        base::code::kNotARenewal,
        "the sidecar names " + Quoted(group, sidecar_name) +
            ", whose current certificate (version " + std::to_string(st->Int(2)) + ") expires " +
            base::FormatRfc3339(current_not_after) + "; this one expires " +
            base::FormatRfc3339(info.not_after) +
            ", not later, so it is not a renewal: give it another name in its sidecar to keep "
            "it as an entry of its own, or `certinbox rollback` to return to an older version");
  }
  return std::optional<Renewal>(Renewal{
      .entry_id = st->Int(0),
      .next_version = st->Int(5) + 1,
      .previous = Previous(st->Int(2), st->Text(3), current_not_after),
  });
}

// FindRenewal otherwise: by subject CN and SANs.
base::Result<std::optional<Renewal>> RenewalBySubject(sqlite::Connection& db,
                                                      const std::string& group,
                                                      const pipeline::CertificateInfo& info,
                                                      const std::string& kind) {
  if (info.subject_cn.empty() && info.sans.empty()) return std::optional<Renewal>();
  // Driven by versions_subject_cn; the entry is found by its primary key. The entry whose
  // current version expires last (but before this one) is renewed: it is the one in use.
  auto st = db.Prepare(
      "SELECT e.id, v.version, v.fingerprint_sha256, v.not_after, v.sans, v.subject,"
      " (SELECT max(w.version) FROM versions w WHERE w.entry_id = e.id)"
      " FROM versions v CROSS JOIN entries e"
      " WHERE v.subject_cn = ?1 AND v.not_after < ?2 AND e.id = v.entry_id"
      " AND e.current_version_id = v.id AND e.grp = ?3 AND e.kind = ?4"
      " ORDER BY v.not_after DESC, e.id");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, info.subject_cn).Bind(2, info.not_after).Bind(3, group).Bind(4, kind);
  const auto sans = SanSet(info.sans);
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::optional<Renewal>();
    if (info.is_ca && st->Text(5) != info.subject) continue;
    auto stored = ParseJsonOr(st->Text(4), nlohmann::json::array());
    if (!stored.is_array()) continue;
    std::vector<std::string> stored_sans;
    for (const auto& san : stored) {
      if (san.is_string()) stored_sans.push_back(san.get<std::string>());
    }
    if (SanSet(std::move(stored_sans)) != sans) continue;
    return std::optional<Renewal>(Renewal{
        .entry_id = st->Int(0),
        .next_version = st->Int(6) + 1,
        .previous = Previous(st->Int(1), st->Text(2), st->Int(3)),
    });
  }
}

}  // namespace

// The groups other than `group` where an entry named `name` (or, without a name, a current
// certificate of this kind with this subject CN) is.
base::Result<std::vector<std::string>> OtherCandidateGroups(
    sqlite::Connection& db, const std::string& group, const pipeline::CertificateInfo& info,
    const std::string& kind, const std::optional<std::string>& name) {
  auto st = name ? db.Prepare("SELECT DISTINCT grp FROM entries WHERE name = ?1 AND grp != ?2")
                 : db.Prepare(
                       "SELECT DISTINCT e.grp FROM versions v JOIN entries e ON e.id = v.entry_id"
                       " WHERE v.subject_cn = ?1 AND e.grp != ?2 AND e.current_version_id = v.id"
                       " AND e.kind = ?3");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, name ? *name : info.subject_cn).Bind(2, group);
  if (!name) st->Bind(3, kind);
  std::vector<std::string> groups;
  for (;;) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return groups;
    groups.push_back(st->Text(0));
  }
}

base::Result<std::optional<Inventory::Impl::Renewal>> Inventory::Impl::FindRenewal(
    const std::string& group, const pipeline::CertificateInfo& info,
    const std::optional<std::string>& sidecar_name,
    const std::optional<std::vector<std::string>>& renew_groups) {
  const std::string kind = info.is_ca ? "ca" : "leaf";
  auto in = [&](const std::string& where) {
    return sidecar_name ? RenewalByName(db_, where, info, kind, *sidecar_name)
                        : RenewalBySubject(db_, where, info, kind);
  };
  auto found = in(group);
  if (!found) return std::unexpected(found.error());
  // Not in the drop's own group, and the drop named none: the entry it renews may be in
  // another group (a renewal dropped without the sidecar of the first import), when only one
  // group has a candidate.
  if (!*found && !(renew_groups && renew_groups->empty()) &&
      (sidecar_name || !info.subject_cn.empty())) {
    auto groups = OtherCandidateGroups(db_, group, info, kind, sidecar_name);
    if (!groups) return std::unexpected(groups.error());
    if (renew_groups) {
      std::erase_if(*groups, [&](const std::string& g) {
        return std::find(renew_groups->begin(), renew_groups->end(), g) == renew_groups->end();
      });
    }
    if (groups->size() == 1) {
      found = in(groups->front());
      // An entry of that name elsewhere that this certificate cannot renew: a new entry in
      // the drop's own group, as without the lookup.
      if (!found && found.error().code == base::code::kNotARenewal) {
        found = decltype(found)::value_type();
      }
    }
    if (!found) return std::unexpected(found.error());
  }
  if (!*found) return std::optional<Renewal>();
  return std::optional<Renewal>(Renewal{
      .entry_id = (*found)->entry_id,
      .next_version = (*found)->next_version,
      .previous = std::move((*found)->previous),
  });
}

base::Result<int> Inventory::Impl::PruneVersions(int64_t entry_id) {
  const int64_t keep = std::max(1, options_.max_versions);
  int64_t count = 0;
  {
    auto st = db_.Prepare("SELECT COUNT(*) FROM versions WHERE entry_id = ?1");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, entry_id);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    count = *row ? st->Int(0) : 0;
  }
  if (count <= keep) return 0;

  struct Old {
    int64_t id;
    std::optional<int64_t> key_id;
    std::string fingerprint;
    bool is_ca;
  };
  std::vector<Old> old;
  {
    // A version a binding's consumer still serves (bindings.pushed_version) stays: "which load
    // balancers still serve the old certificate?" keeps its answer, fingerprint and expiry.
    auto st = db_.Prepare(
        "SELECT v.id, v.key_id, v.fingerprint_sha256, e.kind = 'ca' FROM versions v"
        " JOIN entries e ON e.id = v.entry_id"
        " WHERE v.entry_id = ?1 AND v.id != e.current_version_id AND NOT EXISTS"
        " (SELECT 1 FROM bindings b WHERE b.entry_id = v.entry_id"
        "  AND b.pushed_version = v.version) ORDER BY v.version");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, entry_id);
    while (true) {
      auto row = st->Step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      std::optional<int64_t> key_id;
      if (!st->IsNull(1)) key_id = st->Int(1);
      old.push_back({st->Int(0), key_id, st->Text(2), st->Int(3) != 0});
    }
  }
  int pruned = 0;
  for (const Old& version : old) {
    if (count - pruned <= keep) break;
    if (version.is_ca) {
      // A stored chain naming this CA certificate would point at nothing: it stays.
      auto st =
          db_.Prepare("SELECT 1 FROM versions w, json_each(w.chain) c WHERE c.value = ?1 LIMIT 1");
      if (!st) return std::unexpected(st.error());
      st->Bind(1, version.fingerprint);
      auto used = st->Step();
      if (!used) return std::unexpected(used.error());
      if (*used) continue;
    }
    // Its expiry notices go with it (ON DELETE CASCADE).
    auto del = db_.Prepare("DELETE FROM versions WHERE id = ?1");
    if (!del) return std::unexpected(del.error());
    del->Bind(1, version.id);
    if (auto done = del->Run(); !done) return std::unexpected(done.error());
    if (version.key_id) {
      // A key no version uses would otherwise be listed as waiting for its certificate. The key
      // of a CSR made here stays with its csrs row (it is not listed as waiting).
      if (auto done = DeleteKeyIfUnused(db_, *version.key_id); !done) {
        return std::unexpected(done.error());
      }
    }
    ++pruned;
  }
  return pruned;
}

base::Result<Event> Inventory::Impl::EntryRenewed(int64_t entry_id, nlohmann::json previous,
                                                  bool rollback, base::UnixTime now) {
  auto touch = db_.Prepare("UPDATE entries SET updated_at = ?1 WHERE id = ?2");
  if (!touch) return std::unexpected(touch.error());
  touch->Bind(1, now).Bind(2, entry_id);
  if (auto done = touch->Run(); !done) return std::unexpected(done.error());
  auto summary = SummaryOfEntry(entry_id, now);
  if (!summary) return std::unexpected(summary.error());
  return outbox::Append(db_, base::topic::kCertRenewed, now,
                        {{base::field::kCertificate, std::move(*summary)},
                         {base::field::kPrevious, std::move(previous)},
                         {base::field::kRollback, rollback}});
}

base::Result<Event> Inventory::Impl::RollbackTo(const std::string& entry, int64_t to,
                                                base::UnixTime now) {
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());
  auto entry_id = ResolveEntry(entry);
  if (!entry_id) return std::unexpected(entry_id.error());

  auto st = db_.Prepare(
      "SELECT e.name, e.grp, t.id, t.not_after, c.id, c.version, c.fingerprint_sha256,"
      " c.not_after FROM entries e JOIN versions c ON c.id = e.current_version_id"
      " LEFT JOIN versions t ON t.entry_id = e.id AND t.version = ?2 WHERE e.id = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, *entry_id).Bind(2, to);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) {
    // The entry exists (ResolveEntry found it): only a CSR waiting for its certificate has no
    // current version.
    return base::Fail(base::code::kNotActivated, "\"" + entry +
                                                     "\" is a CSR whose signed certificate has not "
                                                     "arrived: it has no version to roll back to");
  }
  const std::string name = st->Text(0);
  if (st->IsNull(2)) {
    return base::Fail(base::code::kNotFound, "\"" + name + "\" has no version " +
                                                 std::to_string(to) + ": `certinbox show " + name +
                                                 " --versions` lists its versions");
  }
  const int64_t target_id = st->Int(2);
  const base::UnixTime target_not_after = st->Int(3);
  if (target_id == st->Int(4)) {
    return base::Fail(base::code::kAlreadyCurrent, "version " + std::to_string(to) +
                                                       " is already the "
                                                       "current version of \"" +
                                                       name + "\"");
  }
  if (target_not_after <= now) {
    return base::Fail(base::code::kVersionExpired,
                      "version " + std::to_string(to) + " of \"" + name + "\" expired at " +
                          base::FormatRfc3339(target_not_after) +
                          ": an expired certificate is not made current again");
  }
  nlohmann::json previous = Previous(st->Int(5), st->Text(6), st->Int(7));

  auto update = db_.Prepare("UPDATE entries SET current_version_id = ?1 WHERE id = ?2");
  if (!update) return std::unexpected(update.error());
  update->Bind(1, target_id).Bind(2, *entry_id);
  if (auto done = update->Run(); !done) return std::unexpected(done.error());
  if (auto ok = LowerExpiryFloor(target_not_after); !ok) return std::unexpected(ok.error());
  auto event = EntryRenewed(*entry_id, std::move(previous), /*rollback=*/true, now);
  if (!event) return std::unexpected(event.error());
  if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
  return std::move(*event);
}

}  // namespace certinbox::storage
