// Config reload: on SIGHUP and when the config file changes. A config that fails to validate is
// refused (config.rejected with every FILE:LINE:COLUMN problem) and the running one stays; a
// valid one is applied without a restart (config.reloaded with what changed), except for the
// settings that need one (DiffConfig's restart_required).
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "base/time.h"
#include "base/wire.h"
#include "daemon/daemon.h"
#include "pipeline/ossl.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Editors and config-management tools write a file in several steps (truncate, write, rename);
// a reload waits this long after the last change it saw.
constexpr uint64_t kSettleMs = 300;
// How often inboxes a reload removed are checked for their last import in flight.
constexpr uint64_t kReapMs = 100;

std::string ReadBytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The config file's and its conf.d fragments' names and bytes, to tell a real change from a
// touch.
std::string ReadConfigBytes(const fs::path& file) {
  std::string all = ReadBytes(file);
  for (const fs::path& fragment : ConfigFragments(file)) {
    all += '\0' + fragment.filename().string() + '\0' + ReadBytes(fragment);
  }
  return all;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace

void Daemon::WatchConfigFile() {
  config_bytes_ = ReadConfigBytes(config_.file);
  loaded_config_ = config_;
  config_settle_ = base::NewUvTimer(&loop_, this);
  inbox_reaper_ = base::NewUvTimer(&loop_, this);
  WatchConfigFolder(false);
  WatchConfigFolder(true);
}

// Folders, not files: an editor's save or a tool's rename replaces the file's inode. In the
// config's folder only the config file and conf.d count; in conf.d/, every file. conf.d/ may be
// made, removed or replaced while the daemon runs, so each change of that name in the config's
// folder watches it again: every fragment written into it is then seen, not only the ones whose
// writing the folder's own event happened to cover.
void Daemon::WatchConfigFolder(bool fragments) {
  fs::path dir = config_.file.parent_path();
  if (fragments) {
    dir /= "conf.d";
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      fragments_watch_.reset();
      return;
    }
  }
  auto* handle = base::NewUvHandle<uv_fs_event_t>();
  uv_fs_event_init(&loop_, handle);
  handle->data = this;
  auto on_change = [](uv_fs_event_t* h, const char* filename, int, int status) {
    auto* self = static_cast<Daemon*>(h->data);
    if (status < 0 || self->stopping_) return;
    if (h == self->config_watch_.get()) {
      bool fragments_folder = filename == nullptr || std::string_view(filename) == "conf.d";
      if (filename && !fragments_folder && self->config_.file.filename() != filename) return;
      if (fragments_folder) self->WatchConfigFolder(true);
    }
    uv_timer_start(
        self->config_settle_.get(),
        [](uv_timer_t* timer) {
          auto* daemon = static_cast<Daemon*>(timer->data);
          if (ReadConfigBytes(daemon->config_.file) != daemon->config_bytes_) {
            daemon->Reload("the config changed");
          }
        },
        kSettleMs, 0);
  };
  int rc = uv_fs_event_start(handle, on_change, dir.c_str(), 0);
  if (rc != 0) {
    spdlog::warn("cannot watch {} for changes ({}): reload with SIGHUP", dir.string(),
                 uv_strerror(rc));
  }
  // The new watch starts before the old one closes, so no change falls between them.
  (fragments ? fragments_watch_ : config_watch_).reset(handle);
}

void Daemon::Reload(const std::string& why) {
  if (stopping_) return;
  notifier_->Reloading();
  ReloadConfig(why);
  notifier_->Ready();
}

