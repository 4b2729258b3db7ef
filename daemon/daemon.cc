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
#include "daemon/control_args.h"
#include "pipeline/ossl.h"
#include "storage/actor.h"
#include "storage/vault.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kVersion = "0.1.0";

}  // namespace

Daemon::Daemon(Config config, const base::Clock& clock)
    : config_(std::move(config)), clock_(clock), zmq_(1) {}

Daemon::~Daemon() {
  // Handles first (they close through the loop), then the loop itself.
  control_.reset();
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

  RegisterOps();
  auto control = ControlServer::BindAsync(
      &loop_, zmq_, config_.control_endpoint,
      [this](const json& request, const ControlServer::Peer& peer, ControlServer::Reply reply) {
        peer_ = peer;  // for the ops that ask who is asking (plugin.env, export, roles)
        if (!peer_.name.empty()) {
          auto client = std::find_if(config_.clients.begin(), config_.clients.end(),
                                     [&](const BusClient& c) { return c.name == peer_.name; });
          if (client != config_.clients.end()) peer_.role = client->role;
        }
        Dispatch(request, reply);
        peer_ = {};
      },
      access);
  if (!control) return std::unexpected(control.error());
  control_ = std::move(*control);

  imports_ = std::make_unique<ImportService>(&loop_, *inventory_, *publisher_, clock_,
                                             config_.system_trust);
  if (auto started = imports_->Start(); !started) return started;

  // The first scan runs on the loop's first turn: it announces what expired or crossed a
  // threshold while the daemon was down, once (the catch-up rule is the inventory's).
  expiry_ = std::make_unique<ExpiryScheduler>(&loop_, *inventory_, *publisher_, clock_,
                                              config_.notify_days, config_.scan_interval_s);
  imports_->set_after_store([this] {
    expiry_->ScanSoon();
    ReconcilePendingBindings();
  });
  expiry_->Start();
  pruner_ = std::make_unique<OutboxPruner>(&loop_, *inventory_, *publisher_, clock_,
                                           config_.event_retention_s);
  pruner_->Start();
  ReconcileBindings();

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
  spdlog::info("certinboxd {} started: {} inbox(es), events on {}, control on {}", kVersion,
               inboxes_.size(), config_.publish_endpoint, config_.control_endpoint);
  return {};
}

