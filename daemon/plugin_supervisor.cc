#include "daemon/plugin_supervisor.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <optional>

#include "base/error.h"
#include "base/time.h"
#include "daemon/plugin_launch.h"
#include "daemon/plugin_log.h"
#include "daemon/plugin_process.h"
#include "pipeline/types.h"
#include "storage/summary.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kFirstBackoffMs = 1000;
constexpr uint64_t kMaxBackoffMs = 60'000;
constexpr uint64_t kStableRunMs = 60'000;  // a run this long starts the backoff over
constexpr uint64_t kKillAfterMs = 5000;    // SIGTERM, then SIGKILL
constexpr uint64_t kTickMs = 1000;

std::string CursorOf(const std::string& plugin) { return "plugin:" + plugin; }

// docs/plugins.md "Users": a plugin without `user` runs as root, as before; said once per
// (re)configuration, not at every restart.
void WarnIfRoot(const PluginConfig& config) {
  if (config.uid || ::geteuid() != 0 || !config.enabled) return;
  spdlog::warn(
      "plugin {} runs as root (it has no 'user'): it can read the master key, the database and "
      "every plugin's token; give it a user of its own",
      config.name);
}

}  // namespace

struct PluginSupervisor::Plugin {
  PluginSupervisor* owner = nullptr;  // null once the supervisor is gone
  PluginConfig config;
  std::optional<PluginConfig> next;  // a changed config, started once this run has exited
  bool removed = false;              // stopping for good: forget it once it exited
  PluginProcess* run = nullptr;      // the process running, if any
  int pid = 0;
  bool terminating = false;
  int64_t restarts = 0;
  base::UnixTime started_at = 0;
  uint64_t started_ms = 0;
  std::string last_exit, last_error, kill_reason;
  // An error the plugin reported (plugin.report) during this run: an exit after it keeps the
  // plugin's own words, and a long run without one clears an exit's error.
  bool reported_this_run = false;
  uint64_t backoff_ms = kFirstBackoffMs;
  base::UvHandlePtr<uv_timer_t> restart_timer;
  base::UvHandlePtr<uv_timer_t> kill_timer;
  // Hang detection.
  std::optional<int64_t> cursor;
  uint64_t moved_ms = 0;
  std::optional<uint64_t> pending_ms;
  std::shared_ptr<PluginLog> log;  // shared with its processes, which may outlive it

  const PluginConfig& wanted() const { return next ? *next : config; }
};

PluginSupervisor::PluginSupervisor(uv_loop_t* loop, storage::Inventory& inventory,
                                   const base::Clock& clock, Options options)
    : loop_(loop), inventory_(inventory), clock_(clock), options_(std::move(options)) {
  tick_ = base::NewUvTimer(loop_, this);
  uv_timer_start(
      tick_.get(), [](uv_timer_t* timer) { static_cast<PluginSupervisor*>(timer->data)->Tick(); },
      kTickMs, kTickMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(tick_.get()));
}

PluginSupervisor::~PluginSupervisor() {
  for (auto& [name, plugin] : plugins_) {
    plugin->owner = nullptr;
    if (plugin->run) {
      spdlog::warn("plugin {} still running as the daemon ends: killed", name);
      ::kill(-plugin->pid, SIGKILL);
    }
  }
}

fs::path PluginSupervisor::PluginDir(const std::string& name) const {
  return options_.state_dir / "plugins" / name;
}

bool PluginSupervisor::Configured(const std::string& plugin) const {
  auto it = plugins_.find(plugin);
  return it != plugins_.end() && !it->second->removed;
}

std::map<std::string, std::string> PluginSupervisor::Environment(const std::string& name) const {
  auto it = plugins_.find(name);
  if (it == plugins_.end() || it->second->removed) return {};
  const PluginConfig& config = it->second->wanted();
  std::map<std::string, std::string> env;
  for (const auto& [var, value] : config.env) env[var] = value;
  env["CERTINBOX_PLUGIN"] = name;
  env["CERTINBOX_PLUGIN_TOKEN"] = inventory_.Tag(CursorOf(name));
  env["CERTINBOX_CONTROL"] = options_.control_endpoint;
  env["CERTINBOX_PUBLISH"] = options_.publish_endpoint;
  env["CERTINBOX_PLUGIN_EVENTS"] = json(config.events).dump();
  env["CERTINBOX_PLUGIN_OPTIONS"] = config.options_json;
  env["CERTINBOX_PLUGIN_DIR"] = PluginDir(name).string();
  env["CERTINBOX_SUPERVISOR_PID"] = std::to_string(::getpid());
  return env;
}

