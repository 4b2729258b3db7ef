#include "daemon/daemon.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <set>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/text.h"
#include "base/time.h"
#include "daemon/ops/bindings.h"
#include "daemon/ops/csr.h"
#include "daemon/ops/entries.h"
#include "daemon/ops/events.h"
#include "daemon/ops/export.h"
#include "daemon/ops/failed.h"
#include "daemon/ops/plugin_env.h"
#include "daemon/ops/plugins.h"
#include "daemon/ops/status.h"
#include "daemon/ops/versions.h"
#include "pipeline/ossl.h"
#include "storage/actor.h"
#include "storage/vault.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

}  // namespace

Daemon::Daemon(Config config, const base::Clock& clock)
    : config_(std::move(config)), clock_(clock), zmq_(1) {}

Daemon::~Daemon() {
  // Handles first (they close through the loop), then the loop itself.
  http_.reset();
  control_.reset();
  notifier_.reset();
  config_watch_.reset();
  fragments_watch_.reset();
  config_settle_.reset();
  inbox_reaper_.reset();
  expiry_.reset();
  pruner_.reset();
  plugins_.reset();
  imports_.reset();
  inboxes_.clear();
  retiring_.clear();
  signals_.clear();
  if (zap_) zap_->StopPolling();  // its socket stays open until the publisher is closed
  if (loop_ready_) {
    uv_run(&loop_, UV_RUN_DEFAULT);  // let pending closes finish
    if (uv_loop_close(&loop_) != 0) spdlog::warn("libuv loop closed with handles still open");
  }
  publisher_.reset();
  // Last: a socket with CURVE whose ZAP handler is gone would admit any key.
  zap_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

base::Result<void> Daemon::LockStateDir() {
  std::error_code ec;
  fs::create_directories(config_.state_dir, ec);
  if (ec) {
    return base::Fail(base::code::kStateDir, "cannot create the state directory " +
                                                 config_.state_dir.string() + ": " + ec.message());
  }
  ::chmod(config_.state_dir.c_str(), 0750);
  fs::path lock = config_.state_dir / "certinboxd.lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd_ < 0) {
    return base::Fail(base::code::kStateDir,
                      "cannot open " + lock.string() + ": " + std::strerror(errno));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return base::Fail(
        base::code::kAlreadyRunning,
        "another certinboxd already uses the state directory " + config_.state_dir.string());
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) == 0) (void)!::write(lock_fd_, pid.data(), pid.size());
  return {};
}