// The master key, the inventory it opens, and the WAL checkpoints of its database.
base::Result<void> Daemon::OpenStorage() {
  auto vault = storage::Vault::OpenOrCreate(config_.master_key_file);
  if (!vault) return std::unexpected(vault.error());
  auto inventory = storage::Inventory::Open(
      config_.database, std::move(*vault),
      {.expiring_soon_days = config_.expiring_soon_days, .max_versions = config_.max_versions});
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
  if (!watcher) {
    spdlog::error("inbox {} ({}) is not watched: {}", inbox_config.name, inbox_config.path.string(),
                  watcher.error().message);
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

// Every control op, by name. Groups of ops live beside the feature they serve; each Add*Ops
// registers its own.
void Daemon::RegisterOps() {
  AddOp("ls", [this](const json& request) { return HandleLs(request); });
  AddOp("show", [this](const json& request) {
    auto entry = StringArg(request, "entry");
    if (!entry)
      return ControlServer::ErrorReply(base::code::kBadRequest, "'entry' (name or id) is required");
    auto shown = inventory_->Show(*entry, clock_.Now());
    if (!shown) return Failure(shown.error());
    // The key export audit log of this entry (daemon/ops_export.cc).
    if (auto exports = inventory_->KeyExports(shown->value("id", int64_t{0}))) {
      (*shown)["key_exports"] = std::move(*exports);
    }
    return json{{"entry", std::move(*shown)}};
  });
  AddOp("status", [this](const json&) { return HandleStatus(); });
  RegisterEventOps();
  RegisterVersionOps();
  RegisterCsrOps();
  RegisterExportOps();
  RegisterBindingOps();
  RegisterPluginOps();
  RegisterSupervisorOps();
}

void Daemon::AddOp(std::string name, ControlServer::Handler handler) {
  ops_[std::move(name)] = std::move(handler);
}

void Daemon::AddAsyncOp(std::string name, ControlServer::AsyncHandler handler) {
  async_ops_[std::move(name)] = std::move(handler);
}

void Daemon::Dispatch(const json& request, ControlServer::Reply reply) {
  if (auto refused = RefusedForRole(request)) return reply(std::move(*refused));
  if (auto refused = RefusedForPeer(request)) return reply(std::move(*refused));
  try {
    LogWhoAsked(request);
    storage::ScopedActor actor(peer_.Who());  // "by" in the events this request makes
    auto it = async_ops_.find(OpName(request));
    if (it == async_ops_.end()) return reply(Handle(request));
    it->second(request, reply);
  } catch (const std::invalid_argument& e) {
    reply(ControlServer::ErrorReply(base::code::kBadRequest, e.what()));
  }
}

void Daemon::PublishAll(const std::vector<storage::Event>& events) {
  for (const auto& event : events) publisher_->Publish(event);
}

json Daemon::Handle(const json& request) {
  std::string op;
  try {
    op = OpName(request);
  } catch (const std::invalid_argument& e) {
    return ControlServer::ErrorReply(base::code::kBadRequest, e.what());
  }
  auto it = ops_.find(op);
  if (it == ops_.end()) {
    std::string known;
    std::set<std::string> names;
    for (const auto& [name, handler] : ops_) names.insert(name);
    for (const auto& [name, handler] : async_ops_) names.insert(name);
    for (const auto& name : names) known += (known.empty() ? "" : ", ") + name;
    return ControlServer::ErrorReply(base::code::kBadRequest,
                                     "unknown op '" + Shorten(op) + "' (known: " + known + ")");
  }
  try {
    return it->second(request);
  } catch (const std::invalid_argument& e) {
    return ControlServer::ErrorReply(base::code::kBadRequest, e.what());
  }
}

json Daemon::HandleLs(const json& request) {
  storage::ListFilter filter;
  filter.status = StringArg(request, "status");
  filter.group = StringArg(request, "group");
  filter.label = StringArg(request, "label");
  filter.expiring_within_seconds = IntArg(request, "expiring_within", 0, kMaxSeconds);
  if (auto sort = StringArg(request, "sort")) {
    if (*sort != "name" && *sort != "expiry") {
      return ControlServer::ErrorReply(base::code::kBadRequest, "'sort' is name or expiry");
    }
    filter.sort = *sort;
  }
  static const std::set<std::string> kStatuses = {"valid", "expiring_soon", "expired",
                                                  "pre_activation"};
  if (filter.status && !kStatuses.contains(*filter.status)) {
    return ControlServer::ErrorReply(
        base::code::kBadRequest,
        "'status' is one of valid, expiring_soon, expired, pre_activation");
  }
  auto entries = inventory_->List(filter, clock_.Now());
  if (!entries) return Failure(entries.error());
  auto keys = inventory_->UnmatchedKeys();
  if (!keys) return Failure(keys.error());
  return {{"entries", std::move(*entries)}, {"unmatched_keys", std::move(*keys)}};
}

json Daemon::HandleStatus() {
  json inboxes = json::array();
  size_t backlog = 0;
  for (const auto& inbox : inboxes_) {
    backlog += inbox->watcher->Backlog();
    inboxes.push_back({{"name", inbox->config.name},
                       {"path", inbox->config.path.string()},
                       {"backlog", inbox->watcher->Backlog()}});
  }
  json counts = json::object();
  if (auto c = inventory_->Count(clock_.Now())) {
    counts = {{"entries", c->entries}, {"leaf", c->leaf},
              {"ca", c->ca},           {"unmatched_keys", c->unmatched_keys},
              {"valid", c->valid},     {"expiring_soon", c->expiring_soon},
              {"expired", c->expired}, {"pre_activation", c->pre_activation},
              {"imports", c->imports}, {"rejections", c->rejections}};
  }
  return {{"version", kVersion},
          {"pid", ::getpid()},
          {"uptime_seconds", clock_.Now() - started_at_},
          {"state", stopping_ ? "stopping" : "running"},
          {"publish_endpoint", config_.publish_endpoint},
          {"control_endpoint", config_.control_endpoint},
          {"last_seq", publisher_->last_published_seq()},
          {"imports_in_flight", imports_->in_flight() + imports_->queued()},
          {"dumpable", ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1},
          {"storage_fault", imports_->storage_fault()},
          {"curve", CurveStatus()},
          {"prefetches",
           {{"used", imports_->prefetches_used()}, {"redone", imports_->prefetches_redone()}}},
          {"wal_checkpoints",
           {{"completed", wal_checkpoints_->completed()},
            {"incomplete", wal_checkpoints_->incomplete()}}},
          {"backlog", backlog},
          {"counts", std::move(counts)},
          {"cursors", CursorsJson()},
          {"config", {{"file", config_.file.string()}, {"last_reload", last_reload_}}},
          {"inboxes", std::move(inboxes)},
          {"binding_problems", binding_problems_},
          {"plugins", plugins_ ? plugins_->StatusJson() : json::array()}};
}

}  // namespace certinbox::daemon
