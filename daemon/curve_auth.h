// Authenticated tcp:// access (docs/protocol.md "Authentication"): the daemon's CURVE key pair
// and the ZAP handler that admits only the client keys of [[bus.client]].
#pragma once

#include <uv.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/error.h"
#include "base/uv_handle.h"
#include "daemon/config.h"
#include "pipeline/error.h"

namespace certinbox::daemon {

struct CurveServerKeys {
  std::string public_z85;  // 40 characters
  std::string secret_z85;  // wiped on destruction
  ~CurveServerKeys();
};

// The daemon's CURVE key pair: STATE_DIR/curve_server.key (the secret, mode 0600) and
// STATE_DIR/curve_server.pub (the public key, 0644, for clients), each one line of Z85 text.
// Made with zmq_curve_keypair on first start; read (without following symlinks) afterwards.
// Fails with "curve_keys" when they cannot be made or read, or do not form a pair.
base::Result<CurveServerKeys> LoadOrCreateServerKeys(const std::filesystem::path& state_dir);

// Who may connect to a socket the daemon binds, besides what its transport allows.
class ZapHandler;
struct SocketAccess {
  // tcp://: the daemon's key pair; the socket is a CURVE server whose clients the ZAP handler
  // admits. A tcp:// endpoint without it is not bound.
  const CurveServerKeys* curve = nullptr;
  // tcp://: also logs the handshakes that fail before ZAP is asked (a client without CURVE).
  ZapHandler* zap = nullptr;
  // ipc://: when either is non-empty, libzmq closes every connection whose peer (SO_PEERCRED)
  // has none of these uids, none of these gids as its gid, and is not a listed member of one
  // of these groups (ZMQ_IPC_FILTER_UID/GID), past what the socket file's mode allows.
  std::vector<uint32_t> ipc_uids, ipc_gids;
};

// Applies `access` to `socket` before it binds `endpoint`; `domain` is the ZAP domain
// ("control" or "events"). Throws zmq::error_t; fails ("bind_failed") for tcp:// without CURVE.
base::Result<void> ApplySocketAccess(zmq::socket_t& socket, const std::string& endpoint,
                                     const SocketAccess& access, const std::string& domain);

// The ZAP handler (RFC 27): a ZMQ_REP socket bound at inproc://zeromq.zap.01 in the daemon's
// context, read on the loop thread like the control socket. A CURVE client whose public key is
// one of the allowlist's is admitted with its name as the User-Id (the control server reads it
// per request); any other key, and any other mechanism, is refused (status 400: the client
// gets nothing) and logged once per key (at most kLoggedKeys keys, then one line a minute).
// Must be bound before the sockets that use it, and outlive them.
class ZapHandler {
 public:
  static constexpr size_t kLoggedKeys = 1024;

  static base::Result<std::unique_ptr<ZapHandler>> Bind(uv_loop_t* loop, zmq::context_t& context,
                                                        const std::vector<BusClient>& clients);
  ~ZapHandler();

  // Stops reading requests (the loop is closing); the socket stays bound, so connections
  // made from now on wait unanswered instead of being admitted without a check.
  void StopPolling();

  // Replaces the allowlist (a reload): connections made from now on are checked against it.
  void SetClients(const std::vector<BusClient>& clients);

  // Logs the failed handshakes of `socket` (tcp://, CURVE): a client without CURVE, or with a
  // wrong server key, never reaches ZAP. libzmq's monitor names the local endpoint only, so
  // these are counted and logged at most once a minute, not per client. Throws zmq::error_t.
  void WatchHandshakes(zmq::socket_t& socket, const std::string& domain);

  uint64_t admitted() const { return admitted_; }
  uint64_t refused() const { return refused_; }

 private:
  explicit ZapHandler(zmq::socket_t socket) : socket_(std::move(socket)) {}
  void Drain() noexcept;
  void Answer(std::vector<zmq::message_t>& frames);
  void LogRefusal(const std::string& key, const std::string& what);
  // At most one log line a minute: true, and the minute starts over, when the last was
  // `last_ms` or longer ago. Timed by the loop (uv_now, monotonic), as it is an interval and
  // not a time anyone sees; a wall-clock step cannot silence the log.
  bool MinutePassed(std::optional<uint64_t>& last_ms) const;
  struct Watch {
    ZapHandler* handler;
    std::string domain;
    zmq::socket_t pair;  // the monitor's events
    base::UvHandlePtr<uv_poll_t> poll;
  };
  static void OnHandshakeEvent(uv_poll_t* poll, int status, int events) noexcept;
  void DrainWatch(Watch& watch) noexcept;

  zmq::socket_t socket_;
  std::map<std::string, std::string> names_;   // public key (Z85) -> client name
  std::set<std::string> logged_;               // refused keys already logged
  std::optional<uint64_t> last_overflow_log_;  // loop time, ms
  uint64_t admitted_ = 0, refused_ = 0;
  base::UvHandlePtr<uv_poll_t> poll_;
  uv_loop_t* loop_ = nullptr;
  zmq::context_t* context_ = nullptr;
  std::vector<std::unique_ptr<Watch>> watches_;  // one monitor per tcp:// socket
  uint64_t failed_handshakes_ = 0;
  std::optional<uint64_t> last_handshake_log_;  // loop time, ms
};

}  // namespace certinbox::daemon
