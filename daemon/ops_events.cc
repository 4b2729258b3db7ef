// Control ops of the event outbox: events (replay), ack, cursors, cursor.delete.
#include <algorithm>

#include "base/error_codes.h"
#include "base/time.h"
#include "daemon/control_args.h"
#include "daemon/daemon.h"
#include "plugins/sdk/limits.h"
#include "storage/summary.h"

namespace certinbox::daemon {
namespace {

using nlohmann::json;

// Cursor names are chosen by subscribers ("deploy", "audit-export", "host1:webhook").
std::string CursorName(const json& request) {
  std::string name = RequiredString(request, "cursor");
  bool good = name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                       c == '-' || c == ':' || c == '@';
              });
  if (!good) {
    throw std::invalid_argument(
        "'cursor' is at most 128 letters, digits and . _ - : @ (e.g. \"deploy\")");
  }
  return name;
}

}  // namespace

void Daemon::RegisterEventOps() {
  AddOp("events", [this](const json& request) { return HandleEvents(request); });

  AddOp("ack", [this](const json& request) -> json {
    std::string name = CursorName(request);
    auto seq = IntArg(request, "seq", 0, kMaxSeq);
    if (!seq) throw std::invalid_argument("'seq' (the last event handled) is required");
    auto acked = inventory_->AckCursor(name, *seq, base::UnixNow());
    if (!acked) return Failure(acked.error());
    return {{"cursor", name}, {"seq", *acked}};
  });

  AddOp("cursors", [this](const json&) -> json { return {{"cursors", CursorsJson()}}; });

  AddOp("cursor.delete", [this](const json& request) -> json {
    std::string name = CursorName(request);
    auto deleted = inventory_->DeleteCursor(name);
    if (!deleted) return Failure(deleted.error());
    if (!*deleted)
      return ControlServer::ErrorReply(base::code::kNotFound, "no cursor named '" + name + "'");
    return {{"deleted", name}};
  });
}

json Daemon::CursorsJson() {
  json list = json::array();
  auto cursors = inventory_->Cursors();
  if (!cursors) return list;
  int64_t last = publisher_->last_published_seq();
  for (const auto& cursor : *cursors) {
    list.push_back({{"name", cursor.name},
                    {"seq", cursor.seq},
                    {"behind", std::max<int64_t>(0, last - cursor.seq)},
                    {"created_at", base::FormatRfc3339(cursor.created_at)},
                    {"updated_at", base::FormatRfc3339(cursor.updated_at)}});
  }
  return list;
}

// Replays the outbox from `since`, or from where the named `cursor` stands (0 for a new one).
json Daemon::HandleEvents(const json& request) {
  auto since_arg = IntArg(request, "since", 0, kMaxSeq);
  auto cursor_arg = StringArg(request, "cursor");
  if (since_arg && cursor_arg) throw std::invalid_argument("give 'since' or 'cursor', not both");
  int64_t since = since_arg.value_or(0);
  if (cursor_arg) {
    auto seq = inventory_->CursorSeq(CursorName(request));
    if (!seq) return Failure(seq.error());
    since = seq->value_or(0);
  }
  const int64_t limit = IntArg(request, "limit", 1, sdk::kMaxEventsPerReply).value_or(1000);
  std::string type = StringArg(request, "type").value_or("");
  auto first = inventory_->FirstSeq();
  if (!first) return Failure(first.error());
  auto events = inventory_->EventsSince(since, static_cast<int>(limit));
  if (!events) return Failure(events.error());
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
  json reply = {{"events", std::move(list)},
                {"since", since},
                {"scanned_to", scanned_to},
                {"more", more},
                {"first_seq", *first},
                {"last_seq", std::max(last_scanned, publisher_->last_published_seq())}};
  // Events since+1 .. first_seq-1 were pruned by the retention before this client asked.
  if (since < *first - 1) reply["pruned"] = {{"from", since + 1}, {"to", *first - 1}};
  return reply;
}

}  // namespace certinbox::daemon
