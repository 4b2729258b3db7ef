#include "daemon/binding_reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>

namespace certinbox::daemon {
namespace {

using nlohmann::json;

bool AnyIn(const json& problems, std::string_view state) {
  return std::any_of(problems.begin(), problems.end(),
                     [&](const json& p) { return p.value("state", "") == state; });
}

}  // namespace

void BindingReconciler::Reconcile() {
  std::vector<storage::DeclaredBinding> declared;
  declared.reserve(config_.bindings.size());
  for (const BindingConfig& b : config_.bindings) {
    declared.push_back({.entry = b.entry, .resource = b.resource, .plugin = b.plugin});
  }
  auto done = inventory_.ReconcileBindings(declared, clock_.Now());
  if (!done) {
    spdlog::error("cannot reconcile the config's [[binding]] declarations: {}",
                  done.error().message);
    return;
  }
  publisher_.PublishAll(done->events);
  if (!done->events.empty()) {
    spdlog::info("config bindings reconciled: {} binding change(s)", done->events.size());
  }
  // Said once, not again after each import that leaves it as it was.
  for (const json& problem : done->problems) {
    if (std::find(problems_.begin(), problems_.end(), problem) == problems_.end()) {
      spdlog::warn("[[binding]] {} -> {} not applied ({}): {}", problem.value("entry", ""),
                   problem.value("resource", ""), problem.value("state", ""),
                   problem.value("message", ""));
    }
  }
  problems_ = std::move(done->problems);
}

void BindingReconciler::ReconcilePending() {
  if (AnyIn(problems_, "pending")) Reconcile();
}

void BindingReconciler::ReconcileConflicts() {
  if (AnyIn(problems_, "conflict")) Reconcile();
}

}  // namespace certinbox::daemon