base::Result<void> Daemon::Start() {
  started_at_ = clock_.Now();
  // Before the master key is read: no core dump holds it, and a process of the daemon's user
  // without CAP_SYS_PTRACE cannot ptrace it or read its /proc/PID/mem and environ.
  if (!config_.dumpable && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return base::Fail(base::code::kInternalError,
                      std::string("prctl(PR_SET_DUMPABLE, 0): ") + std::strerror(errno));
  }
  if (auto locked = LockStateDir(); !locked) return locked;
  if (int rc = uv_loop_init(&loop_); rc != 0) {
    return base::Fail(base::code::kInternalError, std::string("uv_loop_init: ") + uv_strerror(rc));
  }
  loop_ready_ = true;
  StartNotifier();

  // PKCS#12 files from older Windows and Java tools use RC2/3DES, found in the legacy provider.
  if (!pipeline::LoadOpensslProviders()) {
    spdlog::warn(
        "OpenSSL's legacy provider cannot be loaded: PKCS#12 files encrypted with RC2 or "
        "3DES will be rejected (install the ossl-modules of libssl3)");
  }

  if (auto opened = OpenStorage(); !opened) return opened;

  if (auto curve = StartCurve(); !curve) return curve;
  const SocketAccess access = BusAccess();
  auto publisher = Publisher::Bind(zmq_, config_.publish_endpoint, config_.publish_hwm, access);
  if (!publisher) return std::unexpected(publisher.error());
  publisher_ = std::move(*publisher);
  if (auto published = PublishBacklog(); !published) return published;

  if (auto bound = BindControl(access); !bound) return bound;
  // Bound before any plugin starts, so that a port in use stops the start cleanly; requests
  // are served once the loop runs, when every part /metrics reads exists.
  if (auto listening = StartHttp(); !listening) return listening;

  imports_ = std::make_unique<ImportService>(&loop_, *inventory_, *publisher_, clock_,
                                             config_.system_trust);
  if (auto started = imports_->Start(); !started) return started;

  // The first scan runs on the loop's first turn: it announces what expired or crossed a
  // threshold while the daemon was down, once (the catch-up rule is the inventory's).
  expiry_ = std::make_unique<ExpiryScheduler>(&loop_, *inventory_, *publisher_, clock_,
                                              config_.scan_interval_s);
  imports_->set_after_store([this] {
    expiry_->ScanSoon();
    bindings_->ReconcilePending();
  });
  expiry_->Start();
  pruner_ = std::make_unique<OutboxPruner>(&loop_, *inventory_, *publisher_, clock_,
                                           config_.event_retention_s);
  pruner_->Start();
  bindings_ = std::make_unique<BindingReconciler>(*inventory_, *publisher_, config_, clock_);
  bindings_->Reconcile();

  WatchSignals();
  StartInboxes();
  WatchConfigFile();
  plugins_ = std::make_unique<PluginSupervisor>(
      &loop_, *inventory_, clock_,
      PluginSupervisor::Options{.state_dir = config_.state_dir,
                                .control_endpoint = config_.control_endpoint,
                                .publish_endpoint = config_.publish_endpoint,
                                .last_seq = [this] { return publisher_->last_published_seq(); }});
  GrantPluginUsers();
  plugins_->Apply(config_.plugins);
  RegisterOps();
  spdlog::info("certinboxd {} started: {} inbox(es), events on {}, control on {}", ops::kVersion,
               inboxes_.size(), config_.publish_endpoint, config_.control_endpoint);
  // Only now: the inboxes are watched and every socket and the HTTP listener are bound.
  notifier_->Ready();
  return {};
}

// The control socket: each request gets its peer's role, the access check, then its op.
base::Result<void> Daemon::BindControl(const SocketAccess& access) {
  auto control = ControlServer::BindAsync(
      &loop_, zmq_, config_.control_endpoint,
      [this](const json& body, ControlServer::Peer peer, ControlServer::Reply reply) {
        if (!peer.name.empty()) {  // a CURVE client: its role, as the running config says
          auto client = std::find_if(config_.clients.begin(), config_.clients.end(),
                                     [&](const BusClient& c) { return c.name == peer.name; });
          if (client != config_.clients.end()) peer.role = client->role;
        }
        const ops::Request request(body, peer);
        if (auto refused = access_.Refusal(request)) return reply(ops::ErrorReply(*refused));
        access_.LogWhoAsked(request);
        ops_.Dispatch(request, std::move(reply));
      },
      access);
  if (!control) return std::unexpected(control.error());
  control_ = std::move(*control);
  return {};
}

// The master key, the inventory it opens, and the WAL checkpoints of its database.
base::Result<void> Daemon::OpenStorage() {
  auto vault = storage::Vault::OpenOrCreate(config_.master_key_file);
  if (!vault) return std::unexpected(vault.error());
  auto inventory = storage::Inventory::Open(
      config_.database, std::move(*vault),
      {.expiry = config_.expiry, .max_versions = config_.max_versions}, [](int64_t missing) {
        spdlog::info(
            "reading the x509 labels of {} stored certificate(s) for /metrics (once, after an "
            "upgrade; about 8 s per 50,000)",
            missing);
      });
  if (!inventory) return std::unexpected(inventory.error());
  inventory_ = std::move(*inventory);
  auto checkpoints = WalCheckpoints::Start(&loop_, *inventory_, config_.database);
  if (!checkpoints) return std::unexpected(checkpoints.error());
  wal_checkpoints_ = std::move(*checkpoints);
  return {};
}

