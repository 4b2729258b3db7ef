// Control ops on an entry's versions and metadata: rollback, meta (docs/protocol.md).
#include <stdexcept>

#include "base/time.h"
#include "daemon/control_args.h"
#include "daemon/daemon.h"

namespace certinbox::daemon {

using nlohmann::json;

void Daemon::RegisterVersionOps() {
  // {entry, to} -> {certificate, previous, seq}: the cert.renewed it published.
  AddOp("rollback", [this](const json& request) {
    const std::string entry = RequiredString(request, "entry");
    auto to = IntArg(request, "to", 1, kMaxSeq);
    if (!to) throw std::invalid_argument("'to' (a version number, 1 or more) is required");
    auto event = inventory_->RollbackTo(entry, *to, base::UnixNow());
    if (!event) return Failure(event.error());
    PublishAll({*event});
    json payload = json::parse(event->json, nullptr, false);
    if (payload.is_discarded()) payload = json::object();
    return json{{"certificate", payload.value("certificate", json::object())},
                {"previous", payload.value("previous", json::object())},
                {"seq", event->seq}};
  });

  // {entry, description?, add_labels?, remove_labels?, set?, unset?, version?}
  //   -> {changed, certificate?, seq?}: certificate and seq only when something changed.
  AddOp("meta", [this](const json& request) {
    storage::MetaChange change;
    const std::string entry = RequiredString(request, "entry");
    change.description = StringArg(request, "description");
    change.add_labels = StringsArg(request, "add_labels").value_or(std::vector<std::string>{});
    change.remove_labels =
        StringsArg(request, "remove_labels").value_or(std::vector<std::string>{});
    change.unset = StringsArg(request, "unset").value_or(std::vector<std::string>{});
    if (auto it = request.find("set"); it != request.end() && !it->is_null()) {
      if (!it->is_object()) throw std::invalid_argument("'set' must be an object of key: value");
      change.set = *it;
    }
    change.version = IntArg(request, "version", 1, kMaxSeq);
    auto outcome = inventory_->UpdateMeta(entry, change, base::UnixNow());
    if (!outcome) return Failure(outcome.error());
    json reply = {{"changed", outcome->changed}};
    if (outcome->event) {
      PublishAll({*outcome->event});
      json payload = json::parse(outcome->event->json, nullptr, false);
      if (!payload.is_discarded()) reply["certificate"] = payload.value("certificate", json());
      reply["seq"] = outcome->event->seq;
    }
    return reply;
  });
}

}  // namespace certinbox::daemon
