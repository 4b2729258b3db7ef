// certinboxd: the one place that owns the loop and wires watchers -> pipeline -> storage ->
// publisher, and the control socket.
#pragma once

#include <uv.h>

#include <expected>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/error.h"
#include "base/time.h"
#include "base/uv_handle.h"
#include "daemon/binding_reconciler.h"
#include "daemon/config.h"
#include "daemon/control_server.h"
#include "daemon/curve_auth.h"
#include "daemon/expiry_scheduler.h"
#include "daemon/import_service.h"
#include "daemon/ops/access.h"
#include "daemon/ops/registry.h"
#include "daemon/outbox_pruner.h"
#include "daemon/plugin_supervisor.h"
#include "daemon/publisher.h"
#include "daemon/service_notifier.h"
#include "daemon/wal_checkpoints.h"
#include "daemon/web_api.h"
#include "http/server.h"
#include "storage/inventory.h"

namespace certinbox::daemon {

class Daemon {
 public:
  // Every "now" the daemon stores, shows or schedules by comes from `clock`, which must outlive
  // the daemon: certinboxd gives it base::SystemClock(), a test a clock it moves.
  Daemon(Config config, const base::Clock& clock);
  ~Daemon();

  // Opens state, binds sockets, publishes events left unpublished, starts the inboxes.
  base::Result<void> Start();
  // Runs the loop until SIGINT/SIGTERM (then drains in-flight imports) and closes everything.
  int Run();
  // After Run: parses left behind on libuv's pool at shutdown (inside a key derivation). When
  // not 0, the process must end with _Exit: destroying the loop, joining the pool or running
  // OpenSSL's exit handler under them would wait for them or crash.
  size_t abandoned_parses() const;

 private:
  base::Result<void> LockStateDir();
  base::Result<void> OpenStorage();
  void WatchSignals();
  base::Result<void> PublishBacklog();
  void StartInboxes();
  void StartInbox(const InboxConfig& inbox_config);

  // reload.cc: SIGHUP and changes of the config file reload it.
  void WatchConfigFile();
  void WatchConfigFolder(bool fragments);  // the config's folder, or its conf.d/ (again)
  // Reload between RELOADING=1 and READY=1 to systemd.
  void Reload(const std::string& why);
  void ReloadConfig(const std::string& why);
  void ApplyInboxes();
  void ReapRetiredInboxes();
  void Stop();
  base::Result<void> BindControl(const SocketAccess& access);
  // Installs every group of control ops (daemon/ops/), once the parts they use exist.
  void RegisterOps();
  // bus_access.cc: CURVE on tcp:// endpoints (the ZAP handler and the server's key pair), and
  // who may connect to the bus sockets: CURVE clients on tcp://, [bus] ipc_users/ipc_groups on
  // ipc:// (with root, the daemon's user and the plugins' users).
  base::Result<void> StartCurve();
  SocketAccess BusAccess() const;
  // Lets the users of [[plugin]]s with `user` connect to the ipc:// sockets (docs/plugins.md
  // "Users"), at start and after a reload.
  void GrantPluginUsers();
  // http_routes.cc: the [http] listener (none when it is off), its /metrics and the web page.
  base::Result<void> StartHttp();
  void ServeMetrics(http::Answer answer);
  // systemd's Type=notify (READY=1 at the end of Start, STATUS=, WATCHDOG=1, ...).
  void StartNotifier();
  std::string ServiceStatus();

  Config config_;
  const base::Clock& clock_;
  uv_loop_t loop_{};
  bool loop_ready_ = false;
  int lock_fd_ = -1;
  int64_t started_at_ = 0;
  zmq::context_t zmq_;
  // CURVE (tcp:// endpoints only). zap_ outlives every socket that uses it (~Daemon).
  std::unique_ptr<CurveServerKeys> curve_keys_;
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<storage::Inventory> inventory_;
  std::unique_ptr<WalCheckpoints> wal_checkpoints_;  // after inventory_: destroyed first
  std::unique_ptr<Publisher> publisher_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<ImportService> imports_;
  std::unique_ptr<ExpiryScheduler> expiry_;
  std::unique_ptr<OutboxPruner> pruner_;
  std::unique_ptr<PluginSupervisor> plugins_;  // started once the control socket is bound
  std::unique_ptr<BindingReconciler> bindings_;
  ops::Access access_{config_};
  ops::OpRegistry ops_;
  std::vector<std::unique_ptr<Inbox>> inboxes_;
  std::vector<UnwatchedInbox> unwatched_inboxes_;  // by config order; retried at each reload
  // Removed or changed by a reload, kept until their imports in flight are done.
  std::vector<std::unique_ptr<Inbox>> retiring_;
  // To start once no retiring inbox watches their folder.
  std::vector<InboxConfig> waiting_inboxes_;
  base::UvHandlePtr<uv_fs_event_t> config_watch_;     // the config file's folder
  base::UvHandlePtr<uv_fs_event_t> fragments_watch_;  // its conf.d/, if there is one
  base::UvHandlePtr<uv_timer_t> config_settle_;
  base::UvHandlePtr<uv_timer_t> inbox_reaper_;
  std::string config_bytes_;  // the config file as last loaded
  Config loaded_config_;      // as last loaded, before ApplicableConfig
  nlohmann::json last_reload_ = nullptr;
  std::vector<base::UvHandlePtr<uv_signal_t>> signals_;
  std::unique_ptr<http::Server> http_;
  // Held by each /metrics scrape from its start until its body is sent or dropped: the
  // scrapes in flight are its use_count() - 1.
  std::shared_ptr<char> scrapes_ = std::make_shared<char>();
  std::unique_ptr<WebApi> web_api_;  // the web page's API; outlives its reads on the pool
  std::unique_ptr<ServiceNotifier> notifier_;
  bool stopping_ = false;
};

}  // namespace certinbox::daemon
