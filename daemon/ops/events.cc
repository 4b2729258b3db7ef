#include "daemon/ops/events.h"

#include <algorithm>

#include "base/error_codes.h"
#include "base/wire.h"
#include "plugins/sdk/limits.h"

namespace certinbox::daemon::ops {
namespace {

using nlohmann::json;

// Cursor names are chosen by subscribers ("deploy", "audit-export", "host1:webhook").
base::Result<std::string> CursorName(const Request& request) {
  auto name = request.RequiredString("cursor");
  if (!name) return name;
  bool good = name->size() <= 128 && std::all_of(name->begin(), name->end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                       c == '-' || c == ':' || c == '@';
              });
  if (!good)
    return BadRequest("'cursor' is at most 128 letters, digits and . _ - : @ (e.g. \"deploy\")");
  return name;
}

}  // namespace

json CursorsJson(storage::Inventory& inventory, int64_t last_seq) {
  json list = json::array();
  auto cursors = inventory.Cursors();
  if (!cursors) return list;
  for (const auto& cursor : *cursors) {
    list.push_back({{"name", cursor.name},
                    {"seq", cursor.seq},
                    {"behind", std::max<int64_t>(0, last_seq - cursor.seq)},
                    {"created_at", base::FormatRfc3339(cursor.created_at)},
                    {"updated_at", base::FormatRfc3339(cursor.updated_at)}});
  }
  return list;
}

void EventOps::Register(OpRegistry& registry) {
  registry.Add("events", [this](const Request& request) { return Events(request); });
  registry.Add("ack", [this](const Request& request) { return Ack(request); });
  registry.Add("cursors", [this](const Request&) -> base::Result<json> {
    return json{{"cursors", CursorsJson(inventory_, publisher_.last_published_seq())}};
  });
  registry.Add("cursor.delete", [this](const Request& request) { return DeleteCursor(request); });
}

base::Result<json> EventOps::Ack(const Request& request) {
  auto name = CursorName(request);
  auto seq = request.RequiredInt("seq", 0, kMaxSeq, "the last event handled");
  if (auto bad = base::FirstError(name, seq)) return std::unexpected(*bad);
  auto acked = inventory_.AckCursor(*name, *seq, clock_.Now());
  if (!acked) return std::unexpected(acked.error());
  return json{{"cursor", *name}, {"seq", *acked}};
}

base::Result<json> EventOps::DeleteCursor(const Request& request) {
  auto name = CursorName(request);
  if (!name) return std::unexpected(name.error());
  auto deleted = inventory_.DeleteCursor(*name);
  if (!deleted) return std::unexpected(deleted.error());
  if (!*deleted) return base::Fail(base::code::kNotFound, "no cursor named '" + *name + "'");
  return json{{"deleted", *name}};
}

base::Result<json> EventOps::Events(const Request& request) {
  return EventsPage(inventory_, request, publisher_.last_published_seq());
}

base::Result<json> EventsPage(storage::Inventory& inventory, const Request& request,
                              int64_t published_seq) {
  auto since_arg = request.Int("since", 0, kMaxSeq);
  auto cursor_arg = request.String("cursor");
  if (auto bad = base::FirstError(since_arg, cursor_arg)) return std::unexpected(*bad);
  if (*since_arg && *cursor_arg) return BadRequest("give 'since' or 'cursor', not both");
  int64_t since = since_arg->value_or(0);
  if (*cursor_arg) {
    auto name = CursorName(request);
    if (!name) return std::unexpected(name.error());
    auto seq = inventory.CursorSeq(*name);
    if (!seq) return std::unexpected(seq.error());
    since = seq->value_or(0);
  }
  auto limit_arg = request.Int(base::reply::kLimit, 1, sdk::kMaxEventsPerReply);
  auto type_arg = request.String("type");
  if (auto bad = base::FirstError(limit_arg, type_arg)) return std::unexpected(*bad);
  const int64_t limit = limit_arg->value_or(1000);
  const std::string type = type_arg->value_or("");
  auto first = inventory.FirstSeq();
  if (!first) return std::unexpected(first.error());
  auto events = inventory.EventsSince(since, static_cast<int>(limit));
  if (!events) return std::unexpected(events.error());
  json list = json::array();
  int64_t scanned_to = since;
  int64_t last_scanned = 0;  // the highest seq read from the outbox, not the client's `since`
  bool more = static_cast<int64_t>(events->size()) == limit;
  size_t bytes = 0;
  for (const auto& event : *events) {
    // The byte budget cuts the page before an event that would pass it (the first always goes,
    // so paging moves on); `more` and `scanned_to` tell the client to ask again from there.
    const bool wanted = event.type.starts_with(type);
    if (wanted && !list.empty() && bytes + event.json.size() > sdk::kMaxEventsReplyBytes) {
      more = true;
      break;
    }
    scanned_to = last_scanned = event.seq;
    if (!wanted) continue;
    bytes += event.json.size();
    list.push_back(json::parse(event.json, nullptr, false));
  }
  json reply = {{base::reply::kEvents, std::move(list)},
                {base::reply::kSince, since},
                {base::reply::kScannedTo, scanned_to},
                {base::reply::kMore, more},
                {base::reply::kFirstSeq, *first},
                {base::reply::kLastSeq, std::max(last_scanned, published_seq)}};
  // Events since+1 .. first_seq-1 were pruned by the retention before this client asked.
  if (since < *first - 1) {
    reply[base::reply::kPruned] = {{base::reply::kFrom, since + 1}, {base::reply::kTo, *first - 1}};
  }
  return reply;
}

}  // namespace certinbox::daemon::ops
