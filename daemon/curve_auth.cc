#include "daemon/curve_auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/text.h"
#include "pipeline/types.h"
#include "plugins/sdk/curve.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

base::Result<void> WriteNew(const fs::path& file, const std::string& text, mode_t mode) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    return base::Fail(base::code::kCurveKeys,
                      "cannot create " + file.string() + ": " + std::strerror(errno));
  }
  bool ok = ::fchmod(fd, mode) == 0 &&
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (!ok) {
    return base::Fail(base::code::kCurveKeys,
                      "cannot write " + file.string() + ": " + std::strerror(saved));
  }
  return {};
}

}  // namespace

CurveServerKeys::~CurveServerKeys() { OPENSSL_cleanse(secret_z85.data(), secret_z85.size()); }

base::Result<CurveServerKeys> LoadOrCreateServerKeys(const fs::path& state_dir) {
  const fs::path secret_file = state_dir / "curve_server.key";
  const fs::path public_file = state_dir / "curve_server.pub";
  CurveServerKeys keys;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(secret_file, ec))) {
    char public_key[41] = {}, secret_key[41] = {};
    if (zmq_curve_keypair(public_key, secret_key) != 0) {
      return base::Fail(base::code::kCurveKeys, std::string("zmq_curve_keypair: ") +
                                                    zmq_strerror(zmq_errno()) +
                                                    " (is libzmq built with CURVE?)");
    }
    keys.public_z85 = public_key;
    keys.secret_z85 = secret_key;
    OPENSSL_cleanse(secret_key, sizeof secret_key);
    fs::remove(public_file, ec);  // a stale public key of an older pair
    if (auto ok = WriteNew(secret_file, keys.secret_z85 + "\n", 0600); !ok) {
      return std::unexpected(ok.error());
    }
    if (auto ok = WriteNew(public_file, keys.public_z85 + "\n", 0644); !ok) {
      return std::unexpected(ok.error());
    }
    spdlog::info("made the CURVE server key pair {} (public key {})", secret_file.string(),
                 keys.public_z85);
    return keys;
  }
  auto secret = sdk::ReadCurveKeyFile(secret_file);
  if (!secret) return std::unexpected(secret.error());
  keys.secret_z85 = std::move(*secret);
  auto derived = sdk::CurvePublicOf(keys.secret_z85);
  if (!derived)
    return base::Fail(base::code::kCurveKeys,
                      secret_file.string() + ": " + derived.error().message);
  keys.public_z85 = *derived;
  // The public file is a copy for clients; one that is missing or stale is written again.
  auto written = sdk::ReadCurveKeyFile(public_file);
  if (!written || *written != keys.public_z85) {
    fs::remove(public_file, ec);
    if (auto ok = WriteNew(public_file, keys.public_z85 + "\n", 0644); !ok) {
      return std::unexpected(ok.error());
    }
  }
  return keys;
}

base::Result<void> ApplySocketAccess(zmq::socket_t& socket, const std::string& endpoint,
                                     const SocketAccess& access, const std::string& domain) {
  if (endpoint.starts_with("tcp://")) {
    if (!access.curve) {
      return base::Fail(base::code::kBindFailed, "a tcp:// endpoint needs CURVE: " + endpoint);
    }
    socket.set(zmq::sockopt::curve_server, true);
    socket.set(zmq::sockopt::curve_secretkey, access.curve->secret_z85);
    socket.set(zmq::sockopt::zap_domain, domain);
    if (access.zap) access.zap->WatchHandshakes(socket, domain);
    return {};
  }
  // Deprecated in libzmq 4.3 in favour of ZAP, which ipc:// connections without a mechanism do
  // not reach; still the one way to refuse them before a single message is read.
  for (uint32_t uid : access.ipc_uids) {
    int value = static_cast<int>(uid);
    if (zmq_setsockopt(socket.handle(), ZMQ_IPC_FILTER_UID, &value, sizeof value) != 0) {
      throw zmq::error_t();
    }
  }
  for (uint32_t gid : access.ipc_gids) {
    int value = static_cast<int>(gid);
    if (zmq_setsockopt(socket.handle(), ZMQ_IPC_FILTER_GID, &value, sizeof value) != 0) {
      throw zmq::error_t();
    }
  }
  return {};
}

base::Result<std::unique_ptr<ZapHandler>> ZapHandler::Bind(uv_loop_t* loop, zmq::context_t& context,
                                                           const std::vector<BusClient>& clients) {
  std::unique_ptr<ZapHandler> handler;
  try {
    zmq::socket_t socket(context, zmq::socket_type::rep);
    socket.set(zmq::sockopt::linger, 0);
    socket.bind(kZapEndpoint);
    handler.reset(new ZapHandler(std::move(socket)));
    handler->context_ = &context;
    handler->loop_ = loop;
    handler->SetClients(clients);
    int fd = handler->socket_.get(zmq::sockopt::fd);
    auto* poll = base::NewUvHandle<uv_poll_t>();
    if (int rc = uv_poll_init(loop, poll, fd); rc != 0) {
      delete poll;
      return base::Fail(base::code::kBindFailed, std::string("uv_poll_init: ") + uv_strerror(rc));
    }
    poll->data = handler.get();
    handler->poll_.reset(poll);
    uv_poll_start(poll, UV_READABLE, [](uv_poll_t* p, int, int) noexcept {
      static_cast<ZapHandler*>(p->data)->Drain();
    });
  } catch (const zmq::error_t& e) {
    return base::Fail(base::code::kBindFailed,
                      std::string("cannot bind the ZAP handler ") + kZapEndpoint + ": " + e.what());
  }
  handler->Drain();  // edge-triggered: anything already queued
  return handler;
}

