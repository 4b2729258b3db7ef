// The control ops (docs/protocol.md), by name. Each group of ops is a small class that holds
// only what its ops use (the inventory, the publisher, the supervisor, ...) and registers them
// here; the Daemon installs the groups and hands every request to Dispatch.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "daemon/control_server.h"
#include "daemon/ops/request.h"

namespace certinbox::daemon::ops {

class OpRegistry;

// A group of ops that belong together (events and cursors, an entry's versions, ...).
class OpGroup {
 public:
  virtual ~OpGroup() = default;
  virtual void Register(OpRegistry& registry) = 0;
  // The daemon is stopping: an op still at work replies `stopping` and stores nothing.
  virtual void Stop() {}
};

class OpRegistry {
 public:
  // Answers a request now: the reply, or the Error that becomes {"error": {code, message}}.
  using Handler = std::function<base::Result<nlohmann::json>(const Request& request)>;
  // Answers through `reply`, now or later: an op with CPU work starts it on libuv's thread pool
  // and replies from its after-work callback. The Request lives only during the call.
  using AsyncHandler = std::function<void(const Request& request, ControlServer::Reply reply)>;

  void Add(std::string name, Handler handler);
  void AddAsync(std::string name, AsyncHandler handler);
  // Registers the group's ops and keeps it as long as the registry.
  void Install(std::unique_ptr<OpGroup> group);
  // Tells every group that the daemon is stopping.
  void Stop();

  // Answers `request` by its op. An op that is not a string or not known is bad_request (the
  // message lists the known ones). Events the op makes carry the peer as their "by".
  void Dispatch(const Request& request, ControlServer::Reply reply) const;

  // Every op's name, sorted.
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, Handler> ops_;
  std::map<std::string, AsyncHandler> async_ops_;
  std::vector<std::unique_ptr<OpGroup>> groups_;
};

}  // namespace certinbox::daemon::ops