void Daemon::ReloadConfig(const std::string& why) {
  config_bytes_ = ReadConfigBytes(config_.file);
  const base::UnixTime now = clock_.Now();
  auto loaded = LoadConfig(config_.file);
  if (!loaded) {
    std::vector<std::string> errors = Lines(loaded.error().message);
    spdlog::error("config reload ({}) refused, the running config stays:\n{}", why,
                  loaded.error().message);
    last_reload_ = {
        {"time", base::FormatRfc3339(now)}, {"outcome", "rejected"}, {"errors", errors}};
    auto event = inventory_->AppendEvent(
        base::topic::kConfigRejected,
        {{base::field::kFile, config_.file.string()}, {base::field::kErrors, std::move(errors)}},
        now);
    if (event) {
      publisher_->Publish(*event);
    } else {
      spdlog::error("cannot write config.rejected: {}", event.error().message);
    }
    return;
  }
  ConfigChanges changes = DiffConfig(config_, *loaded);
  // Settings that wait for a restart are reported when they change in the file, not again at
  // every reload after that.
  changes.restart_required = DiffConfig(loaded_config_, *loaded).restart_required;
  if (changes.empty()) {
    spdlog::info("config reload ({}): nothing changed", why);
    last_reload_ = {{"time", base::FormatRfc3339(now)}, {"outcome", "unchanged"}};
    // An inbox that could not be watched is tried again (its folder may be there now).
    if (!unwatched_inboxes_.empty()) ApplyInboxes();
    return;
  }
  loaded_config_ = *loaded;
  Config next = ApplicableConfig(config_, std::move(*loaded));
  Config previous = std::exchange(config_, std::move(next));

  spdlog::set_level(spdlog::level::from_str(config_.log_level));
  inventory_->SetOptions({.expiry = config_.expiry, .max_versions = config_.max_versions});
  if (previous.expiry != config_.expiry || previous.scan_interval_s != config_.scan_interval_s) {
    expiry_->Reconfigure(config_.scan_interval_s);
  }
  if (previous.event_retention_s != config_.event_retention_s) {
    pruner_->Reconfigure(config_.event_retention_s);
  }
  ApplyInboxes();
  if (zap_ && previous.clients != config_.clients) zap_->SetClients(config_.clients);
  if (previous.bindings != config_.bindings) bindings_->Reconcile();
  if (previous.plugins != config_.plugins) {
    GrantPluginUsers();
    plugins_->Apply(config_.plugins);
  }

  for (const auto& line : changes.applied) spdlog::info("config reload ({}): {}", why, line);
  for (const auto& line : changes.restart_required) {
    spdlog::warn("config reload ({}): {} takes effect at the next start", why, line);
  }
  last_reload_ = {{"time", base::FormatRfc3339(now)},
                  {"outcome", "reloaded"},
                  {"changed", changes.applied},
                  {"restart_required", changes.restart_required}};
  auto event = inventory_->AppendEvent(base::topic::kConfigReloaded,
                                       {{base::field::kFile, config_.file.string()},
                                        {base::field::kChanged, changes.applied},
                                        {base::field::kRestartRequired, changes.restart_required}},
                                       now);
  if (event) {
    publisher_->Publish(*event);
  } else {
    spdlog::error("cannot write config.reloaded: {}", event.error().message);
  }
}

// Makes the running inboxes those of config_: unchanged ones keep their watcher; removed and
// changed ones are retired (no new files; destroyed after their last import in flight); new and
// changed ones start, each once no retiring inbox still watches its folder.
void Daemon::ApplyInboxes() {
  for (size_t i = 0; i < inboxes_.size();) {
    const InboxConfig& running = inboxes_[i]->config;
    auto same = std::find(config_.inboxes.begin(), config_.inboxes.end(), running);
    if (same != config_.inboxes.end()) {
      ++i;
      continue;
    }
    spdlog::info("inbox {} ({}) is no longer watched as before: retiring it", running.name,
                 running.path.string());
    inboxes_[i]->retired = true;
    retiring_.push_back(std::move(inboxes_[i]));
    inboxes_.erase(inboxes_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  std::erase_if(unwatched_inboxes_, [&](const UnwatchedInbox& unwatched) {
    return std::none_of(config_.inboxes.begin(), config_.inboxes.end(),
                        [&](const InboxConfig& c) { return c.name == unwatched.name; });
  });
  waiting_inboxes_.clear();
  for (const InboxConfig& wanted : config_.inboxes) {
    bool running = std::any_of(inboxes_.begin(), inboxes_.end(),
                               [&](const auto& inbox) { return inbox->config == wanted; });
    if (!running) waiting_inboxes_.push_back(wanted);
  }
  ReapRetiredInboxes();
}

void Daemon::ReapRetiredInboxes() {
  std::erase_if(retiring_, [](const std::unique_ptr<Inbox>& inbox) { return inbox->jobs == 0; });
  for (auto it = waiting_inboxes_.begin(); it != waiting_inboxes_.end();) {
    bool folder_busy = std::any_of(retiring_.begin(), retiring_.end(), [&](const auto& inbox) {
      return inbox->config.path == it->path;
    });
    if (folder_busy || stopping_) {
      ++it;
      continue;
    }
    StartInbox(*it);
    it = waiting_inboxes_.erase(it);
  }
  if (!inbox_reaper_) return;
  if ((retiring_.empty() && waiting_inboxes_.empty()) || stopping_) {
    uv_timer_stop(inbox_reaper_.get());
  } else if (!uv_is_active(reinterpret_cast<uv_handle_t*>(inbox_reaper_.get()))) {
    uv_timer_start(
        inbox_reaper_.get(),
        [](uv_timer_t* timer) { static_cast<Daemon*>(timer->data)->ReapRetiredInboxes(); }, kReapMs,
        kReapMs);
  }
}

}  // namespace certinbox::daemon