void PluginSupervisor::EnsureCursor(const std::string& name) {
  auto seq = inventory_.CursorSeq(CursorOf(name));
  if (seq && *seq) return;
  base::Error error;
  if (seq) {
    auto created = inventory_.AckCursor(CursorOf(name), options_.last_seq(), clock_.Now());
    if (created) return;
    error = created.error();
  } else {
    error = seq.error();
  }
  spdlog::error("plugin {}: cannot create its cursor {}: {}", name, CursorOf(name), error.message);
}

void PluginSupervisor::DeleteCursor(const std::string& name) {
  auto deleted = inventory_.DeleteCursor(CursorOf(name));
  if (!deleted) {
    spdlog::error("plugin {}: cannot delete its cursor: {}", name, deleted.error().message);
  } else if (*deleted) {
    spdlog::info("plugin {} is no longer configured: its cursor {} is deleted", name,
                 CursorOf(name));
  }
}

void PluginSupervisor::Apply(const std::vector<PluginConfig>& wanted) {
  if (stopping_) return;
  if (!applied_) {
    applied_ = true;
    // Cursors of plugins configured in an earlier life hold back the outbox's retention.
    if (auto cursors = inventory_.Cursors()) {
      for (const auto& cursor : *cursors) {
        if (!cursor.name.starts_with("plugin:")) continue;
        std::string name = cursor.name.substr(7);
        bool configured = std::any_of(wanted.begin(), wanted.end(),
                                      [&](const PluginConfig& p) { return p.name == name; });
        if (!configured) DeleteCursor(name);
      }
    }
  }
  for (auto it = plugins_.begin(); it != plugins_.end();) {
    const std::string& name = it->first;
    bool kept = std::any_of(wanted.begin(), wanted.end(),
                            [&](const PluginConfig& p) { return p.name == name; });
    if (kept) {
      ++it;
      continue;
    }
    auto& plugin = it->second;
    if (plugin->run) {
      spdlog::info("plugin {} removed from the config: stopping it", name);
      plugin->removed = true;
      plugin->next.reset();
      Terminate(plugin);
      ++it;
    } else {
      DeleteCursor(name);
      it = plugins_.erase(it);
    }
  }
  for (const PluginConfig& config : wanted) {
    EnsureCursor(config.name);
    auto it = plugins_.find(config.name);
    if (it == plugins_.end()) {
      auto plugin = std::make_shared<Plugin>();
      plugin->owner = this;
      plugin->config = config;
      plugin->log = std::make_shared<PluginLog>(config.name);
      plugin->restart_timer = base::NewUvTimer(loop_, plugin.get());
      plugin->kill_timer = base::NewUvTimer(loop_, plugin.get());
      plugins_[config.name] = plugin;
      WarnIfRoot(config);
      if (config.enabled) {
        Start(plugin);
      } else {
        spdlog::info("plugin {} is disabled: not started", config.name);
      }
      continue;
    }
    auto& plugin = it->second;
    if (plugin->run) {
      if (plugin->removed || plugin->wanted() != config) {
        // Removed and added again, or changed: started with this config once it has exited.
        plugin->removed = false;
        plugin->next = config;
        WarnIfRoot(config);
        spdlog::info("plugin {} changed: restarting it", config.name);
        Terminate(plugin);
      }
      continue;
    }
    if (plugin->config == config) continue;
    WarnIfRoot(config);
    uv_timer_stop(plugin->restart_timer.get());
    plugin->config = config;
    plugin->backoff_ms = kFirstBackoffMs;
    plugin->last_error.clear();  // about the config that was replaced
    if (config.enabled) {
      Start(plugin);
    } else {
      spdlog::info("plugin {} is disabled: not started", config.name);
    }
  }
}

