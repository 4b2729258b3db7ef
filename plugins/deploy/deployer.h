// certinbox-deploy's work (docs/plugins.md, "certinbox-deploy"): keep each resource bound to this
// plugin at its entry's current version: fetch the material, write the four files atomically, run
// the reload command, report the push. Runs on the plugin runtime's thread (handler and tick).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "plugins/deploy/options.h"
#include "plugins/sdk/plugin.h"

namespace certinbox::deploy {

class Deployer {
 public:
  Deployer(sdk::Plugin& plugin, DeployOptions options);

  // The runtime's handler: cert.bound / imported / renewed / activated / updated reconcile (the
  // event's entry is pushed at once even while it waits for a retry); cert.unbound of this plugin
  // removes the files when remove_on_unbind. Other events are ignored.
  void HandleEvent(const nlohmann::json& event);
  // The runtime's tick: the push at start, and the retries that are due.
  void Tick();

 private:
  struct Retry {
    int64_t version = 0;
    int failures = 0;
    std::chrono::steady_clock::time_point next;
  };

  // Pushes every binding whose pushed_version is not its entry's current version, except those
  // waiting for a retry of that same version (unless the binding's entry is `changed_entry`).
  void Reconcile(std::optional<int64_t> changed_entry);
  // One push; returns whether it succeeded and was recorded.
  bool Push(const sdk::BoundResource& binding);
  void Unbound(const nlohmann::json& event);
  // Records a failed push of `version`; returns the delay before the next attempt.
  std::chrono::milliseconds ScheduleRetry(const std::string& resource, int64_t version);

  sdk::Plugin& plugin_;
  DeployOptions options_;
  std::map<std::string, Retry> retries_;  // by resource
  bool reconcile_due_ = true;             // the push at start, or a reconcile that failed
  std::chrono::steady_clock::time_point reconcile_at_{};
  int reconcile_failures_ = 0;
};

}  // namespace certinbox::deploy
