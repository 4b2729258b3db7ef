#include "daemon/ops/status.h"

#include <sys/prctl.h>
#include <unistd.h>

#include "daemon/ops/events.h"

namespace certinbox::daemon::ops {

using nlohmann::json;

void StatusOp::Register(OpRegistry& registry) {
  registry.Add("status", [this](const Request&) -> base::Result<json> { return Status(); });
}

json StatusOp::Counts() const {
  auto c = parts_.inventory.Count(parts_.clock.Now());
  if (!c) return json::object();
  return {{"entries", c->entries}, {"leaf", c->leaf},
          {"ca", c->ca},           {"unmatched_keys", c->unmatched_keys},
          {"valid", c->valid},     {"expiring_soon", c->expiring_soon},
          {"expired", c->expired}, {"pre_activation", c->pre_activation},
          {"imports", c->imports}, {"rejections", c->rejections}};
}

json StatusOp::Curve() const {
  if (!parts_.zap || !parts_.curve_keys) return nullptr;
  return {{"server_public_key", parts_.curve_keys->public_z85},
          {"clients", parts_.config.clients.size()},
          {"admitted", parts_.zap->admitted()},
          {"refused", parts_.zap->refused()}};
}

json StatusOp::Status() const {
  const Config& config = parts_.config;
  const ImportService& imports = parts_.imports;
  json inboxes = json::array();
  size_t backlog = 0;
  for (const auto& inbox : parts_.inboxes) {
    backlog += inbox->watcher->Backlog();
    inboxes.push_back({{"name", inbox->config.name},
                       {"path", inbox->config.path.string()},
                       {"backlog", inbox->watcher->Backlog()},
                       {"watching", true},
                       {"error", nullptr}});
  }
  for (const auto& inbox : parts_.unwatched_inboxes) {
    inboxes.push_back({{"name", inbox.name},
                       {"path", inbox.path.string()},
                       {"backlog", nullptr},
                       {"watching", false},
                       {"error", inbox.error}});
  }
  const int64_t last_seq = parts_.publisher.last_published_seq();
  return {{"version", kVersion},
          {"pid", ::getpid()},
          {"uptime_seconds", parts_.clock.Now() - parts_.started_at},
          {"state", parts_.stopping ? "stopping" : "running"},
          {"publish_endpoint", config.publish_endpoint},
          {"control_endpoint", config.control_endpoint},
          {"last_seq", last_seq},
          {"imports_in_flight", imports.in_flight() + imports.queued()},
          {"dumpable", ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1},
          {"storage_fault", imports.storage_fault()},
          {"curve", Curve()},
          {"prefetches",
           {{"used", imports.prefetches_used()}, {"redone", imports.prefetches_redone()}}},
          {"wal_checkpoints",
           {{"completed", parts_.wal_checkpoints.completed()},
            {"incomplete", parts_.wal_checkpoints.incomplete()}}},
          {"backlog", backlog},
          {"counts", Counts()},
          {"cursors", CursorsJson(parts_.inventory, last_seq)},
          {"config", {{"file", config.file.string()}, {"last_reload", parts_.last_reload}}},
          {"inboxes", std::move(inboxes)},
          {"binding_problems", parts_.bindings.problems()},
          {"plugins", parts_.plugins.StatusJson()}};
}

}  // namespace certinbox::daemon::ops