void PluginSupervisor::Start(const std::shared_ptr<Plugin>& plugin) {
  if (stopping_) return;
  const PluginConfig& config = plugin->config;
  std::string why;
  auto file = ResolvePluginCommand(config.command, why);
  if (!file) return StartFailed(plugin, why);

  // The user it runs as (PluginProcess::Spec::uid). setgroups only works for root: a daemon
  // that is not root can start plugins only as itself.
  const bool other_user = config.uid && *config.uid != ::geteuid();
  if (other_user && ::geteuid() != 0) {
    return StartFailed(plugin, "cannot run as user '" + config.user + "': certinboxd runs as uid " +
                                   std::to_string(::geteuid()) + ", not root");
  }

  std::error_code ec;
  fs::path dir = PluginDir(config.name);
  fs::create_directories(dir, ec);
  if (auto made = PreparePluginFolder(options_.state_dir, dir, config, ec); !made.empty()) {
    return StartFailed(plugin, "cannot create its folder " + dir.string() + ": " + made);
  }

  PluginProcess::Spec spec;
  spec.file = *file;
  spec.args = {config.command};
  spec.args.insert(spec.args.end(), config.args.begin(), config.args.end());
  // The daemon's environment, then the plugin's `env`, then the CERTINBOX_* variables.
  spec.env = PluginEnvironment(Environment(config.name));
  spec.cwd = dir;
  if (config.uid) {
    spec.uid = *config.uid;
    spec.gid = config.gid.value_or(*config.uid);
  }
  auto* run = new PluginProcess(loop_, plugin->log);
  auto on_exit = [plugin](PluginProcess& process, int64_t exit_status, int term_signal) {
    if (plugin->run == &process) plugin->run = nullptr;
    if (plugin->owner) plugin->owner->OnExit(*plugin, exit_status, term_signal);
  };
  if (int rc = run->Spawn(spec, std::move(on_exit)); rc != 0) {
    return StartFailed(plugin, "cannot start " + file->string() + ": " + uv_strerror(rc));
  }
  plugin->run = run;
  plugin->pid = run->pid();
  plugin->terminating = false;
  plugin->started_at = clock_.Now();
  plugin->started_ms = uv_now(loop_);
  plugin->reported_this_run = false;
  plugin->moved_ms = plugin->started_ms;
  plugin->pending_ms.reset();
  auto seq = inventory_.CursorSeq(CursorOf(config.name));
  plugin->cursor = seq ? seq->value_or(0) : 0;
  spdlog::info("plugin {} started (pid {}): {}", config.name, plugin->pid, file->string());
}

void PluginSupervisor::StartFailed(const std::shared_ptr<Plugin>& plugin, const std::string& why) {
  spdlog::error("plugin {}: {}", plugin->config.name, why);
  plugin->last_error = why;
  ScheduleRestart(plugin);
}

void PluginSupervisor::ScheduleRestart(const std::shared_ptr<Plugin>& plugin) {
  if (stopping_) return;
  uint64_t delay = plugin->backoff_ms;
  plugin->backoff_ms = std::min(plugin->backoff_ms * 2, kMaxBackoffMs);
  uv_timer_start(
      plugin->restart_timer.get(),
      [](uv_timer_t* timer) {
        auto* raw = static_cast<Plugin*>(timer->data);
        if (!raw->owner) return;
        auto& plugins = raw->owner->plugins_;
        auto it = plugins.find(raw->config.name);
        if (it == plugins.end() || it->second.get() != raw) return;
        ++raw->restarts;
        raw->owner->Start(it->second);
      },
      delay, 0);
}

void PluginSupervisor::Terminate(const std::shared_ptr<Plugin>& plugin) {
  if (!plugin->run || plugin->terminating) return;
  plugin->terminating = true;
  ::kill(-plugin->pid, SIGTERM);
  uv_timer_start(
      plugin->kill_timer.get(),
      [](uv_timer_t* timer) {
        auto* raw = static_cast<Plugin*>(timer->data);
        if (!raw->run) return;
        spdlog::warn("plugin {} still running {} s after SIGTERM: SIGKILL", raw->config.name,
                     kKillAfterMs / 1000);
        ::kill(-raw->pid, SIGKILL);
      },
      kKillAfterMs, 0);
}

void PluginSupervisor::OnExit(Plugin& plugin, int64_t exit_status, int term_signal) {
  uv_timer_stop(plugin.kill_timer.get());
  plugin.last_exit =
      term_signal ? "signal " + std::to_string(term_signal) : "exit " + std::to_string(exit_status);
  const bool asked = plugin.terminating;
  plugin.terminating = false;
  if (!plugin.kill_reason.empty()) {
    plugin.last_error = std::exchange(plugin.kill_reason, "");
  } else if (!asked) {
    std::string how = term_signal ? "killed by signal " + std::to_string(term_signal)
                                  : "exited with status " + std::to_string(exit_status);
    // What the plugin said before it went says more than its exit status.
    plugin.last_error =
        plugin.reported_this_run ? how + " after reporting: " + plugin.last_error : how;
  }
  if (uv_now(loop_) - plugin.started_ms >= kStableRunMs) plugin.backoff_ms = kFirstBackoffMs;
  const std::string name = plugin.config.name;
  auto it = plugins_.find(name);
  if (it == plugins_.end()) return;
  std::shared_ptr<Plugin> self = it->second;
  if (stopping_) {
    spdlog::info("plugin {} stopped ({})", name, plugin.last_exit);
    MaybeStopped();
    return;
  }
  if (plugin.removed) {
    spdlog::info("plugin {} stopped ({}) and removed", name, plugin.last_exit);
    DeleteCursor(name);
    plugins_.erase(it);
    return;
  }
  if (plugin.next) {
    plugin.config = std::move(*plugin.next);
    plugin.next.reset();
    plugin.backoff_ms = kFirstBackoffMs;
    plugin.last_error.clear();  // about the config that was replaced
    if (plugin.config.enabled) {
      Start(self);
    } else {
      spdlog::info("plugin {} stopped ({}) and is now disabled", name, plugin.last_exit);
    }
    return;
  }
  if (!plugin.config.enabled) return;
  spdlog::warn("plugin {} stopped ({}): {}; starting it again in {} s", name, plugin.last_exit,
               plugin.last_error, plugin.backoff_ms / 1000);
  ScheduleRestart(self);
}

