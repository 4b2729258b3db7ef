#include "daemon/ops/bindings.h"

namespace certinbox::daemon::ops {

using nlohmann::json;

void BindingOps::Register(OpRegistry& registry) {
  registry.Add("bind", [this](const Request& request) { return Bind(request); });
  registry.Add("unbind", [this](const Request& request) { return Unbind(request); });
}

base::Result<json> BindingOps::Bind(const Request& request) {
  auto entry = request.RequiredString("entry");
  auto resource = request.RequiredString("resource");
  auto plugin = request.String("plugin");
  if (auto bad = base::FirstError(entry, resource, plugin)) return std::unexpected(*bad);
  if (*plugin) {
    if (auto configured = FindPlugin(config_, **plugin); !configured) {
      return std::unexpected(configured.error());
    }
  }
  auto bound = inventory_.Bind(*entry, *resource, *plugin, clock_.Now());
  if (!bound) return std::unexpected(bound.error());
  const bool changed = bound->event.has_value();
  if (changed) publisher_.Publish(*bound->event);
  return json{{"binding", std::move(bound->binding)}, {"changed", changed}};
}

base::Result<json> BindingOps::Unbind(const Request& request) {
  auto entry = request.RequiredString("entry");
  auto resource = request.RequiredString("resource");
  if (auto bad = base::FirstError(entry, resource)) return std::unexpected(*bad);
  auto unbound = inventory_.Unbind(*entry, *resource, clock_.Now());
  if (!unbound) return std::unexpected(unbound.error());
  publisher_.Publish(*unbound);
  json event = json::parse(unbound->json, nullptr, false);
  const json certificate =
      event.is_object() ? event.value("certificate", json::object()) : json::object();
  json reply = {{"unbound",
                 {{"entry", certificate.value("group", "") + "/" + certificate.value("name", "")},
                  {"id", certificate.value("id", 0)},
                  {"resource", *resource},
                  {"plugin", event.is_object() ? event.value("plugin", json()) : json()}}}};
  // A declaration that conflicted with this binding can be made now.
  declared_.ReconcileConflicts();
  return reply;
}

}  // namespace certinbox::daemon::ops
