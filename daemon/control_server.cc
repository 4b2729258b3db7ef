#include "daemon/control_server.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <array>
#include <charconv>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/text.h"
#include "base/wire.h"
#include "daemon/publisher.h"
#include "daemon/wipe.h"
#include "plugins/sdk/limits.h"

namespace certinbox::daemon {
namespace {

constexpr int kRequestsPerTurn = 64;
constexpr size_t kMaxFrames = 3;  // identity, empty delimiter (REQ clients), body

// An error message names what was asked (an entry, an op); the ops cut what they echo, and this
// bounds the whole sentence whatever a storage or pipeline message quoted.
constexpr size_t kMaxErrorMessageBytes = 1024;

// libzmq (4.3, Linux) writes an ipc:// peer's SO_PEERCRED into "Peer-Address" as
// "ADDRESS:UID:GID:PID"; anything else (tcp://, an older libzmq) leaves the uid unknown.
ControlServer::Peer PeerOf(const zmq::message_t& frame) {
  ControlServer::Peer peer;
  const char* address = zmq_msg_gets(frame.handle(), "Peer-Address");
  if (!address) return peer;
  std::string_view text(address);
  std::array<std::string_view, 3> last;  // uid, gid, pid
  for (int i = 2; i >= 0; --i) {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return peer;
    last[i] = text.substr(colon + 1);
    text = text.substr(0, colon);
  }
  uint32_t uid = 0;
  auto [end, ec] = std::from_chars(last[0].data(), last[0].data() + last[0].size(), uid);
  if (ec == std::errc() && end == last[0].data() + last[0].size() && !last[0].empty()) {
    peer.uid = uid;
  }
  return peer;
}

// The ZAP handler's User-Id (the CURVE client's name); none on ipc://, where no ZAP runs.
std::string UserIdOf(const zmq::message_t& frame) {
  const char* user_id = zmq_msg_gets(frame.handle(), "User-Id");
  return user_id ? user_id : "";
}

}  // namespace

std::string ControlServer::Peer::Who() const {
  if (!name.empty()) return "curve:" + name;
  if (uid) return "uid " + std::to_string(*uid);
  return "unknown peer";
}

nlohmann::json ControlServer::ErrorReply(const std::string& code, const std::string& message) {
  return {{base::reply::kError,
           {{base::reply::kCode, code},
            {base::reply::kMessage, base::Shorten(message, kMaxErrorMessageBytes)}}}};
}

ControlServer::ControlServer(zmq::socket_t socket, RequestHandler handler)
    : socket_(std::move(socket)), handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  if (poll_) uv_poll_stop(poll_.get());
}

base::Result<std::unique_ptr<ControlServer>> ControlServer::Bind(uv_loop_t* loop,
                                                                 zmq::context_t& context,
                                                                 const std::string& endpoint,
                                                                 Handler handler) {
  return BindAsync(loop, context, endpoint,
                   [handler = std::move(handler)](const nlohmann::json& request, const Peer&,
                                                  Reply reply) { reply(handler(request)); });
}

base::Result<std::unique_ptr<ControlServer>> ControlServer::BindAsync(uv_loop_t* loop,
                                                                      zmq::context_t& context,
                                                                      const std::string& endpoint,
                                                                      RequestHandler handler,
                                                                      const SocketAccess& access) {
  std::unique_ptr<ControlServer> server;
  try {
    zmq::socket_t socket(context, zmq::socket_type::router);
    socket.set(zmq::sockopt::linger, 0);
    // libzmq drops the connection of a client whose frame is bigger, before it is buffered whole.
    socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(sdk::kMaxRequestBytes));
    if (auto applied = ApplySocketAccess(socket, endpoint, access, "control"); !applied) {
      return std::unexpected(applied.error());
    }
    if (auto free = RefuseIfListening(endpoint); !free) return std::unexpected(free.error());
    socket.bind(endpoint);
    IpcSocketFile file(endpoint);
    if (auto restricted = RestrictIpcEndpoint(endpoint); !restricted) {
      return std::unexpected(restricted.error());
    }
    server.reset(new ControlServer(std::move(socket), std::move(handler)));
    server->file_ = std::move(file);
    int fd = server->socket_.get(zmq::sockopt::fd);
    auto* poll = base::NewUvHandle<uv_poll_t>();
    if (int rc = uv_poll_init(loop, poll, fd); rc != 0) {
      delete poll;
      return base::Fail(base::code::kBindFailed, std::string("uv_poll_init: ") + uv_strerror(rc));
    }
    server->poll_.reset(poll);
    auto* resume = base::NewUvHandle<uv_idle_t>();
    uv_idle_init(loop, resume);
    resume->data = server.get();
    server->resume_.reset(resume);
    poll->data = server.get();
    uv_poll_start(poll, UV_READABLE, &ControlServer::OnReadable);
  } catch (const zmq::error_t& e) {
    return base::Fail(base::code::kBindFailed,
                      "cannot bind the control socket " + endpoint + ": " + e.what());
  }
  // ZMQ_FD is edge-triggered: requests that arrived before the poll started are read now.
  server->Drain();
  return server;
}

