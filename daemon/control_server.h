// The control socket (ROUTER): JSON requests in, JSON replies out, on the loop thread.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/error.h"
#include "base/uv_handle.h"
#include "daemon/curve_auth.h"
#include "daemon/ipc_file.h"
#include "pipeline/error.h"

namespace certinbox::daemon {

class ControlServer {
 public:
  // Answers one request; runs on the loop thread. A thrown exception becomes an
  // "internal_error" reply, never a crash.
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  // Sends the reply to one request. Call it exactly once, on the loop thread, now or later
  // (later calls are ignored). The server keeps the request's ROUTER envelope until then; a
  // reply made after the server was destroyed (daemon stopping) is dropped.
  using Reply = std::function<void(nlohmann::json reply)>;
  // Answers one request through `reply`, at once or later: an op with CPU work (generating an
  // RSA key) starts it on libuv's thread pool and replies from its after-work callback, so the
  // loop and other requests are not held up. Runs on the loop thread; a thrown exception
  // becomes an "internal_error" reply.
  using AsyncHandler = std::function<void(const nlohmann::json& request, Reply reply)>;
  // Who sent a request, as far as the transport tells: on ipc:// libzmq reports the peer's
  // credentials (SO_PEERCRED) in the "Peer-Address" property as "...:UID:GID:PID".
  // On tcp:// (CURVE), the ZAP handler's User-Id: the [[bus.client]] name of the key it came
  // with; the daemon looks its role up per request (a reload may change it).
  struct Peer {
    std::optional<uint32_t> uid;  // none: the transport does not say
    std::string name;             // the CURVE client's name; "" on ipc://
    std::string role;             // its role, set by the daemon; "" on ipc://
    // For the log and the audit rows: "curve:NAME", "uid N" or "unknown peer".
    std::string Who() const;
  };
  // The server's handler: AsyncHandler with the request's peer.
  using RequestHandler =
      std::function<void(const nlohmann::json& request, const Peer& peer, Reply reply)>;

  // Binds `endpoint` (ipc:// files mode 0660) and watches it with a uv_poll on ZMQ_FD.
  static base::Result<std::unique_ptr<ControlServer>> Bind(uv_loop_t* loop, zmq::context_t& context,
                                                           const std::string& endpoint,
                                                           Handler handler);
  // The same with a handler that may reply later. A tcp:// endpoint is bound only with
  // `access.curve` (clients are admitted by the ZAP handler, daemon/curve_auth.h); an ipc://
  // one with `access`'s uid/gid filters when it has any.
  static base::Result<std::unique_ptr<ControlServer>> BindAsync(uv_loop_t* loop,
                                                                zmq::context_t& context,
                                                                const std::string& endpoint,
                                                                RequestHandler handler,
                                                                const SocketAccess& access = {});
  ~ControlServer();

  static nlohmann::json ErrorReply(const std::string& code, const std::string& message);

 private:
  ControlServer(zmq::socket_t socket, RequestHandler handler);
  static void OnReadable(uv_poll_t* poll, int status, int events) noexcept;
  void Drain() noexcept;
  void Answer(std::vector<zmq::message_t>& frames) noexcept;
  void Send(const std::vector<zmq::message_t>& envelope, const nlohmann::json& reply) noexcept;

  IpcSocketFile file_;  // before socket_: removed once the socket is closed
  zmq::socket_t socket_;
  RequestHandler handler_;
  // Replies pending past this server's life hold a weak reference to it and are dropped.
  std::shared_ptr<ControlServer*> self_ = std::make_shared<ControlServer*>(this);
  base::UvHandlePtr<uv_poll_t> poll_;
  // Drain() answers a bounded number of requests per loop turn and continues on the next one
  // (this idle handle), so that a client flooding the socket cannot starve imports and timers.
  // Not a zero timer: a timer restarted from its own callback runs again in the same turn.
  base::UvHandlePtr<uv_idle_t> resume_;
};

}  // namespace certinbox::daemon
