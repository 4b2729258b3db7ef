#include "daemon/ops/entries.h"

#include <set>

#include "base/hex.h"
#include "base/wire.h"
#include "plugins/sdk/limits.h"
#include "storage/summary.h"

namespace certinbox::daemon::ops {
namespace {

using nlohmann::json;

constexpr size_t kMaxEntriesPerRm = 1000;
// `ls --text`: a search box's words, not a document.
constexpr size_t kMaxLsTextBytes = 256;

// An `ls` cursor is the hex of a compact JSON array holding the sort and the key of the last
// row a page listed: ["name", name, group, id] or ["expiry", expiry_order, name, id]. Clients
// hand it back as is. Names are at most 255 bytes, so a real cursor is far below this.
constexpr size_t kMaxLsCursorChars = 4096;

std::string LsCursor(const std::string& sort, const storage::ListKey& key) {
  json array = sort == "name" ? json::array({sort, key.name, key.group, key.id})
                              : json::array({sort, key.expiry_order, key.name, key.id});
  return base::HexLower(storage::DumpJson(array));
}

std::optional<std::string> Unhex(std::string_view hex) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int high = digit(hex[i]), low = digit(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
  }
  return out;
}

// The key a cursor holds, when it is one that `ls` with this sort handed out.
base::Result<storage::ListKey> ParseLsCursor(const std::string& cursor, const std::string& sort) {
  auto bad = [] {
    return BadRequest("'after' is not a cursor of ls: pass the 'next' of the page before as is");
  };
  if (cursor.size() > kMaxLsCursorChars) return bad();
  auto text = Unhex(cursor);
  if (!text) return bad();
  json array = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!array.is_array() || array.size() != 4 || !array[0].is_string() ||
      !array[3].is_number_integer()) {
    return bad();
  }
  if (array[0] != sort) {
    return BadRequest("'after' is a cursor of ls sorted by " +
                      base::Shorten(storage::DumpJson(array[0])) + ", not by " + sort +
                      ": ask with the same sort and filters as its first page");
  }
  storage::ListKey key;
  key.id = array[3].get<int64_t>();
  if (sort == "name" && array[1].is_string() && array[2].is_string()) {
    key.name = array[1].get<std::string>();
    key.group = array[2].get<std::string>();
  } else if (sort == "expiry" && array[1].is_number_integer() && array[2].is_string()) {
    key.expiry_order = array[1].get<int64_t>();
    key.name = array[2].get<std::string>();
  } else {
    return bad();
  }
  return key;
}

}  // namespace

void EntryOps::Register(OpRegistry& registry) {
  registry.Add("ls", [this](const Request& request) { return Ls(request); });
  registry.Add("show", [this](const Request& request) { return Show(request); });
  registry.Add("rm", [this](const Request& request) { return Rm(request); });
}

base::Result<json> EntryOps::Ls(const Request& request) {
  return ListEntries(inventory_, request, clock_.Now());
}

base::Result<json> ListEntries(storage::Inventory& inventory, const Request& request,
                               base::UnixTime now) {
  auto status = request.String("status");
  auto group = request.String("group");
  auto label = request.String("label");
  auto expiring_within = request.Int("expiring_within", 0, kMaxSeconds);
  auto sort = request.String("sort");
  auto text = request.String("text");
  auto after = request.String(base::reply::kAfter);
  auto limit = request.Int(base::reply::kLimit, 1, sdk::kMaxLsRowsPerReply);
  if (auto bad =
          base::FirstError(status, group, label, expiring_within, sort, text, after, limit)) {
    return std::unexpected(*bad);
  }
  storage::ListFilter filter{.status = *status,
                             .group = *group,
                             .label = *label,
                             .expiring_within_seconds = *expiring_within,
                             .text = *text};
  if (filter.text && (filter.text->empty() || filter.text->size() > kMaxLsTextBytes)) {
    return BadRequest("'text' is 1 to " + std::to_string(kMaxLsTextBytes) + " bytes");
  }
  if (*sort) {
    if (**sort != "name" && **sort != "expiry") return BadRequest("'sort' is name or expiry");
    filter.sort = **sort;
  }
  static const std::set<std::string> kStatuses = {"valid", "expiring_soon", "expired",
                                                  "pre_activation"};
  if (filter.status && !kStatuses.contains(*filter.status)) {
    return BadRequest("'status' is one of valid, expiring_soon, expired, pre_activation");
  }
  std::optional<storage::ListKey> from;
  if (*after) {
    auto key = ParseLsCursor(**after, filter.sort);
    if (!key) return std::unexpected(key.error());
    from = std::move(*key);
  }
  auto page = inventory.ListPageOf(filter, from, limit->value_or(sdk::kDefaultLsRowsPerReply),
                                   sdk::kMaxLsReplyBytes, now);
  if (!page) return std::unexpected(page.error());
  json reply = {
      {base::reply::kEntries, std::move(page->rows)},
      {base::reply::kNext, page->next ? json(LsCursor(filter.sort, *page->next)) : json(nullptr)}};
  // The keys waiting for their certificate are few and not in any order of entries: the first
  // page carries them all.
  if (!*after) {
    auto keys = inventory.UnmatchedKeys();
    if (!keys) return std::unexpected(keys.error());
    reply[base::reply::kUnmatchedKeys] = std::move(*keys);
  }
  return reply;
}

base::Result<json> EntryOps::Show(const Request& request) {
  return ShowEntry(inventory_, request, clock_.Now());
}

base::Result<json> ShowEntry(storage::Inventory& inventory, const Request& request,
                             base::UnixTime now) {
  auto entry = request.String("entry");
  if (!entry) return std::unexpected(entry.error());
  if (!*entry) return BadRequest("'entry' (name or id) is required");
  auto shown = inventory.Show(**entry, now);
  if (!shown) return std::unexpected(shown.error());
  // The key export audit log of this entry (daemon/ops/export.cc).
  if (auto exports = inventory.KeyExports(shown->value("id", int64_t{0}))) {
    (*shown)["key_exports"] = std::move(*exports);
  }
  return json{{"entry", std::move(*shown)}};
}

base::Result<json> EntryOps::Rm(const Request& request) {
  auto entries = request.Strings("entries");
  if (!entries) return std::unexpected(entries.error());
  if (!*entries || (*entries)->empty()) return BadRequest("'entries' (names or ids) is required");
  if ((*entries)->size() > kMaxEntriesPerRm) {
    return BadRequest("at most " + std::to_string(kMaxEntriesPerRm) + " entries per rm");
  }
  auto deleted = inventory_.Delete(**entries, clock_.Now());
  if (!deleted) return std::unexpected(deleted.error());
  publisher_.PublishAll(deleted->events);
  // New drops must not chain to a CA that is gone.
  if (deleted->deleted_ca) imports_.RefreshTrust();
  return json{{"results", std::move(deleted->results)},
              {"deleted", deleted->deleted},
              {"not_deleted", deleted->not_deleted}};
}

}  // namespace certinbox::daemon::ops
