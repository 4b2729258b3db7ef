#include "daemon/publisher.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/wire.h"

namespace certinbox::daemon {

base::Result<void> RestrictIpcEndpoint(const std::string& endpoint) {
  if (!endpoint.starts_with("ipc://")) return {};
  std::string path = endpoint.substr(6);
  if (::chmod(path.c_str(), 0660) != 0) {
    return base::Fail(base::code::kBindFailed,
                      "cannot restrict " + path + ": " + std::strerror(errno));
  }
  return {};
}

base::Result<std::unique_ptr<Publisher>> Publisher::Bind(zmq::context_t& context,
                                                         const std::string& endpoint, int hwm,
                                                         const SocketAccess& access) {
  try {
    zmq::socket_t socket(context, zmq::socket_type::pub);
    socket.set(zmq::sockopt::sndhwm, hwm);
    socket.set(zmq::sockopt::linger, 0);
    // What a subscriber sends is its topic prefixes; anything bigger drops its connection.
    socket.set(zmq::sockopt::maxmsgsize, int64_t{4096});
    if (auto applied = ApplySocketAccess(socket, endpoint, access, "events"); !applied) {
      return std::unexpected(applied.error());
    }
    if (auto free = RefuseIfListening(endpoint); !free) return std::unexpected(free.error());
    socket.bind(endpoint);
    IpcSocketFile file(endpoint);
    if (auto restricted = RestrictIpcEndpoint(endpoint); !restricted) {
      return std::unexpected(restricted.error());
    }
    return std::unique_ptr<Publisher>(new Publisher(std::move(socket), endpoint, std::move(file)));
  } catch (const zmq::error_t& e) {
    return base::Fail(base::code::kBindFailed,
                      "cannot bind the publish socket " + endpoint + ": " + e.what());
  }
}

void Publisher::Publish(const storage::Event& event) noexcept {
  try {
    socket_.send(zmq::buffer(event.type), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    socket_.send(zmq::buffer(event.json), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::warn("publish of event {} failed: {}", event.seq, e.what());
  }
  last_published_seq_ = std::max(last_published_seq_, event.seq);
  try {
    ++published_by_type_[event.type];
    if (event.type == base::topic::kPushFailed) {
      auto payload = nlohmann::json::parse(event.json, nullptr, false);
      const auto plugin = payload.is_object() ? payload.find(base::field::kPlugin) : payload.end();
      ++push_failures_[plugin != payload.end() && plugin->is_string() ? plugin->get<std::string>()
                                                                      : std::string()];
    }
  } catch (const std::exception&) {  // out of memory: the counts are not worth a crash
  }
}

}  // namespace certinbox::daemon
