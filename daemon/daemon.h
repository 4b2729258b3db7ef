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
#include "daemon/config.h"
#include "daemon/control_server.h"
#include "daemon/curve_auth.h"
#include "daemon/expiry_scheduler.h"
#include "daemon/import_service.h"
#include "daemon/outbox_pruner.h"
#include "daemon/plugin_supervisor.h"
#include "daemon/publisher.h"
#include "daemon/wal_checkpoints.h"
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

  // Makes the stored bindings what config_.bindings declares (daemon/ops_bindings.cc),
  // publishes the changes and remembers what could not be applied (for `status`). Called at
  // start, on reload, and after imports while declarations wait for their entry.
  void ReconcileBindings();

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
  void Reload(const std::string& why);
  void ApplyInboxes();
  void ReapRetiredInboxes();
  void Stop();
  // Control ops (docs/protocol.md): the table, and the handlers of each group of ops.
  void RegisterOps();
  void AddOp(std::string name, ControlServer::Handler handler);
  void RegisterVersionOps();  // ops_versions.cc: rollback, meta
  // An op that may reply later (CPU work on the thread pool): daemon/ops_csr.cc.
  void AddAsyncOp(std::string name, ControlServer::AsyncHandler handler);
  void Dispatch(const nlohmann::json& request, ControlServer::Reply reply);
  void RegisterCsrOps();     // daemon/ops_csr.cc: csr.create, csr.show
  void RegisterExportOps();  // daemon/ops_export.cc: export
  void RegisterPluginOps();  // daemon/ops_plugins.cc: plugin.hello, material, push.report, …
  nlohmann::json Handle(const nlohmann::json& request);
  nlohmann::json HandleLs(const nlohmann::json& request);
  nlohmann::json HandleStatus();
  // ops_events.cc: events, ack, cursors, cursor.delete.
  void RegisterEventOps();
  nlohmann::json HandleEvents(const nlohmann::json& request);
  nlohmann::json CursorsJson();
  void RegisterBindingOps();     // bind, unbind, rm
  void RegisterSupervisorOps();  // daemon/ops_supervisor.cc: plugin.env
  // ops_supervisor.cc (docs/plugins.md "Users"): lets the users of [[plugin]]s with `user`
  // connect to the ipc:// sockets (GrantIpcUsers), at start and after a reload.
  void GrantPluginUsers();
  // The refusal of a request from a plugin's user (peer_) that is not its plugin's business:
  // such a peer may ask only its own plugins' ops, `events` and `ack` of their cursors.
  std::optional<nlohmann::json> RefusedForPeer(const nlohmann::json& request) const;
  // ops_access.cc: the refusal of a request over tcp:// whose client's role does not allow it
  // (daemon/roles.h), and the log line of every change and key request with who asked.
  std::optional<nlohmann::json> RefusedForRole(const nlohmann::json& request) const;
  void LogWhoAsked(const nlohmann::json& request) const;
  // Binds the ZAP handler and loads the CURVE key pair when an endpoint is tcp://.
  base::Result<void> StartCurve();
  // Who may connect to the bus sockets: CURVE on tcp://, [bus] ipc_users/ipc_groups on ipc://
  // (with root, the daemon's user and the plugins' users).
  SocketAccess BusAccess() const;
  // status's "curve": null without a tcp:// endpoint.
  nlohmann::json CurveStatus() const;
  // The config's [[plugin]] of that name, or unknown_plugin with a message that lists the
  // configured ones (ops_supervisor.cc). Used by every op that names a plugin.
  base::Result<const PluginConfig*> ConfiguredPlugin(const std::string& name) const;
  void ReconcilePendingBindings();  // after imports, when a declaration waits for its entry

  // Publishes events a control op committed, in seq order.
  void PublishAll(const std::vector<storage::Event>& events);

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
  std::vector<std::unique_ptr<Inbox>> inboxes_;
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
  std::map<std::string, ControlServer::Handler> ops_;
  std::map<std::string, ControlServer::AsyncHandler> async_ops_;
  bool stopping_ = false;
  ControlServer::Peer peer_;  // of the request being dispatched, on the loop thread
  nlohmann::json binding_problems_ = nlohmann::json::array();  // the last reconciliation's
};

}  // namespace certinbox::daemon