// SIGINT and SIGTERM stop the daemon; SIGHUP reloads the config.
void Daemon::WatchSignals() {
  for (int signum : {SIGINT, SIGTERM, SIGHUP}) {
    auto* handle = base::NewUvHandle<uv_signal_t>();
    uv_signal_init(&loop_, handle);
    handle->data = this;
    uv_signal_start(
        handle,
        [](uv_signal_t* h, int sig) {
          auto* self = static_cast<Daemon*>(h->data);
          if (sig == SIGHUP) {
            self->Reload("SIGHUP");
            return;
          }
          spdlog::info("signal {}: stopping", sig);
          self->Stop();
        },
        signum);
    signals_.emplace_back(handle);
  }
}

// Events committed before the last stop but not published then are published now.
base::Result<void> Daemon::PublishBacklog() {
  auto published = inventory_->PublishedSeq();
  if (!published) return std::unexpected(published.error());
  int64_t since = *published;
  publisher_->ResumeAfter(since);
  for (;;) {
    auto events = inventory_->EventsSince(since, 1000);
    if (!events) return std::unexpected(events.error());
    if (events->empty()) break;
    for (const auto& event : *events) publisher_->Publish(event);
    since = events->back().seq;
  }
  if (since != *published) {
    spdlog::info("published events {}..{} left from the last run", *published + 1, since);
    return inventory_->SetPublishedSeq(since);
  }
  return {};
}

void Daemon::StartInboxes() {
  for (const auto& inbox_config : config_.inboxes) StartInbox(inbox_config);
}

void Daemon::StartInbox(const InboxConfig& inbox_config) {
  auto inbox = std::make_unique<Inbox>();
  inbox->config = inbox_config;
  watchers::InboxOptions options{
      .name = inbox_config.name,
      .dir = inbox_config.path,
      .settle_ms = inbox_config.settle_ms,
      .rescan_ms = inbox_config.rescan_ms,
      .max_file_bytes = inbox_config.max_file_bytes,
      .archive = inbox_config.archive,
      .on_warning =
          [name = inbox_config.name](const std::string& warning) {
            spdlog::warn("inbox {}: {}", name, base::Escape(warning));  // names files
          },
  };
  Inbox* raw = inbox.get();
  options.on_settling = [this, raw](const watchers::ReadyFile& file) {
    if (!raw->retired) imports_->Prefetch(*raw, file);
  };
  auto watcher =
      watchers::InboxWatcher::Start(&loop_, options, [this, raw](const watchers::ReadyFile& file) {
        // A retired inbox (removed by a reload) takes nothing new; the file stays where it is.
        if (!raw->retired) imports_->Submit(*raw, file);
      });
  std::erase_if(unwatched_inboxes_,
                [&](const UnwatchedInbox& u) { return u.name == inbox_config.name; });
  if (!watcher) {
    spdlog::error("inbox {} ({}) is not watched: {}", inbox_config.name, inbox_config.path.string(),
                  watcher.error().message);
    unwatched_inboxes_.push_back(
        {.name = inbox_config.name, .path = inbox_config.path, .error = watcher.error().message});
    return;
  }
  inbox->watcher = std::move(*watcher);
  spdlog::info("watching inbox {} at {}", inbox_config.name, inbox_config.path.string());
  inboxes_.push_back(std::move(inbox));
}

int Daemon::Run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (inventory_ && publisher_) (void)inventory_->SetPublishedSeq(publisher_->last_published_seq());
  spdlog::info("certinboxd stopped");
  return 0;
}

size_t Daemon::abandoned_parses() const { return imports_ ? imports_->orphaned() : 0; }