void ControlServer::OnReadable(uv_poll_t* poll, int status, int events) noexcept {
  static_cast<ControlServer*>(poll->data)->Drain();
}

void ControlServer::Drain() noexcept {
  try {
    // Read while ZMQ_EVENTS says POLLIN: the fd only signals edges. After kRequestsPerTurn
    // requests the rest waits for the next loop turn; the fd will not signal them again, so
    // the idle handle comes back for them.
    int answered = 0;
    while (socket_.get(zmq::sockopt::events) & ZMQ_POLLIN) {
      if (answered == kRequestsPerTurn) {
        uv_idle_start(resume_.get(), [](uv_idle_t* idle) {
          uv_idle_stop(idle);
          static_cast<ControlServer*>(idle->data)->Drain();
        });
        return;
      }
      ++answered;
      // A request is the ROUTER's identity, an optional empty delimiter and one body. Frames past
      // kMaxFrames are read and dropped at once, and such a message gets no reply: each frame may
      // be up to ZMQ_MAXMSGSIZE, so keeping or echoing them would let one message of hundreds of
      // frames take hundreds of megabytes.
      std::vector<zmq::message_t> frames;
      size_t received = 0;
      do {
        zmq::message_t frame;
        if (!socket_.recv(frame, zmq::recv_flags::dontwait)) break;
        bool more = frame.more();
        if (++received <= kMaxFrames) frames.push_back(std::move(frame));
        if (!more) break;
      } while (true);
      if (received > kMaxFrames) {
        spdlog::warn("control request of {} frames dropped unanswered (at most {})", received,
                     kMaxFrames);
        continue;
      }
      if (!frames.empty()) Answer(frames);
    }
  } catch (const zmq::error_t& e) {
    spdlog::warn("control socket: {}", e.what());
  }
}

void ControlServer::Answer(std::vector<zmq::message_t>& frames) noexcept {
  // ROUTER frames: identity, [empty delimiter], body. Everything before the body is the envelope.
  if (frames.size() < 2) return;
  try {
    // Nesting is checked before parsing: nlohmann's dump, copy and compare recurse once per
    // level, so a deep value must never be built (a 60,000-deep array crashed the daemon).
    Peer peer = PeerOf(frames.back());
    peer.name = UserIdOf(frames.back());
    const std::string_view body = frames.back().to_string_view();
    const bool shallow = sdk::NestingWithin(body, sdk::kMaxRequestDepth);
    auto request = shallow ? nlohmann::json::parse(body, nullptr, false) : nlohmann::json();
    // The request may hold a password (export's PKCS#12): its bytes go with it.
    OPENSSL_cleanse(frames.back().data(), frames.back().size());
    frames.pop_back();
    auto envelope = std::make_shared<std::vector<zmq::message_t>>(std::move(frames));
    std::weak_ptr<ControlServer*> server = self_;
    auto replied = std::make_shared<bool>(false);
    Reply reply = [server, envelope, replied](nlohmann::json answer) {
      if (*replied) return;
      *replied = true;
      if (auto self = server.lock()) (*self)->Send(*envelope, answer);
      WipeJson(answer);  // key bytes (export, material) do not outlive the reply
    };
    if (!shallow) {
      reply(ErrorReply(base::code::kBadRequest, "a request nests arrays and objects at most " +
                                                    std::to_string(sdk::kMaxRequestDepth) +
                                                    " deep"));
      return;
    }
    if (request.is_discarded() || !request.is_object()) {
      reply(ErrorReply(base::code::kBadRequest,
                       "a request is one JSON object, e.g. {\"op\": \"status\"}"));
      return;
    }
    try {
      handler_(request, peer, reply);
    } catch (const std::exception& e) {
      reply(ErrorReply(base::code::kInternalError, e.what()));
    }
    WipeJson(request);
  } catch (const std::exception& e) {
    spdlog::warn("control request failed: {}", e.what());
  }
}

void ControlServer::Send(const std::vector<zmq::message_t>& envelope,
                         const nlohmann::json& reply) noexcept {
  try {
    // The serialized reply is handed to libzmq without a copy and wiped when libzmq lets go
    // of it (sent, or dropped).
    auto* text =
        new std::string(reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    zmq::message_t body(
        text->data(), text->size(),
        [](void*, void* hint) {
          auto* owned = static_cast<std::string*>(hint);
          OPENSSL_cleanse(owned->data(), owned->size());
          delete owned;
        },
        text);
    for (const zmq::message_t& frame : envelope) {
      zmq::message_t copy(frame.data(), frame.size());
      socket_.send(copy, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    }
    socket_.send(body, zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::warn("control reply failed: {}", e.what());
  } catch (const std::exception& e) {
    spdlog::warn("control reply failed: {}", e.what());
  }
}

}  // namespace certinbox::daemon
