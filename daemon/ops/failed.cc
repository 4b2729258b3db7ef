#include "daemon/ops/failed.h"

#include "base/error_codes.h"

namespace certinbox::daemon::ops {

using nlohmann::json;

void FailedOps::Register(OpRegistry& registry) {
  registry.Add("failed", [this](const Request& request) { return Failed(request); });
  registry.Add("retry", [this](const Request& request) { return Retry(request); });
}

base::Result<std::vector<const Inbox*>> FailedOps::Named(
    const std::optional<std::string>& inbox) const {
  std::vector<const Inbox*> named;
  for (const auto& running : inboxes_) {
    if (running->watcher && (!inbox || running->config.name == *inbox)) {
      named.push_back(running.get());
    }
  }
  if (inbox && named.empty()) {
    return base::Fail(base::code::kNotFound, "no inbox named '" + *inbox + "' is watched");
  }
  return named;
}

base::Result<json> FailedOps::Failed(const Request& request) const {
  auto inbox = request.String("inbox");
  if (!inbox) return std::unexpected(inbox.error());
  auto named = Named(*inbox);
  if (!named) return std::unexpected(named.error());
  json out = json::array();
  for (const Inbox* each : *named) {
    bool more = false;
    auto files = each->watcher->ListFailed(kMaxListed, more);
    if (!files) return std::unexpected(files.error());
    json listed = json::array();
    for (const auto& file : *files) {
      // The reason file as the watcher wrote it; anything else (edited, cut) shows as null.
      json reason = json::parse(file.error_json, nullptr, false);
      if (!reason.is_object()) reason = json::object();
      listed.push_back({{"file", file.name},
                        {"size", file.size},
                        {"reason", reason.value("reason", json())},
                        {"message", reason.value("message", json())},
                        {"time", reason.value("time", json())}});
    }
    out.push_back({{"name", each->config.name},
                   {"path", (each->config.path / "failed").string()},
                   {"files", std::move(listed)},
                   {"more", more}});
  }
  return json{{"inboxes", std::move(out)}};
}

base::Result<json> FailedOps::Retry(const Request& request) const {
  auto inbox = request.String("inbox");
  auto files = request.Strings("files");
  auto all = request.Bool("all");
  if (auto bad = base::FirstError(inbox, files, all)) return std::unexpected(*bad);
  const bool every = all->value_or(false);
  if (every == files->has_value() ||
      (*files && ((*files)->empty() || (*files)->size() > kMaxRetried))) {
    return base::Fail(base::code::kBadRequest, "give 'files' (1 to " + std::to_string(kMaxRetried) +
                                                   " names in failed/) or 'all': true, not both");
  }
  auto named = Named(*inbox);
  if (!named) return std::unexpected(named.error());
  if (!every && named->size() != 1) {
    return base::Fail(base::code::kBadRequest, "name the 'inbox' the files are in: there are " +
                                                   std::to_string(named->size()) + " inboxes");
  }
  json retried = json::array(), failures = json::array();
  bool more = false;  // --all: files past kMaxRetried in an inbox, left for another call
  for (const Inbox* each : *named) {
    std::vector<std::string> names = every ? std::vector<std::string>() : **files;
    if (every) {
      bool left = false;
      auto listed = each->watcher->ListFailed(kMaxRetried, left);
      if (!listed) return std::unexpected(listed.error());
      more = more || left;
      for (const auto& file : *listed) names.push_back(file.name);
    }
    for (const auto& name : names) {
      auto moved = each->watcher->Retry(name);
      json item = {{"inbox", each->config.name}, {"file", name}};
      if (moved) {
        retried.push_back(std::move(item));
      } else {
        item["code"] = moved.error().code;
        item["message"] = moved.error().message;
        failures.push_back(std::move(item));
      }
    }
  }
  return json{{"retried", std::move(retried)}, {"failures", std::move(failures)}, {"more", more}};
}

}  // namespace certinbox::daemon::ops
