#include "base/error.h"
#include "base/time.h"
#include "daemon/plugin_supervisor.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>

#include "base/text.h"
#include "pipeline/types.h"
#include "storage/summary.h"

extern char** environ;

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kFirstBackoffMs = 1000;
constexpr uint64_t kMaxBackoffMs = 60'000;
constexpr uint64_t kStableRunMs = 60'000;  // a run this long starts the backoff over
constexpr uint64_t kKillAfterMs = 5000;    // SIGTERM, then SIGKILL
constexpr uint64_t kTickMs = 1000;
constexpr uint64_t kLogWindowMs = 10'000;
constexpr int kLinesPerWindow = 200;
constexpr size_t kMaxLineBytes = 4096;

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

bool Executable(const fs::path& file) {
  std::error_code ec;
  return fs::is_regular_file(file, ec) && ::access(file.c_str(), X_OK) == 0;
}

// A command with a '/' is used as is; a bare name is looked up beside certinboxd, then in PATH.
std::optional<fs::path> ResolveCommand(const std::string& command, std::string& why) {
  if (command.find('/') != std::string::npos) {
    if (Executable(command)) return fs::path(command);
    why = "cannot start " + command + ": " +
          (::access(command.c_str(), F_OK) == 0 ? "not an executable file" : "no such file");
    return std::nullopt;
  }
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec).parent_path();
  if (!ec && Executable(self / command)) return self / command;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    if (dir.empty()) continue;
    if (Executable(fs::path(dir) / command)) return fs::path(dir) / command;
  }
  why = "cannot start '" + command + "': not found beside certinboxd (" + self.string() +
        ") nor in PATH";
  return std::nullopt;
}

// The plugin's folder: STATE_DIR/plugins/NAME, mode 0700, owned by the plugin's user (root's
// when it has none), so that a plugin reads and writes its own folder and no other's. Its
// parents let a plugin with a user through (search only: 0711 for plugins/, the x bit for
// others on the state folder), not list them; every file the daemon keeps there is 0600.
// Returns why it failed, or "".
std::string PrepareFolder(const fs::path& state_dir, const fs::path& dir,
                          const PluginConfig& config, const std::error_code& made) {
  if (made) return made.message();
  if (::chmod(dir.parent_path().c_str(), 0711) != 0) return std::strerror(errno);
  if (config.uid && *config.uid != ::geteuid()) {
    struct stat st {};
    if (::stat(state_dir.c_str(), &st) != 0) return std::strerror(errno);
    if ((st.st_mode & S_IXOTH) == 0 &&
        ::chmod(state_dir.c_str(), (st.st_mode & 07777) | S_IXOTH) != 0) {
      return std::strerror(errno);
    }
  }
  // Through a descriptor, never following a link: plugins/ is root's, but a folder a plugin
  // owned may have been anything when it ran as another user.
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  const uid_t uid = config.uid.value_or(::geteuid());
  const gid_t gid = config.uid ? config.gid.value_or(uid) : ::getegid();
  int rc = ::fchown(fd, uid, gid);
  if (rc == 0) rc = ::fchmod(fd, 0700);
  std::string why = rc == 0 ? "" : std::strerror(errno);
  ::close(fd);
  return why;
}

}  // namespace

// One plugin's output stream (stdout or stderr), read line by line into the log.
struct OutputStream {
  uv_pipe_t pipe{};
  PluginSupervisor::Run* run = nullptr;
  bool is_stderr = false;
  bool open = false;
  std::string partial;    // a line not ended yet, at most kMaxLineBytes
  bool skipping = false;  // the rest of a line that was cut
  std::array<char, 16384> buffer{};
};

struct PluginSupervisor::Plugin {
  PluginSupervisor* owner = nullptr;  // null once the supervisor is gone
  PluginConfig config;
  std::optional<PluginConfig> next;  // a changed config, started once this run has exited
  bool removed = false;              // stopping for good: forget it once it exited
  Run* run = nullptr;                // the process running, if any
  int pid = 0;
  bool terminating = false;
  int64_t restarts = 0;
  base::UnixTime started_at = 0;
  uint64_t started_ms = 0;
  std::string last_exit, last_error, kill_reason;
  uint64_t backoff_ms = kFirstBackoffMs;
  base::UvHandlePtr<uv_timer_t> restart_timer;
  base::UvHandlePtr<uv_timer_t> kill_timer;
  // Hang detection.
  std::optional<int64_t> cursor;
  uint64_t moved_ms = 0;
  std::optional<uint64_t> pending_ms;
  // Log rate limit.
  uint64_t window_ms = 0;
  int lines = 0;
  uint64_t suppressed = 0;

  const PluginConfig& wanted() const { return next ? *next : config; }

  void EndWindow() {
    if (suppressed > 0) {
      spdlog::warn("plugin {}: {} lines suppressed (more than {} in {} s)", config.name, suppressed,
                   kLinesPerWindow, kLogWindowMs / 1000);
    }
    window_ms = 0;
    lines = 0;
    suppressed = 0;
  }

