// Inventory reads: Show, Count, the CA and incomplete-chain lists, keys.
#include <algorithm>
#include <charconv>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/text.h"
#include "base/time.h"
#include "storage/inventory_impl.h"
#include "storage/outbox.h"
#include "storage/summary.h"

namespace certinbox::storage {

namespace {

std::optional<int64_t> ParseId(const std::string& text) {
  int64_t id = 0;
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return id;
}

}  // namespace

base::Result<std::vector<std::pair<int64_t, std::string>>> Inventory::Impl::IncompleteChains(
    int64_t after_id, int64_t limit) {
  // Intermediates too: a CA stored before its root is as incomplete as a leaf.
  auto st = db_.Prepare(
      "SELECT v.id, v.der FROM versions v WHERE v.id > ?1 AND EXISTS"
      " (SELECT 1 FROM json_each(v.findings) f WHERE f.value = 'chain_incomplete')"
      " ORDER BY v.id LIMIT ?2");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, after_id).Bind(2, limit);
  std::vector<std::pair<int64_t, std::string>> out;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.emplace_back(st->Int(0), st->Blob(1));
  }
}

base::Result<std::vector<std::string>> Inventory::Impl::CaCertificates() {
  auto st = db_.Prepare(
      "SELECT v.der FROM versions v JOIN entries e ON e.id = v.entry_id WHERE e.kind = 'ca'"
      " ORDER BY v.id");
  if (!st) return std::unexpected(st.error());
  std::vector<std::string> out;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(st->Blob(0));
  }
}

base::Result<int64_t> Inventory::Impl::ResolveEntry(const std::string& name_or_id, bool allow_id) {
  if (auto id = allow_id ? ParseId(name_or_id) : std::nullopt) {
    auto st = db_.Prepare("SELECT id FROM entries WHERE id = ?1");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, *id);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (*row) return *id;
  }
  // "group/name" first; a name may itself contain '/', so the whole text is also a name.
  if (size_t slash = name_or_id.find('/'); slash != std::string::npos) {
    auto st = db_.Prepare("SELECT id FROM entries WHERE grp = ?1 AND name = ?2");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, name_or_id.substr(0, slash)).Bind(2, name_or_id.substr(slash + 1));
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (*row) return st->Int(0);
  }
  auto st = db_.Prepare("SELECT id, grp FROM entries WHERE name = ?1 ORDER BY grp");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, name_or_id);
  std::vector<std::pair<int64_t, std::string>> found;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    found.emplace_back(st->Int(0), st->Text(1));
  }
  if (found.empty()) {
    return base::Fail(base::code::kNotFound, "no certificate is named or numbered \"" +
                                                 base::Shorten(name_or_id) +
                                                 "\": `certinbox ls` lists them");
  }
  if (found.size() > 1) {
    std::string groups;
    for (const auto& [id, grp] : found) groups += (groups.empty() ? "" : ", ") + grp;
    return base::Fail(base::code::kAmbiguous, "\"" + name_or_id + "\" is a name in the groups " +
                                                  groups + ": say GROUP/" + name_or_id +
                                                  " or use the id");
  }
  return found.front().first;
}

base::Result<nlohmann::json> Inventory::Impl::Show(const std::string& name_or_id,
                                                   base::UnixTime now) {
  auto entry_id = ResolveEntry(name_or_id);
  if (!entry_id) return std::unexpected(entry_id.error());
  auto summary = SummaryOfEntry(*entry_id, now);
  if (!summary) return std::unexpected(summary.error());
  nlohmann::json out = std::move(*summary);
  {
    auto st = db_.Prepare(
        "SELECT description, metadata, created_at, updated_at FROM entries WHERE id = ?1");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, *entry_id);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (*row) {
      out["description"] = st->Text(0);
      out["metadata"] = ParseJsonOr(st->Text(1), nlohmann::json::object());
      out["created_at"] = base::FormatRfc3339(st->Int(2));
      out["updated_at"] = base::FormatRfc3339(st->Int(3));
    }
  }
  {
    // The current certificate as PEM, for `certinbox show --pem` (public: no key material).
    auto st = db_.Prepare(
        "SELECT v.der FROM entries e JOIN versions v ON v.id = e.current_version_id"
        " WHERE e.id = ?1");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, *entry_id);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (*row) out["pem"] = CertificatePem(st->Blob(0));
  }
  auto st = db_.Prepare(
      "SELECT v.version, v.fingerprint_sha256, v.not_after, v.imported_at, v.source_inbox,"
      " v.source_file, v.not_before, v.id = e.current_version_id, v.metadata, e.grp, e.name"
      " FROM versions v JOIN entries e ON e.id = v.entry_id WHERE v.entry_id = ?1"
      " ORDER BY v.version");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, *entry_id);
  nlohmann::json versions = nlohmann::json::array();
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    versions.push_back(
        {{"version", st->Int(0)},
         {"current", st->Int(7) != 0},
         {"status",
          StatusOf(options_.expiry, st->Text(9), st->Text(10), st->Int(6), st->Int(2), now).status},
         {"fingerprint_sha256", st->Text(1)},
         {"not_before", base::FormatRfc3339(st->Int(6))},
         {"not_after", base::FormatRfc3339(st->Int(2))},
         {"imported_at", base::FormatRfc3339(st->Int(3))},
         {"source", {{"inbox", st->Text(4)}, {"file", st->Text(5)}}},
         {"metadata", ParseJsonOr(st->Text(8), nlohmann::json::object())}});
  }
  out["versions"] = std::move(versions);
  // The summary's {resource, plugin} objects, with where each came from and its push record.
  auto bindings = BindingDetails(*entry_id);
  if (!bindings) return std::unexpected(bindings.error());
  out["bindings"] = std::move(*bindings);
  return out;
}

