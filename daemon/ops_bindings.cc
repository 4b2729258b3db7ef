// Control ops `bind`, `unbind` and `rm` (docs/protocol.md), and the reconciliation of the
// config's [[binding]] declarations with the stored bindings.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/error_codes.h"
#include "base/time.h"
#include "daemon/control_args.h"
#include "daemon/daemon.h"

namespace certinbox::daemon {
namespace {

using nlohmann::json;

constexpr size_t kMaxEntriesPerRm = 1000;

// Declarations in `state` (pending: waiting for their entry; conflict: for a CLI binding to
// go) might be applied now.
bool AnyIn(const json& problems, std::string_view state) {
  return std::any_of(problems.begin(), problems.end(),
                     [&](const json& p) { return p.value("state", "") == state; });
}

}  // namespace

void Daemon::RegisterBindingOps() {
  AddOp("bind", [this](const json& request) {
    std::string entry = RequiredString(request, "entry");
    std::string resource = RequiredString(request, "resource");
    auto plugin = StringArg(request, "plugin");
    if (plugin) {
      if (auto configured = ConfiguredPlugin(*plugin); !configured)
        return Failure(configured.error());
    }
    auto bound = inventory_->Bind(entry, resource, plugin, base::UnixNow());
    if (!bound) return Failure(bound.error());
    const bool changed = bound->event.has_value();
    if (changed) PublishAll({*bound->event});
    return json{{"binding", std::move(bound->binding)}, {"changed", changed}};
  });
  AddOp("unbind", [this](const json& request) {
    std::string entry = RequiredString(request, "entry");
    std::string resource = RequiredString(request, "resource");
    auto unbound = inventory_->Unbind(entry, resource, base::UnixNow());
    if (!unbound) return Failure(unbound.error());
    PublishAll({*unbound});
    json event = json::parse(unbound->json, nullptr, false);
    const json certificate =
        event.is_object() ? event.value("certificate", json::object()) : json::object();
    json reply = {{"unbound",
                   {{"entry", certificate.value("group", "") + "/" + certificate.value("name", "")},
                    {"id", certificate.value("id", 0)},
                    {"resource", resource},
                    {"plugin", event.is_object() ? event.value("plugin", json()) : json()}}}};
    // A declaration that conflicted with this binding can be made now.
    if (AnyIn(binding_problems_, "conflict")) ReconcileBindings();
    return reply;
  });
  AddOp("rm", [this](const json& request) {
    auto entries = StringsArg(request, "entries");
    if (!entries || entries->empty()) {
      return ControlServer::ErrorReply(base::code::kBadRequest,
                                       "'entries' (names or ids) is required");
    }
    if (entries->size() > kMaxEntriesPerRm) {
      return ControlServer::ErrorReply(
          base::code::kBadRequest,
          "at most " + std::to_string(kMaxEntriesPerRm) + " entries per rm");
    }
    auto deleted = inventory_->Delete(*entries, base::UnixNow());
    if (!deleted) return Failure(deleted.error());
    PublishAll(deleted->events);
    // New drops must not chain to a CA that is gone.
    if (deleted->deleted_ca) imports_->RefreshTrust();
    return json{{"results", std::move(deleted->results)},
                {"deleted", deleted->deleted},
                {"not_deleted", deleted->not_deleted}};
  });
}

void Daemon::ReconcileBindings() {
  std::vector<storage::DeclaredBinding> declared;
  declared.reserve(config_.bindings.size());
  for (const BindingConfig& b : config_.bindings) {
    declared.push_back({.entry = b.entry, .resource = b.resource, .plugin = b.plugin});
  }
  auto done = inventory_->ReconcileBindings(declared, base::UnixNow());
  if (!done) {
    spdlog::error("cannot reconcile the config's [[binding]] declarations: {}",
                  done.error().message);
    return;
  }
  PublishAll(done->events);
  if (!done->events.empty()) {
    spdlog::info("config bindings reconciled: {} binding change(s)", done->events.size());
  }
  // Said once, not again after each import that leaves it as it was.
  for (const json& problem : done->problems) {
    if (std::find(binding_problems_.begin(), binding_problems_.end(), problem) ==
        binding_problems_.end()) {
      spdlog::warn("[[binding]] {} -> {} not applied ({}): {}", problem.value("entry", ""),
                   problem.value("resource", ""), problem.value("state", ""),
                   problem.value("message", ""));
    }
  }
  binding_problems_ = std::move(done->problems);
}

void Daemon::ReconcilePendingBindings() {
  if (AnyIn(binding_problems_, "pending")) ReconcileBindings();
}

}  // namespace certinbox::daemon