  void Log(uv_loop_t* loop, bool is_stderr, std::string_view line) {
    uint64_t now = uv_now(loop);
    if (window_ms != 0 && now - window_ms >= kLogWindowMs) EndWindow();
    if (window_ms == 0) window_ms = now;
    if (lines >= kLinesPerWindow) {
      ++suppressed;
      return;
    }
    ++lines;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // A plugin may run as another user: what it prints can neither forge log lines nor drive
    // the terminal of whoever reads the log.
    const std::string text = base::Escape(line);
    if (is_stderr) {
      spdlog::warn("plugin {}: {}", config.name, text);
    } else {
      spdlog::info("plugin {}: {}", config.name, text);
    }
  }
};

// One started process and its two pipes. Deletes itself once all three handles are closed;
// holds its Plugin so that late output still has a name and a rate limit.
struct PluginSupervisor::Run {
  std::shared_ptr<Plugin> plugin;
  uv_loop_t* loop = nullptr;
  uv_process_t process{};
  bool process_open = false;
  OutputStream out, err;

  void Close(uv_handle_t* handle) {
    uv_close(handle, [](uv_handle_t* closed) {
      Run* run = nullptr;
      if (uv_handle_get_type(closed) == UV_PROCESS) {
        run = static_cast<Run*>(closed->data);
        run->process_open = false;
      } else {
        auto* stream = static_cast<OutputStream*>(closed->data);
        run = stream->run;
        stream->open = false;
      }
      if (!run->process_open && !run->out.open && !run->err.open) delete run;
    });
  }

  void Feed(OutputStream& stream, const char* data, size_t size) {
    while (size > 0) {
      const char* newline = static_cast<const char*>(std::memchr(data, '\n', size));
      size_t take = newline ? static_cast<size_t>(newline - data) : size;
      if (!stream.skipping) {
        size_t room = kMaxLineBytes - stream.partial.size();
        stream.partial.append(data, std::min(take, room));
        if (take > room) {
          plugin->Log(loop, stream.is_stderr, stream.partial + " [line cut at 4 KiB]");
          stream.partial.clear();
          stream.skipping = true;
        }
      }
      if (!newline) return;
      if (!stream.skipping) plugin->Log(loop, stream.is_stderr, stream.partial);
      stream.partial.clear();
      stream.skipping = false;
      size -= take + 1;
      data = newline + 1;
    }
  }

  void Flush(OutputStream& stream) {
    if (!stream.skipping && !stream.partial.empty()) {
      plugin->Log(loop, stream.is_stderr, stream.partial);
    }
    stream.partial.clear();
  }

  void StartReading(OutputStream& stream) {
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&stream.pipe),
        [](uv_handle_t* handle, size_t, uv_buf_t* buf) {
          auto* s = static_cast<OutputStream*>(handle->data);
          *buf = uv_buf_init(s->buffer.data(), static_cast<unsigned>(s->buffer.size()));
        },
        [](uv_stream_t* handle, ssize_t nread, const uv_buf_t* buf) {
          auto* s = static_cast<OutputStream*>(handle->data);
          if (nread > 0) {
            s->run->Feed(*s, buf->base, static_cast<size_t>(nread));
          } else if (nread < 0) {
            s->run->Flush(*s);
            uv_read_stop(handle);
            s->run->Close(reinterpret_cast<uv_handle_t*>(handle));
          }
        });
  }

  // At exit: what the pipe holds now is read at once, then it is closed, so that a child the
  // plugin left behind cannot keep it (and this Run) open.
  void DrainAndClose(OutputStream& stream) {
    if (!stream.open || uv_is_closing(reinterpret_cast<uv_handle_t*>(&stream.pipe))) return;
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&stream.pipe), &fd) == 0) {
      for (int chunks = 0; chunks < 64; ++chunks) {  // bounded: a writer may still be alive
        ssize_t n = ::read(fd, stream.buffer.data(), stream.buffer.size());
        if (n <= 0) break;
        Feed(stream, stream.buffer.data(), static_cast<size_t>(n));
      }
    }
    Flush(stream);
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&stream.pipe));
    Close(reinterpret_cast<uv_handle_t*>(&stream.pipe));
  }
};

