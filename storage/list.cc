// Inventory reads of many entries: List (whole certificate summaries) and ListPageOf (the pages
// of `ls`). Both filter and order the same way, on the indexes of migration 007.
#include <algorithm>
#include <limits>
#include <variant>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "base/wire.h"
#include "storage/inventory_impl.h"
#include "storage/summary.h"

namespace certinbox::storage {

namespace {

using ListBind = std::variant<int64_t, std::string>;

// A query of entries: the WHERE terms of a filter and their values, and the ORDER BY of a sort.
struct ListQuery {
  std::vector<std::string> where;
  std::vector<ListBind> values;
  std::string order_by;

  std::string Param(ListBind value) {
    values.push_back(std::move(value));
    return "?" + std::to_string(values.size());
  }
  std::string Sql(std::string select) const {
    for (size_t i = 0; i < where.size(); ++i) select += (i == 0 ? " WHERE " : " AND ") + where[i];
    return select + " ORDER BY " + order_by;
  }
  void BindAll(sqlite::Statement& st) const {
    for (size_t i = 0; i < values.size(); ++i) {
      std::visit([&](const auto& v) { st.Bind(static_cast<int>(i + 1), v); }, values[i]);
    }
  }
};

// The expiring-soon and valid filters: the time left compared with the entry's rule
// (ExpiringSoonSecondsSql). Expiring soon is also a range on the expiry order's index, up to
// the longest time left any rule's threshold can reach (unbounded only for a share alone).
std::string ExpiringSoonWhere(ListQuery& q, base::UnixTime now, const ExpiryPolicy& expiry,
                              bool soon) {
  auto param = [&](std::string text) { return q.Param(std::move(text)); };
  const std::string now_param = q.Param(now);
  std::string where = "e.current_version_id IS NOT NULL AND e.expiry_order > " + now_param;
  if (auto longest = expiry.LongestExpiringSoon(); soon && longest) {
    where += " AND e.expiry_order < " + q.Param(now + *longest);
  }
  return where + " AND e.expiry_order - " + now_param + (soon ? " < " : " >= ") +
         ExpiringSoonSecondsSql(expiry, param);
}

// Status and expiry filters are ranges on entries.expiry_order (the current version's
// not_after; INT64_MAX for a CSR entry), so the expiry order's index serves them too.
base::Result<ListQuery> QueryOf(const ListFilter& filter, base::UnixTime now,
                                const ExpiryPolicy& expiry) {
  ListQuery q;
  if (filter.status) {
    const std::string& s = *filter.status;
    if (s == "expired") {
      q.where.push_back("e.expiry_order <= " + q.Param(now));
    } else if (s == "expiring_soon" || s == "valid") {
      q.where.push_back(ExpiringSoonWhere(q, now, expiry, s == "expiring_soon"));
    } else if (s == "pre_activation") {
      q.where.push_back("e.current_version_id IS NULL");  // CSR entries without a certificate
    } else {
      return base::Fail(base::code::kBadFilter, "unknown status \"" + s +
                                                    "\": use valid, expiring_soon, expired or "
                                                    "pre_activation");
    }
  }
  if (filter.group) q.where.push_back("e.grp = " + q.Param(*filter.group));
  if (filter.label) {
    q.where.push_back("EXISTS (SELECT 1 FROM json_each(e.labels) l WHERE l.value = " +
                      q.Param(*filter.label) + ")");
  }
  if (filter.text) {
    std::string p = q.Param(*filter.text);
    q.where.push_back("(instr(lower(e.name), lower(" + p + ")) > 0 OR instr(lower(e.grp), lower(" +
                      p + ")) > 0 OR instr(lower(v.subject_cn), lower(" + p +
                      ")) > 0 OR instr(lower(v.sans), lower(" + p + ")) > 0)");
  }
  if (filter.expiring_within_seconds) {
    // A CSR entry's INT64_MAX is past any now + 100 years.
    q.where.push_back("e.expiry_order <= " + q.Param(now + *filter.expiring_within_seconds));
  }
  if (filter.sort == "name") {
    q.order_by = "e.name, e.grp, e.id";
  } else if (filter.sort == "expiry") {
    q.order_by = "e.expiry_order, e.name, e.id";  // CSRs last
  } else {
    return base::Fail(base::code::kBadFilter,
                      "unknown sort \"" + filter.sort + "\": use name or expiry");
  }
  return q;
}

// An `ls` row: what a list shows of an entry, not every field of its version (`show` has
// those). Column 13 is e.expiry_order, for the page's cursor; 14 v.not_before, for the status.
constexpr const char* kListRowSelect =
    "SELECT e.id, e.name, e.grp, e.kind, e.labels, v.version, v.fingerprint_sha256, v.not_after,"
    " COALESCE(v.key_id, c.key_id) IS NOT NULL, COALESCE(v.findings, '[]'),"
    " COALESCE(v.key_algorithm, c.key_algorithm), COALESCE(v.key_bits, c.key_bits),"
    " (SELECT COUNT(*) FROM bindings b WHERE b.entry_id = e.id), e.expiry_order, v.not_before"
    " FROM entries e LEFT JOIN versions v ON v.id = e.current_version_id"
    " LEFT JOIN csrs c ON c.entry_id = e.id AND e.current_version_id IS NULL";

nlohmann::json ListRowJson(const sqlite::Statement& st, base::UnixTime now,
                           const ExpiryPolicy& expiry) {
  namespace field = base::field;
  const auto array = nlohmann::json::array();
  nlohmann::json labels = ParseJsonOr(st.Text(4), array);
  if (labels.is_array()) std::sort(labels.begin(), labels.end());  // as the summary's
  nlohmann::json row = nlohmann::json::object();
  row[field::kId] = st.Int(0);
  row[field::kName] = st.Text(1);
  row[field::kGroup] = st.Text(2);
  row[field::kKind] = st.Text(3);
  row[field::kLabels] = std::move(labels);
  if (st.IsNull(5)) {  // a CSR waiting for its certificate
    row[field::kStatus] = "pre_activation";
    row[field::kExpiringReason] = nullptr;
    row[field::kVersion] = 0;
    row[field::kFingerprintSha256] = nullptr;
    row[field::kNotAfter] = nullptr;
    row[field::kDaysLeft] = nullptr;
  } else {
    const base::UnixTime not_after = st.Int(7);
    ExpiryStatus status = StatusOf(expiry, st.Text(2), st.Text(1), st.Int(14), not_after, now);
    row[field::kStatus] = status.status;
    row[field::kExpiringReason] =
        status.reason ? nlohmann::json(std::move(*status.reason)) : nlohmann::json();
    row[field::kVersion] = st.Int(5);
    row[field::kFingerprintSha256] = st.Text(6);
    row[field::kNotAfter] = base::FormatRfc3339(not_after);
    row[field::kDaysLeft] = DaysLeft(not_after, now);
  }
  row[field::kHasPrivateKey] = st.Int(8) != 0;
  row[field::kFindings] = ParseJsonOr(st.Text(9), array);
  row[field::kKeyAlgorithm] = st.Text(10);
  row[field::kKeyBits] = st.Int(11);
  row[base::reply::kBindingCount] = st.Int(12);
  return row;
}

}  // namespace

base::Result<nlohmann::json> Inventory::Impl::List(const ListFilter& filter, base::UnixTime now) {
  auto query = QueryOf(filter, now, options_.expiry);
  if (!query) return std::unexpected(query.error());
  // One text per combination of filters: the statement cache stays small.
  auto st = db_.Prepare(query->Sql(kSummarySelect));
  if (!st) return std::unexpected(st.error());
  query->BindAll(*st);
  nlohmann::json out = nlohmann::json::array();
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(SummaryFromRow(*st, now, options_.expiry));
  }
}