ZapHandler::~ZapHandler() {
  if (poll_) uv_poll_stop(poll_.get());
}

void ZapHandler::StopPolling() {
  poll_.reset();
  for (auto& watch : watches_) watch->poll.reset();
}

void ZapHandler::WatchHandshakes(zmq::socket_t& socket, const std::string& domain) {
  const std::string endpoint = "inproc://certinbox-handshakes-" + domain;
  if (zmq_socket_monitor(
          socket.handle(), endpoint.c_str(),
          ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
    throw zmq::error_t();
  }
  auto watch = std::make_unique<Watch>(
      Watch{this, domain, zmq::socket_t(*context_, zmq::socket_type::pair), nullptr});
  watch->pair.set(zmq::sockopt::linger, 0);
  watch->pair.connect(endpoint);
  auto* poll = base::NewUvHandle<uv_poll_t>();
  if (uv_poll_init(loop_, poll, watch->pair.get(zmq::sockopt::fd)) != 0) {
    delete poll;
    return;  // only the log line is lost
  }
  poll->data = watch.get();
  watch->poll.reset(poll);
  uv_poll_start(poll, UV_READABLE, &ZapHandler::OnHandshakeEvent);
  watches_.push_back(std::move(watch));
  DrainWatch(*watches_.back());
}

void ZapHandler::OnHandshakeEvent(uv_poll_t* poll, int, int) noexcept {
  auto* watch = static_cast<Watch*>(poll->data);
  watch->handler->DrainWatch(*watch);
}

void ZapHandler::DrainWatch(Watch& watch) noexcept {
  try {
    while (watch.pair.get(zmq::sockopt::events) & ZMQ_POLLIN) {
      // Two frames: the event (uint16 id, uint32 value) and the endpoint.
      bool counted = false;
      for (;;) {
        zmq::message_t frame;
        if (!watch.pair.recv(frame, zmq::recv_flags::dontwait)) break;
        if (!counted) {
          ++failed_handshakes_;
          ++refused_;
          counted = true;
        }
        if (!frame.more()) break;
      }
      if (counted && MinutePassed(last_handshake_log_)) {
        spdlog::warn(
            "refused a {} connection whose CURVE handshake failed (a client without "
            "CURVE or with the wrong server key; {} so far, logged at most once a "
            "minute)",
            watch.domain, failed_handshakes_);
      }
    }
  } catch (const std::exception& e) {
    spdlog::warn("handshake monitor: {}", e.what());
  }
}

void ZapHandler::SetClients(const std::vector<BusClient>& clients) {
  names_.clear();
  for (const BusClient& client : clients) names_[client.public_key] = client.name;
}

void ZapHandler::Drain() noexcept {
  try {
    // Edge-triggered like the control socket: read while ZMQ_EVENTS says POLLIN. A ZAP
    // request is a handful of frames and its answer is a map lookup, so no per-turn bound.
    while (socket_.get(zmq::sockopt::events) & ZMQ_POLLIN) {
      std::vector<zmq::message_t> frames;
      for (;;) {
        zmq::message_t frame;
        if (!socket_.recv(frame, zmq::recv_flags::dontwait)) break;
        bool more = frame.more();
        frames.push_back(std::move(frame));
        if (!more) break;
      }
      if (!frames.empty()) Answer(frames);
    }
  } catch (const std::exception& e) {
    spdlog::warn("ZAP handler: {}", e.what());
  }
}

void ZapHandler::Answer(std::vector<zmq::message_t>& frames) {
  // RFC 27: version, request id, domain, address, identity, mechanism, credentials...
  auto text = [&](size_t i) { return i < frames.size() ? frames[i].to_string() : std::string(); };
  const std::string version = text(0), request_id = text(1), domain = text(2), address = text(3),
                    mechanism = text(5);
  std::string status = "400", status_text = "refused", user_id;
  std::string key;
  if (version == "1.0" && mechanism == "CURVE" && frames.size() >= 7 && frames[6].size() == 32) {
    char z85[41] = {};
    if (zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32)) key = z85;
    if (auto it = names_.find(key); it != names_.end()) {
      status = "200";
      status_text = "OK";
      user_id = it->second;
    }
  }
  if (status == "200") {
    ++admitted_;
    spdlog::debug("ZAP: {} client {} admitted from {}", domain, user_id, address);
  } else {
    ++refused_;
    LogRefusal(key.empty() ? "(" + mechanism + ")" : key,
               domain + " connection from " + base::Escape(base::Shorten(address)) +
                   (key.empty() ? " without CURVE (mechanism " +
                                      base::Escape(base::Shorten(mechanism)) + ")"
                                : " with unknown CURVE key " + key));
  }
  // The reply: version, request id, status code, status text, user id, metadata.
  socket_.send(zmq::buffer(std::string("1.0")), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(status), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(status_text), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(user_id), zmq::send_flags::sndmore);
  socket_.send(zmq::message_t(), zmq::send_flags::none);
}

bool ZapHandler::MinutePassed(std::optional<uint64_t>& last_ms) const {
  const uint64_t now = uv_now(loop_);
  if (last_ms && now - *last_ms < 60'000) return false;
  last_ms = now;
  return true;
}

void ZapHandler::LogRefusal(const std::string& key, const std::string& what) {
  if (logged_.contains(key)) return;
  if (logged_.size() < kLoggedKeys) {
    logged_.insert(key);
    spdlog::warn("refused a {} (logged once per key; allow a key with [[bus.client]])", what);
    return;
  }
  if (MinutePassed(last_overflow_log_)) {
    spdlog::warn("refused a {} ({} connections refused so far; no longer logged per key)", what,
                 refused_);
  }
}

}  // namespace certinbox::daemon
