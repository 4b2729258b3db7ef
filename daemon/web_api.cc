#include "daemon/web_api.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "base/error_codes.h"
#include "base/uv_work.h"
#include "daemon/ops/entries.h"
#include "daemon/ops/events.h"
#include "daemon/ops/request.h"
#include "daemon/ops/status.h"
#include "http/web_assets.h"

namespace certinbox::daemon {
namespace {

using nlohmann::json;

// Events an entry page shows: the newest.
constexpr int kEntryEvents = 50;

http::Response JsonResponse(int status, const json& body) {
  return {.status = status,
          .content_type = "application/json",
          .body = body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

int HttpStatusOf(const base::Error& error) {
  if (error.code == base::code::kBadRequest || error.code == base::code::kBadFilter) return 400;
  if (error.code == base::code::kNotFound) return 404;
  if (error.code == base::code::kAmbiguous) return 409;
  return 500;
}

// The URL's arguments as the control op takes them: `numbers` as whole numbers (the op checks
// their ranges), every other one as a string.
base::Result<json> RequestBody(const http::Request& request,
                               std::initializer_list<std::string_view> numbers) {
  json body = json::object();
  for (const auto& [key, value] : request.query) {
    if (std::find(numbers.begin(), numbers.end(), key) == numbers.end()) {
      body[key] = value;
      continue;
    }
    int64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size()) {
      return ops::BadRequest("'" + ops::ForLog(key) + "' is a whole number");
    }
    body[key] = n;
  }
  return body;
}

}  // namespace

void WebApi::AddRoutes(std::map<std::string, http::Route>& routes) {
  auto file = [](std::string name) {
    return [name = std::move(name)](const http::Request&, http::Answer answer) {
      const http::WebAsset* asset = http::FindWebAsset(name);
      if (asset == nullptr) return answer({.status = 404, .body = "not found\n"});
      answer({.status = 200,
              .content_type = std::string(asset->content_type),
              .body = std::string(asset->body)});
    };
  };
  routes["/"] = file("index.html");
  routes["/static/app.js"] = file("app.js");
  routes["/static/app.css"] = file("app.css");

  routes["/api/v1/summary"] = [this](const http::Request&, http::Answer answer) {
    const base::UnixTime now = clock_.Now();
    const int64_t published = published_seq_();
    Read(answer, [now, published](storage::Inventory& inventory) -> base::Result<json> {
      auto counts = inventory.Count(now);
      if (!counts) return std::unexpected(counts.error());
      return json{{"counts",
                   {{"valid", counts->valid},
                    {"expiring_soon", counts->expiring_soon},
                    {"expired", counts->expired},
                    {"pre_activation", counts->pre_activation}}},
                  {"entries", counts->entries},
                  {"last_seq", std::max(counts->last_seq, published)},
                  {"version", ops::kVersion}};
    });
  };
  routes["/api/v1/entries"] = [this](const http::Request& request, http::Answer answer) {
    auto body = RequestBody(request, {"limit", "expiring_within"});
    if (!body) return answer(JsonResponse(400, ops::ErrorReply(body.error())));
    const base::UnixTime now = clock_.Now();
    Read(answer, [now, body = std::move(*body)](storage::Inventory& inventory) {
      auto page = ops::ListEntries(inventory, ops::Request(body, {}), now);
      // Keys waiting for their certificate name the files they came in: not for the listener.
      if (page) page->erase("unmatched_keys");
      return page;
    });
  };
  routes["/api/v1/entries/"] = [this](const http::Request& request, http::Answer answer) {
    std::string id = request.path.substr(std::string_view("/api/v1/entries/").size());
    const base::UnixTime now = clock_.Now();
    Read(answer, [now, id](storage::Inventory& inventory) -> base::Result<json> {
      auto shown = ops::ShowEntry(inventory, ops::Request(json{{"entry", id}}, {}), now);
      if (!shown) return std::unexpected(shown.error());
      // The key export audit names the control endpoint and who asked: not for the listener.
      (*shown)["entry"].erase("key_exports");
      int64_t entry_id = (*shown)["entry"].value("id", int64_t{0});
      auto events = inventory.EventsOfEntry(entry_id, kEntryEvents);
      if (!events) return std::unexpected(events.error());
      json list = json::array();
      for (const auto& event : *events) list.push_back(json::parse(event.json, nullptr, false));
      (*shown)["events"] = std::move(list);
      return shown;
    });
  };
  routes["/api/v1/events"] = [this](const http::Request& request, http::Answer answer) {
    auto body = RequestBody(request, {"since", "limit"});
    if (!body) return answer(JsonResponse(400, ops::ErrorReply(body.error())));
    const int64_t published = published_seq_();
    Read(answer, [published, body = std::move(*body)](storage::Inventory& inventory) {
      return ops::EventsPage(inventory, ops::Request(body, {}), published);
    });
  };
}

void WebApi::Read(const http::Answer& answer, ReadFn read) {
  if (jobs_ >= kMaxJobs) {
    return answer(JsonResponse(
        503, ops::ErrorReply({base::code::kBusy, "too many requests at once: try again"})));
  }
  storage::InventoryOptions options{.expiry = config_.expiry, .max_versions = config_.max_versions};
  ++jobs_;
  int rc = base::RunOnPool<json>(
      loop_,
      [database = config_.database, options, read = std::move(read)]() -> base::Result<json> {
        auto inventory = storage::Inventory::OpenReadOnly(database, options);
        if (!inventory) return std::unexpected(inventory.error());
        return read(**inventory);
      },
      [this, answer](base::Result<json> reply) {
        --jobs_;
        if (!reply) {
          int status = HttpStatusOf(reply.error());
          if (status == 500) spdlog::warn("http: a page read failed: {}", reply.error().message);
          return answer(JsonResponse(status, ops::ErrorReply(reply.error())));
        }
        answer(JsonResponse(200, *reply));
      });
  if (rc != 0) {
    --jobs_;
    answer(JsonResponse(500, ops::ErrorReply({base::code::kInternalError, "not queued"})));
  }
}

}  // namespace certinbox::daemon
