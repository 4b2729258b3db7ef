#include "plugins/sdk/client.h"

#include <string.h>

#include <algorithm>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/wire.h"
#include "plugins/sdk/limits.h"

namespace certinbox::sdk {

std::string DefaultControlEndpoint(const std::string& state_dir) {
  return "ipc://" + state_dir + "/control.sock";
}

std::string DefaultPublishEndpoint(const std::string& state_dir) {
  return "ipc://" + state_dir + "/events.sock";
}

ControlClient::ControlClient(zmq::context_t& context, std::string endpoint)
    : context_(context), endpoint_(std::move(endpoint)) {}

void ControlClient::Connect() {
  socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::req);
  socket_->set(zmq::sockopt::linger, 0);
  ApplyCurveClient(*socket_, curve_);
  socket_->connect(endpoint_);
}

base::Result<nlohmann::json> ControlClient::Request(const std::string& op, nlohmann::json args,
                                                    std::chrono::milliseconds timeout) {
  try {
    if (!socket_) Connect();
    args["op"] = op;
    std::string text = args.dump();
    if (text.size() > kMaxRequestBytes) {
      // The daemon would drop the connection without a reply: say why here instead of waiting.
      return std::unexpected(base::Error{base::code::kRequestTooLarge,
                                         op + ": the request takes " + std::to_string(text.size()) +
                                             " bytes; the daemon reads at most " +
                                             std::to_string(kMaxRequestBytes)});
    }
    socket_->send(zmq::buffer(text), zmq::send_flags::none);

    zmq::pollitem_t item{socket_->handle(), 0, ZMQ_POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      if (zmq::poll(&item, 1, cancelled_ ? std::min(left, std::chrono::milliseconds(200)) : left) >
          0) {
        break;
      }
      if (cancelled_ && cancelled_()) {
        socket_.reset();
        return std::unexpected(base::Error{base::code::kCancelled, op + ": abandoned (stopping)"});
      }
    }
    if ((item.revents & ZMQ_POLLIN) == 0) {
      // A REQ socket that got no reply cannot send again: start over with a new one.
      socket_.reset();
      return std::unexpected(base::Error{base::code::kUnreachable,
                                         "no reply from the certinbox daemon at " + endpoint_ +
                                             " within " + std::to_string(timeout.count()) +
                                             " ms: is certinboxd running?"});
    }
    zmq::message_t reply;
    if (!socket_->recv(reply, zmq::recv_flags::none)) {
      socket_.reset();
      return std::unexpected(base::Error{base::code::kBadReply, "empty reply from " + endpoint_});
    }
    auto json = nlohmann::json::parse(reply.to_string_view(), nullptr, false);
    // A reply may carry a private key (material): the received bytes go once parsed; the
    // caller wipes its copy (Plugin::FetchMaterial).
    explicit_bzero(reply.data(), reply.size());
    if (json.is_discarded() || !json.is_object()) {
      return std::unexpected(
          base::Error{base::code::kBadReply, "reply from " + endpoint_ + " is not JSON"});
    }
    if (json.contains(base::reply::kError)) {
      const auto& error = json[base::reply::kError];
      return std::unexpected(base::Error{error.value(base::reply::kCode, "error"),
                                         error.value(base::reply::kMessage, "")});
    }
    return json;
  } catch (const zmq::error_t& e) {
    socket_.reset();
    return std::unexpected(base::Error{base::code::kUnreachable, endpoint_ + ": " + e.what()});
  }
}

Subscriber::Subscriber(zmq::context_t& context, const std::vector<std::string>& prefixes)
    : socket_(context, zmq::socket_type::sub) {
  socket_.set(zmq::sockopt::linger, 0);
  for (const auto& prefix : prefixes) socket_.set(zmq::sockopt::subscribe, prefix);
}

Subscriber::Subscriber(zmq::context_t& context, const std::string& endpoint,
                       const std::vector<std::string>& prefixes)
    : Subscriber(context, prefixes) {
  Connect(endpoint);
}

std::optional<EventMessage> Subscriber::Receive(std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
  zmq::message_t topic;
  zmq::message_t body;
  if (!socket_.recv(topic, zmq::recv_flags::none)) return std::nullopt;
  if (!topic.more() || !socket_.recv(body, zmq::recv_flags::none)) return std::nullopt;
  while (body.more()) {  // drain unexpected extra frames
    zmq::message_t extra;
    if (!socket_.recv(extra, zmq::recv_flags::none)) break;
    body.move(extra);
  }
  auto json = nlohmann::json::parse(body.to_string_view(), nullptr, false);
  if (!WellFormedEvent(json)) return std::nullopt;
  return EventMessage{topic.to_string(), std::move(json)};
}

bool WellFormedEvent(const nlohmann::json& event) {
  if (!event.is_object()) return false;
  auto type = event.find(base::field::kType);
  return EventSeq(event) > 0 && type != event.end() && type->is_string();
}

int64_t EventSeq(const nlohmann::json& event) {
  if (!event.is_object()) return 0;
  auto seq = event.find(base::field::kSeq);
  if (seq == event.end()) return 0;
  if (seq->is_number_unsigned()) {
    uint64_t value = seq->get<uint64_t>();
    return value <= static_cast<uint64_t>(INT64_MAX) ? static_cast<int64_t>(value) : 0;
  }
  if (seq->is_number_integer()) return std::max<int64_t>(0, seq->get<int64_t>());
  return 0;
}

base::Result<Replay> ReplaySince(ControlClient& control, int64_t since,
                                 const std::string& type_prefix, int page) {
  Replay replay;
  replay.scanned_to = since;
  for (;;) {
    auto reply =
        control.Request("events", {{"since", since}, {"limit", page}, {"type", type_prefix}});
    if (!reply) return std::unexpected(reply.error());
    for (const auto& event : (*reply)[base::reply::kEvents]) {
      if (WellFormedEvent(event)) replay.events.push_back(event);
    }
    if (auto pruned = reply->find(base::reply::kPruned); pruned != reply->end() && !replay.pruned) {
      replay.pruned.emplace(pruned->value(base::reply::kFrom, int64_t{0}),
                            pruned->value(base::reply::kTo, int64_t{0}));
    }
    // The daemon also reports how far it scanned, so pages with no matching type still advance.
    int64_t scanned = reply->value(base::reply::kScannedTo, since);
    replay.scanned_to = std::max(replay.scanned_to, scanned);
    if (scanned <= since || reply->value(base::reply::kMore, false) == false) break;
    since = scanned;
  }
  return replay;
}

base::Result<std::vector<nlohmann::json>> EventsSince(ControlClient& control, int64_t since,
                                                      const std::string& type_prefix, int page) {
  auto replay = ReplaySince(control, since, type_prefix, page);
  if (!replay) return std::unexpected(replay.error());
  return std::move(replay->events);
}

base::Result<int64_t> CursorPosition(ControlClient& control, const std::string& cursor) {
  auto reply = control.Request("events", {{"cursor", cursor}, {"limit", 1}, {"type", "-"}});
  if (!reply) return std::unexpected(reply.error());
  return reply->value(base::reply::kSince, int64_t{0});
}

base::Result<int64_t> Ack(ControlClient& control, const std::string& cursor, int64_t seq) {
  auto reply = control.Request("ack", {{"cursor", cursor}, {"seq", seq}});
  if (!reply) return std::unexpected(reply.error());
  return reply->value("seq", int64_t{0});
}

}  // namespace certinbox::sdk
