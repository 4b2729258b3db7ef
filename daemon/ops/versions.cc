#include "daemon/ops/versions.h"

namespace certinbox::daemon::ops {

using nlohmann::json;

void VersionOps::Register(OpRegistry& registry) {
  registry.Add("rollback", [this](const Request& request) { return Rollback(request); });
  registry.Add("meta", [this](const Request& request) { return Meta(request); });
}

base::Result<json> VersionOps::Rollback(const Request& request) {
  auto entry = request.RequiredString("entry");
  auto to = request.RequiredInt("to", 1, kMaxSeq, "a version number, 1 or more");
  if (auto bad = base::FirstError(entry, to)) return std::unexpected(*bad);
  auto event = inventory_.RollbackTo(*entry, *to, clock_.Now());
  if (!event) return std::unexpected(event.error());
  publisher_.Publish(*event);
  json payload = json::parse(event->json, nullptr, false);
  if (payload.is_discarded()) payload = json::object();
  return json{{"certificate", payload.value("certificate", json::object())},
              {"previous", payload.value("previous", json::object())},
              {"seq", event->seq}};
}

base::Result<json> VersionOps::Meta(const Request& request) {
  auto entry = request.RequiredString("entry");
  auto description = request.String("description");
  auto add_labels = request.Strings("add_labels");
  auto remove_labels = request.Strings("remove_labels");
  auto unset = request.Strings("unset");
  auto set = request.Object("set", "an object of key: value");
  auto version = request.Int("version", 1, kMaxSeq);
  if (auto bad =
          base::FirstError(entry, description, add_labels, remove_labels, unset, set, version)) {
    return std::unexpected(*bad);
  }
  storage::MetaChange change;
  change.description = *description;
  change.add_labels = add_labels->value_or(std::vector<std::string>{});
  change.remove_labels = remove_labels->value_or(std::vector<std::string>{});
  change.unset = unset->value_or(std::vector<std::string>{});
  if (*set) change.set = **set;
  change.version = *version;
  auto outcome = inventory_.UpdateMeta(*entry, change, clock_.Now());
  if (!outcome) return std::unexpected(outcome.error());
  json reply = {{"changed", outcome->changed}};
  if (outcome->event) {
    publisher_.Publish(*outcome->event);
    json payload = json::parse(outcome->event->json, nullptr, false);
    if (!payload.is_discarded()) reply["certificate"] = payload.value("certificate", json());
    reply["seq"] = outcome->event->seq;
  }
  return reply;
}

}  // namespace certinbox::daemon::ops
