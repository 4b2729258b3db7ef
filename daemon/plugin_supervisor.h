// The plugin supervisor (docs/plugins.md "What a supervised plugin gets", "Supervision"): starts
// each enabled [[plugin]] as its own process group, restarts it with backoff when it exits, kills
// and restarts one that leaves events unacknowledged for its ack_timeout, and keeps its
// `plugin:NAME` cursor. This is the policy; the process itself, its pipes and its rate-limited
// log are PluginProcess and PluginLog (plugin_process.h, plugin_log.h), what it is started with
// plugin_launch.h. Everything runs on the loop thread, and nothing here ever waits for a plugin.
#pragma once

#include <uv.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/time.h"
#include "base/uv_handle.h"
#include "daemon/config.h"
#include "storage/inventory.h"

namespace certinbox::daemon {

class PluginSupervisor {
 public:
  struct Options {
    std::filesystem::path state_dir;  // plugins' folders are STATE_DIR/plugins/NAME
    std::string control_endpoint;
    std::string publish_endpoint;
    std::function<int64_t()> last_seq;  // the last event seq published
  };

  // started_at and the cursors' times come from `clock`, which must outlive the supervisor.
  // Backoff, hang checks and log windows are intervals, timed by the loop (uv_now): a step of
  // the wall clock neither hurries nor stalls them.
  PluginSupervisor(uv_loop_t* loop, storage::Inventory& inventory, const base::Clock& clock,
                   Options options);
  // Kills (SIGKILL) any plugin group still running: call Stop() first for a clean stop.
  ~PluginSupervisor();

  // Makes the supervised plugins those of `plugins`: starts added ones, stops removed ones
  // (their cursor is deleted once they exited) and restarts changed ones. The first call also
  // deletes the `plugin:*` cursors of plugins no longer configured. Every plugin, enabled or
  // not, gets its cursor at the latest seq when it has none.
  void Apply(const std::vector<PluginConfig>& plugins);
  // SIGTERM to every plugin's group, SIGKILL to those still running 5 s later; `done` runs on
  // the loop once every plugin has exited (at once when none runs). Nothing starts afterwards.
  void Stop(std::function<void()> done);

  // The `plugins` array of `status`: [{name, command, enabled, state, pid, restarts, started_at,
  // last_exit, last_error, cursor, behind, events}].
  nlohmann::json StatusJson() const;
  // An error a plugin reported (plugin.report): its last_error until the next one.
  void NoteError(const std::string& plugin, const std::string& message);
  // The variables a supervised plugin gets besides the daemon's own environment (its `env` and
  // the CERTINBOX_* ones): what `plugin.env` answers. Empty for a plugin not configured.
  std::map<std::string, std::string> Environment(const std::string& plugin) const;
  bool Configured(const std::string& plugin) const;

  struct Plugin;  // plugin_supervisor.cc

 private:
  void Start(const std::shared_ptr<Plugin>& plugin);
  void StartFailed(const std::shared_ptr<Plugin>& plugin, const std::string& why);
  void Terminate(const std::shared_ptr<Plugin>& plugin);
  void ScheduleRestart(const std::shared_ptr<Plugin>& plugin);
  void OnExit(Plugin& plugin, int64_t exit_status, int term_signal);
  void Tick();
  void CheckHung(Plugin& plugin, uint64_t now_ms);
  void EnsureCursor(const std::string& name);
  void DeleteCursor(const std::string& name);
  void MaybeStopped();
  std::filesystem::path PluginDir(const std::string& name) const;

  uv_loop_t* loop_;
  storage::Inventory& inventory_;
  const base::Clock& clock_;
  Options options_;
  std::map<std::string, std::shared_ptr<Plugin>> plugins_;
  base::UvHandlePtr<uv_timer_t> tick_;  // every second: hang checks, log windows
  bool applied_ = false;
  bool stopping_ = false;
  std::function<void()> stopped_;
};

}  // namespace certinbox::daemon