void Daemon::Stop() {
  if (stopping_) return;
  stopping_ = true;
  notifier_->Stopping("stopping: storing the imports in flight, stopping the plugins");
  http_.reset();  // no new request; those waiting for an answer get 503 or are dropped
  ops_.Stop();
  // Plugins get SIGTERM now (SIGKILL 5 s later); the control socket stays open until they have
  // exited and the imports in flight are stored, whichever is last.
  auto waiting = std::make_shared<int>(2);
  auto close_control = [this, waiting] {
    if (--*waiting > 0) return;
    control_.reset();
    if (zap_) zap_->StopPolling();  // else its poll keeps the loop running
    signals_.clear();
    // Parses left on the pool would keep the loop running until they end: stop it now.
    if (imports_->orphaned() > 0) uv_stop(&loop_);
  };
  plugins_->Stop(close_control);
  // Stop watching first, then let the imports in flight finish and be stored.
  imports_->Drain([this, close_control] {
    expiry_->Stop();
    pruner_->Stop();
    config_watch_.reset();
    fragments_watch_.reset();
    config_settle_.reset();
    inbox_reaper_.reset();
    retiring_.clear();
    waiting_inboxes_.clear();
    inboxes_.clear();
    close_control();
  });
}

void Daemon::StartNotifier() {
  ServiceNotifier::Sources sources{
      .generation =
          [this] {
            const uint64_t seq = publisher_ ? publisher_->last_published_seq() : 0;
            const auto files =
                static_cast<uint64_t>(imports_ ? imports_->import_seconds().count() : 0);
            return (seq * 1000003 + files) * 31 + inboxes_.size();
          },
      .status = [this] { return ServiceStatus(); },
  };
  notifier_ = std::make_unique<ServiceNotifier>(&loop_, std::move(sources));
}

// One line for `systemctl status`: what the inventory holds and what the daemon has done.
std::string Daemon::ServiceStatus() {
  auto counts = inventory_->Count(clock_.Now());
  if (!counts) return "cannot count the inventory: " + counts.error().message;
  auto count = [](int64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  return count(counts->entries, "entry", "entries") + " (" + std::to_string(counts->expiring_soon) +
         " expiring soon, " + std::to_string(counts->expired) + " expired), " +
         count(static_cast<int64_t>(inboxes_.size()), "inbox", "inboxes") + " watched, " +
         count(imports_->import_seconds().count(), "file", "files") + " taken in since start";
}

// Every control op, by name: each group holds only the parts its ops use.
void Daemon::RegisterOps() {
  ops_.Install(std::make_unique<ops::EntryOps>(*inventory_, *publisher_, *imports_, clock_));
  ops_.Install(std::make_unique<ops::VersionOps>(*inventory_, *publisher_, clock_));
  ops_.Install(std::make_unique<ops::EventOps>(*inventory_, *publisher_, clock_));
  ops_.Install(std::make_unique<ops::FailedOps>(inboxes_));
  ops_.Install(std::make_unique<ops::CsrOps>(&loop_, *inventory_, *publisher_, *bindings_, clock_));
  ops_.Install(std::make_unique<ops::ExportOp>(*inventory_, config_, clock_));
  ops_.Install(
      std::make_unique<ops::BindingOps>(*inventory_, *publisher_, *bindings_, config_, clock_));
  ops_.Install(
      std::make_unique<ops::PluginOps>(*inventory_, *publisher_, *plugins_, config_, clock_));
  ops_.Install(std::make_unique<ops::PluginEnvOp>(*plugins_, config_));
  ops_.Install(
      std::make_unique<ops::StatusOp>(ops::StatusOp::Parts{.config = config_,
                                                           .inventory = *inventory_,
                                                           .publisher = *publisher_,
                                                           .imports = *imports_,
                                                           .wal_checkpoints = *wal_checkpoints_,
                                                           .plugins = *plugins_,
                                                           .bindings = *bindings_,
                                                           .inboxes = inboxes_,
                                                           .unwatched_inboxes = unwatched_inboxes_,
                                                           .curve_keys = curve_keys_.get(),
                                                           .zap = zap_.get(),
                                                           .started_at = started_at_,
                                                           .stopping = stopping_,
                                                           .last_reload = last_reload_,
                                                           .clock = clock_}));
}

}  // namespace certinbox::daemon