base::Result<ListPage> Inventory::Impl::ListPageOf(const ListFilter& filter,
                                                   const std::optional<ListKey>& after,
                                                   int64_t limit, size_t max_bytes,
                                                   base::UnixTime now) {
  auto query = QueryOf(filter, now, options_.expiry);
  if (!query) return std::unexpected(query.error());
  if (after) {
    // A row value compared with the order's columns: SQLite seeks the index to it.
    if (filter.sort == "name") {
      query->where.push_back("(e.name, e.grp, e.id) > (" + query->Param(after->name) + ", " +
                             query->Param(after->group) + ", " + query->Param(after->id) + ")");
    } else {
      query->where.push_back("(e.expiry_order, e.name, e.id) > (" +
                             query->Param(after->expiry_order) + ", " + query->Param(after->name) +
                             ", " + query->Param(after->id) + ")");
    }
  }
  // One more row than the page holds says whether another page follows.
  const int64_t fetch = std::clamp<int64_t>(limit, 1, std::numeric_limits<int32_t>::max() - 1) + 1;
  auto st = db_.Prepare(query->Sql(kListRowSelect) + " LIMIT " + query->Param(fetch));
  if (!st) return std::unexpected(st.error());
  query->BindAll(*st);
  ListPage page;
  size_t bytes = 0;
  ListKey last;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return page;
    if (static_cast<int64_t>(page.rows.size()) == fetch - 1) {
      page.next = std::move(last);
      return page;
    }
    // The row's size in JSON, estimated rather than serialized (serializing took a quarter of
    // the daemon's time for a page): its stored texts, and what the keys, numbers, dates and
    // fixed words take at most.
    constexpr size_t kFixedRowBytes = 384;
    const size_t size = kFixedRowBytes + st->Text(1).size() + st->Text(2).size() +
                        st->Text(4).size() + st->Text(9).size() + st->Text(10).size();
    if (!page.rows.empty() && bytes + size > max_bytes) {
      page.next = std::move(last);
      return page;
    }
    bytes += size;
    page.rows.push_back(ListRowJson(*st, now, options_.expiry));
    last = ListKey{
        .expiry_order = st->Int(13), .name = st->Text(1), .group = st->Text(2), .id = st->Int(0)};
  }
}

}  // namespace certinbox::storage
