#include "daemon/ops/entries.h"

#include <set>

namespace certinbox::daemon::ops {
namespace {

using nlohmann::json;

constexpr size_t kMaxEntriesPerRm = 1000;

}  // namespace

void EntryOps::Register(OpRegistry& registry) {
  registry.Add("ls", [this](const Request& request) { return Ls(request); });
  registry.Add("show", [this](const Request& request) { return Show(request); });
  registry.Add("rm", [this](const Request& request) { return Rm(request); });
}

base::Result<json> EntryOps::Ls(const Request& request) {
  auto status = request.String("status");
  auto group = request.String("group");
  auto label = request.String("label");
  auto expiring_within = request.Int("expiring_within", 0, kMaxSeconds);
  auto sort = request.String("sort");
  if (auto bad = base::FirstError(status, group, label, expiring_within, sort)) {
    return std::unexpected(*bad);
  }
  storage::ListFilter filter{.status = *status,
                             .group = *group,
                             .label = *label,
                             .expiring_within_seconds = *expiring_within};
  if (*sort) {
    if (**sort != "name" && **sort != "expiry") return BadRequest("'sort' is name or expiry");
    filter.sort = **sort;
  }
  static const std::set<std::string> kStatuses = {"valid", "expiring_soon", "expired",
                                                  "pre_activation"};
  if (filter.status && !kStatuses.contains(*filter.status)) {
    return BadRequest("'status' is one of valid, expiring_soon, expired, pre_activation");
  }
  auto entries = inventory_.List(filter, clock_.Now());
  if (!entries) return std::unexpected(entries.error());
  auto keys = inventory_.UnmatchedKeys();
  if (!keys) return std::unexpected(keys.error());
  return json{{"entries", std::move(*entries)}, {"unmatched_keys", std::move(*keys)}};
}

base::Result<json> EntryOps::Show(const Request& request) {
  auto entry = request.String("entry");
  if (!entry) return std::unexpected(entry.error());
  if (!*entry) return BadRequest("'entry' (name or id) is required");
  auto shown = inventory_.Show(**entry, clock_.Now());
  if (!shown) return std::unexpected(shown.error());
  // The key export audit log of this entry (daemon/ops/export.cc).
  if (auto exports = inventory_.KeyExports(shown->value("id", int64_t{0}))) {
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
