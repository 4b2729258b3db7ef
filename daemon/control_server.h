// The control socket (ROUTER): JSON requests in, JSON replies out, on the loop thread.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "watchers/uv_handle.h"
#include "pipeline/error.h"

namespace certinbox::daemon {

class ControlServer {
 public:
  // Answers one request; runs on the loop thread. A thrown exception becomes an
  // "internal_error" reply, never a crash.
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

  // Binds `endpoint` (ipc:// files mode 0660) and watches it with a uv_poll on ZMQ_FD.
  static pipeline::Result<std::unique_ptr<ControlServer>> Bind(uv_loop_t* loop,
                                                               zmq::context_t& context,
                                                               const std::string& endpoint,
                                                               Handler handler);
  ~ControlServer();

  static nlohmann::json ErrorReply(const std::string& code, const std::string& message);

 private:
  ControlServer(zmq::socket_t socket, Handler handler);
  static void OnReadable(uv_poll_t* poll, int status, int events) noexcept;
  void Drain() noexcept;
  void Answer(std::vector<zmq::message_t>& frames) noexcept;

  zmq::socket_t socket_;
  Handler handler_;
  watchers::UvHandlePtr<uv_poll_t> poll_;
};

}  // namespace certinbox::daemon