base::Result<nlohmann::json> Inventory::Impl::UnmatchedKeys() {
  auto st = db_.Prepare(
      "SELECT spki_sha256, algorithm, bits, created_at, source_inbox, source_file FROM keys k"
      " WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.key_id = k.id)"
      " AND NOT EXISTS (SELECT 1 FROM csrs c WHERE c.key_id = k.id) ORDER BY k.id");
  if (!st) return std::unexpected(st.error());
  nlohmann::json out = nlohmann::json::array();
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back({{"spki_sha256", st->Text(0)},
                   {"algorithm", st->Text(1)},
                   {"bits", st->Int(2)},
                   {"created_at", base::FormatRfc3339(st->Int(3))},
                   {"source", {{"inbox", st->Text(4)}, {"file", st->Text(5)}}}});
  }
}

base::Result<Counts> Inventory::Impl::Count(base::UnixTime now) {
  Counts counts;
  auto one_row = [&](const char* sql, auto&& bind, auto&& read) -> base::Result<void> {
    auto st = db_.Prepare(sql);
    if (!st) return std::unexpected(st.error());
    bind(*st);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (*row) read(*st);
    return {};
  };
  auto no_bind = [](sqlite::Statement&) {};
  if (auto ok =
          one_row("SELECT COUNT(*), COALESCE(SUM(kind = 'leaf'), 0), COALESCE(SUM(kind = 'ca'), 0)"
                  " FROM entries",
                  no_bind,
                  [&](sqlite::Statement& st) {
                    counts.entries = st.Int(0);
                    counts.leaf = st.Int(1);
                    counts.ca = st.Int(2);
                  });
      !ok) {
    return std::unexpected(ok.error());
  }
  // ?1 is now; the rules' group and entry names follow.
  std::vector<std::string> names;
  const std::string soon = ExpiringSoonSecondsSql(options_.expiry, [&](std::string text) {
    names.push_back(std::move(text));
    return "?" + std::to_string(names.size() + 1);
  });
  const std::string status_sql =
      "SELECT COALESCE(SUM(v.not_after > ?1 AND v.not_after - ?1 >= " + soon + "), 0)," +
      " COALESCE(SUM(v.not_after > ?1 AND v.not_after - ?1 < " + soon + "), 0)," +
      " COALESCE(SUM(v.not_after <= ?1), 0)"
      " FROM entries e JOIN versions v ON v.id = e.current_version_id";
  if (auto ok = one_row(
          status_sql.c_str(),
          [&](sqlite::Statement& st) {
            st.Bind(1, now);
            for (size_t i = 0; i < names.size(); ++i) st.Bind(static_cast<int>(i + 2), names[i]);
          },
          [&](sqlite::Statement& st) {
            counts.valid = st.Int(0);
            counts.expiring_soon = st.Int(1);
            counts.expired = st.Int(2);
          });
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = one_row("SELECT COUNT(*) FROM keys k WHERE NOT EXISTS"
                        " (SELECT 1 FROM versions v WHERE v.key_id = k.id) AND NOT EXISTS"
                        " (SELECT 1 FROM csrs c WHERE c.key_id = k.id)",
                        no_bind, [&](sqlite::Statement& st) { counts.unmatched_keys = st.Int(0); });
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = one_row("SELECT COUNT(*) FROM entries WHERE current_version_id IS NULL", no_bind,
                        [&](sqlite::Statement& st) { counts.pre_activation = st.Int(0); });
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = one_row(
          "SELECT COALESCE(SUM(outcome != 'rejected'), 0), COALESCE(SUM(outcome = 'rejected'), 0)"
          " FROM import_log",
          no_bind,
          [&](sqlite::Statement& st) {
            counts.imports = st.Int(0);
            counts.rejections = st.Int(1);
          });
      !ok) {
    return std::unexpected(ok.error());
  }
  auto last = outbox::LastSeq(db_);
  if (!last) return std::unexpected(last.error());
  counts.last_seq = *last;
  return counts;
}

base::Result<pipeline::SecretBytes> Inventory::Impl::PrivateKeyFor(const std::string& spki_sha256) {
  std::string sealed;
  {
    auto st = db_.Prepare("SELECT sealed FROM keys WHERE spki_sha256 = ?1");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, spki_sha256);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row)
      return base::Fail(base::code::kNotFound, "no private key is stored for " + spki_sha256);
    sealed = st->Blob(0);
  }
  return vault_.Open(sealed, spki_sha256);
}

}  // namespace certinbox::storage