PluginSupervisor::PluginSupervisor(uv_loop_t* loop, storage::Inventory& inventory, Options options)
    : loop_(loop), inventory_(inventory), options_(std::move(options)) {
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
    auto created = inventory_.AckCursor(CursorOf(name), options_.last_seq(), base::UnixNow());
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
  auto file = ResolveCommand(config.command, why);
  if (!file) return StartFailed(plugin, why);

  // The user it runs as: set between fork and exec by libuv (setgroups(0), setgid, setuid, in
  // that order; a failed setgid or setuid fails the start). setgroups only works for root: a
  // daemon that is not root can start plugins only as itself.
  const bool other_user = config.uid && *config.uid != ::geteuid();
  if (other_user && ::geteuid() != 0) {
    return StartFailed(plugin, "cannot run as user '" + config.user + "': certinboxd runs as uid " +
                                   std::to_string(::geteuid()) + ", not root");
  }

  std::error_code ec;
  fs::path dir = PluginDir(config.name);
  fs::create_directories(dir, ec);
  if (auto made = PrepareFolder(options_.state_dir, dir, config, ec); !made.empty()) {
    return StartFailed(plugin, "cannot create its folder " + dir.string() + ": " + made);
  }

  // The daemon's environment, then the plugin's `env`, then the CERTINBOX_* variables.
  std::map<std::string, std::string> env_map;
  for (char** var = environ; var && *var; ++var) {
    std::string_view text(*var);
    size_t eq = text.find('=');
    if (eq != std::string_view::npos)
      env_map[std::string(text.substr(0, eq))] = text.substr(eq + 1);
  }
  for (auto& [var, value] : Environment(config.name)) env_map[var] = value;
  std::vector<std::string> env_strings;
  for (const auto& [var, value] : env_map) env_strings.push_back(var + "=" + value);
  std::vector<char*> env;
  for (auto& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  std::string file_string = file->string();
  std::vector<std::string> arg_strings = {config.command};
  arg_strings.insert(arg_strings.end(), config.args.begin(), config.args.end());
  std::vector<char*> args;
  for (auto& s : arg_strings) args.push_back(s.data());
  args.push_back(nullptr);
  std::string cwd = dir.string();

  auto* run = new Run;
  run->plugin = plugin;
  run->loop = loop_;
  run->process.data = run;
  for (OutputStream* stream : {&run->out, &run->err}) {
    uv_pipe_init(loop_, &stream->pipe, 0);
    stream->pipe.data = stream;
    stream->run = run;
    stream->open = true;
  }
  run->err.is_stderr = true;
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;  // /dev/null
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&run->out.pipe);
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&run->err.pipe);
  uv_process_options_t options{};
  options.file = file_string.c_str();
  options.args = args.data();
  options.env = env.data();
  options.cwd = cwd.c_str();
  options.flags = UV_PROCESS_DETACHED;  // its own session and process group
  if (config.uid) {
    options.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
    options.uid = *config.uid;
    options.gid = config.gid.value_or(*config.uid);
  }
  options.stdio_count = 3;
  options.stdio = stdio;
  options.exit_cb = [](uv_process_t* process, int64_t exit_status, int term_signal) {
    auto* run = static_cast<Run*>(process->data);
    std::shared_ptr<Plugin> plugin = run->plugin;
    int pid = process->pid;
    // Whatever the plugin left in its group goes with it.
    ::kill(-pid, SIGKILL);
    run->DrainAndClose(run->out);
    run->DrainAndClose(run->err);
    run->Close(reinterpret_cast<uv_handle_t*>(process));
    if (plugin->run == run) plugin->run = nullptr;
    if (plugin->owner) plugin->owner->OnExit(*plugin, exit_status, term_signal);
  };
  run->process_open = true;
  int rc = uv_spawn(loop_, &run->process, &options);
  if (rc != 0) {
    for (OutputStream* stream : {&run->out, &run->err}) {
      run->Close(reinterpret_cast<uv_handle_t*>(&stream->pipe));
    }
    run->Close(reinterpret_cast<uv_handle_t*>(&run->process));
    return StartFailed(plugin, "cannot start " + file_string + ": " + uv_strerror(rc));
  }
  plugin->run = run;
  plugin->pid = run->process.pid;
  plugin->terminating = false;
  plugin->started_at = base::UnixNow();
  plugin->started_ms = uv_now(loop_);
  plugin->moved_ms = plugin->started_ms;
  plugin->pending_ms.reset();
  auto seq = inventory_.CursorSeq(CursorOf(config.name));
  plugin->cursor = seq ? seq->value_or(0) : 0;
  run->StartReading(run->out);
  run->StartReading(run->err);
  spdlog::info("plugin {} started (pid {}): {}", config.name, plugin->pid, file_string);
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
    plugin.last_error = term_signal ? "killed by signal " + std::to_string(term_signal)
                                    : "exited with status " + std::to_string(exit_status);
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
    if (plugin->window_ms != 0 && now - plugin->window_ms >= kLogWindowMs) plugin->EndWindow();
    CheckHung(*plugin, now);
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
  if (it != plugins_.end()) it->second->last_error = message;
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
    list.push_back({{"name", name},
                    {"command", plugin->config.command},
                    {"enabled", plugin->config.enabled},
                    {"events", plugin->config.events},
                    {"state", state},
                    {"pid", running ? json(plugin->pid) : json(nullptr)},
                    {"restarts", plugin->restarts},
                    {"started_at", plugin->started_at ? json(base::FormatRfc3339(plugin->started_at))
                                                      : json(nullptr)},
                    {"last_exit", or_null(plugin->last_exit)},
                    {"last_error", or_null(plugin->last_error)},
                    {"cursor", cursor},
                    {"behind", behind}});
  }
  return list;
}

}  // namespace certinbox::daemon
