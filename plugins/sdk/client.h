// The client side of certinbox's wire protocol (docs/protocol.md): control requests and the
// event subscription. Used by the CLI and the plugins. Not thread-safe: one thread per client.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/error.h"
#include "plugins/sdk/curve.h"

namespace certinbox::sdk {

// The control endpoint a daemon uses when [bus] control is not set: ipc://STATE_DIR/control.sock.
std::string DefaultControlEndpoint(const std::string& state_dir);
// The publish endpoint a daemon uses when [bus] publish is not set: ipc://STATE_DIR/events.sock.
std::string DefaultPublishEndpoint(const std::string& state_dir);

// Asks the control socket. One request at a time; a request that gets no reply within the
// timeout fails with "unreachable" and the socket is replaced, so the next request starts clean.
class ControlClient {
 public:
  ControlClient(zmq::context_t& context, std::string endpoint);

  // Sends {"op": op, ...args} and returns the reply object; a reply {"error": {...}} becomes
  // base::Error with the daemon's code and message.
  base::Result<nlohmann::json> Request(
      const std::string& op, nlohmann::json args = nlohmann::json::object(),
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  const std::string& endpoint() const { return endpoint_; }

  // Optional: asked about every 200 ms while a request waits for its reply; when it returns true
  // the request is abandoned with the error "cancelled" (the plugin runtime stops this way).
  void SetCancel(std::function<bool()> cancelled) { cancelled_ = std::move(cancelled); }

  // For a tcp:// endpoint (plugins/sdk/curve.h): the socket connects as a CURVE client with
  // these keys; a daemon that does not know them never answers ("unreachable").
  void SetCurve(CurveKeys keys) {
    curve_ = std::move(keys);
    socket_.reset();
  }

 private:
  void Connect();
  zmq::context_t& context_;
  std::string endpoint_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::function<bool()> cancelled_;
  CurveKeys curve_;
};

// Whether `event` is what the daemon publishes: an object whose `seq` is an integer from 1 to
// 2^63-1 and whose `type` is a string. Receive and ReplaySince pass on only such events, so a
// forged or garbled message on the socket can never throw in a plugin's loop.
bool WellFormedEvent(const nlohmann::json& event);
// The event's seq, or 0 when it has none that fits; never throws.
int64_t EventSeq(const nlohmann::json& event);

struct EventMessage {
  std::string topic;    // the event type
  nlohmann::json body;  // the whole event (seq, type, time, fields); WellFormedEvent holds
  int64_t seq() const { return EventSeq(body); }
};

// Subscribes to the publish socket by topic prefix ("" = everything).
class Subscriber {
 public:
  Subscriber(zmq::context_t& context, const std::string& endpoint,
             const std::vector<std::string>& prefixes = {""});
  // Not connected yet: call Connect() (lets a caller attach a socket monitor first).
  explicit Subscriber(zmq::context_t& context, const std::vector<std::string>& prefixes = {""});
  void Connect(const std::string& endpoint) { socket_.connect(endpoint); }
  // Before Connect: subscribe to a tcp:// endpoint as a CURVE client with these keys.
  void SetCurve(const CurveKeys& keys) { ApplyCurveClient(socket_, keys); }
  // Waits up to `timeout` for one event; std::nullopt on timeout. A malformed message (not
  // JSON, or not WellFormedEvent) is skipped (returned as nullopt).
  std::optional<EventMessage> Receive(std::chrono::milliseconds timeout);
  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
};

// What a replay of the outbox found.
struct Replay {
  std::vector<nlohmann::json> events;  // seq > since, oldest first, of the asked type
  int64_t scanned_to = 0;              // every event up to this seq was looked at
  // Events the daemon's retention deleted before they were asked for: [from, to].
  std::optional<std::pair<int64_t, int64_t>> pruned;
};

// Replays the outbox: every event with seq > since, oldest first, paging through the control
// socket `page` events at a time. `type_prefix` filters by type ("" = all).
base::Result<Replay> ReplaySince(ControlClient& control, int64_t since,
                                 const std::string& type_prefix = "", int page = 1000);
// ReplaySince's events only.
base::Result<std::vector<nlohmann::json>> EventsSince(ControlClient& control, int64_t since,
                                                      const std::string& type_prefix = "",
                                                      int page = 1000);

// Named cursors (docs/protocol.md "Cursors"): where the cursor stands (0 for a new one), and
// acknowledging every event up to `seq` (the daemon keeps them until then). Ack returns the
// cursor's seq afterwards (it never moves back).
base::Result<int64_t> CursorPosition(ControlClient& control, const std::string& cursor);
base::Result<int64_t> Ack(ControlClient& control, const std::string& cursor, int64_t seq);

}  // namespace certinbox::sdk