void PluginSupervisor::Tick() {
  uint64_t now = uv_now(loop_);
  for (auto& [name, plugin] : plugins_) {
    plugin->log->EndWindowIfDue(now);
    CheckHung(*plugin, now);
    // Running well for a while: an earlier run's error is history.
    if (plugin->run && !plugin->reported_this_run && !plugin->last_error.empty() &&
        now - plugin->started_ms >= kStableRunMs) {
      plugin->last_error.clear();
    }
  }
}

// A plugin with events of its prefixes above its cursor that has acknowledged nothing for its
// ack_timeout (counted from its start, its last ack or the first event seen waiting, whichever
// is latest) is hung: killed, and restarted with the usual backoff.
void PluginSupervisor::CheckHung(Plugin& plugin, uint64_t now) {
  const uint64_t timeout_ms = plugin.config.ack_timeout_s * 1000;
  if (!plugin.run || plugin.terminating || timeout_ms == 0 || !plugin.kill_reason.empty()) return;
  auto seq = inventory_.CursorSeq(CursorOf(plugin.config.name));
  if (!seq) return;
  int64_t cursor = seq->value_or(0);
  if (cursor != plugin.cursor) {
    plugin.cursor = cursor;
    plugin.moved_ms = now;
    plugin.pending_ms.reset();
  }
  if (!plugin.pending_ms) {
    auto waiting = inventory_.FirstEventMatching(cursor, plugin.config.events);
    if (!waiting || !*waiting) return;
    plugin.pending_ms = now;
  }
  uint64_t since = std::max({plugin.started_ms, plugin.moved_ms, *plugin.pending_ms});
  if (now - since < timeout_ms) return;
  plugin.kill_reason = "no acknowledgement for " + std::to_string(plugin.config.ack_timeout_s) +
                       " s while events waited: killed and restarted";
  spdlog::warn("plugin {} (pid {}): {}", plugin.config.name, plugin.pid, plugin.kill_reason);
  ::kill(-plugin.pid, SIGKILL);
}

void PluginSupervisor::NoteError(const std::string& plugin, const std::string& message) {
  auto it = plugins_.find(plugin);
  if (it == plugins_.end()) return;
  it->second->last_error = message;
  it->second->reported_this_run = true;
}

void PluginSupervisor::Stop(std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  stopped_ = std::move(done);
  for (auto& [name, plugin] : plugins_) {
    uv_timer_stop(plugin->restart_timer.get());
    if (plugin->run) {
      spdlog::info("stopping plugin {} (pid {})", name, plugin->pid);
      Terminate(plugin);
    }
  }
  MaybeStopped();
}

void PluginSupervisor::MaybeStopped() {
  if (!stopping_ || !stopped_) return;
  for (const auto& [name, plugin] : plugins_) {
    if (plugin->run) return;
  }
  uv_timer_stop(tick_.get());
  auto done = std::move(stopped_);
  stopped_ = nullptr;
  done();
}

json PluginSupervisor::StatusJson() const {
  json list = json::array();
  const int64_t last = options_.last_seq();
  for (const auto& [name, plugin] : plugins_) {
    const bool running = plugin->run != nullptr;
    std::string state;
    if (running) {
      state = plugin->terminating ? "stopping" : "running";
    } else if (!plugin->config.enabled) {
      state = "disabled";
    } else if (stopping_) {
      state = "stopped";
    } else {
      state = "backoff";
    }
    json cursor = nullptr;
    int64_t behind = 0;
    if (auto seq = inventory_.CursorSeq(CursorOf(name)); seq && *seq) {
      cursor = **seq;
      behind = std::max<int64_t>(0, last - **seq);
    }
    auto or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
    list.push_back(
        {{"name", name},
         {"command", plugin->config.command},
         {"enabled", plugin->config.enabled},
         {"events", plugin->config.events},
         {"state", state},
         {"pid", running ? json(plugin->pid) : json(nullptr)},
         {"restarts", plugin->restarts},
         {"started_at",
          plugin->started_at ? json(base::FormatRfc3339(plugin->started_at)) : json(nullptr)},
         {"last_exit", or_null(plugin->last_exit)},
         {"last_error", or_null(plugin->last_error)},
         {"cursor", cursor},
         {"behind", behind}});
  }
  return list;
}

}  // namespace certinbox::daemon
