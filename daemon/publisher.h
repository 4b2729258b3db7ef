// The PUB socket: each event as two frames, topic (the event type) and its JSON.
// Loop thread only.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/error.h"
#include "daemon/curve_auth.h"
#include "daemon/ipc_file.h"
#include "pipeline/error.h"
#include "storage/inventory.h"

namespace certinbox::daemon {

class Publisher {
 public:
  // Binds `endpoint`; an ipc:// socket file is made mode 0660.
  // A tcp:// endpoint is bound only with `access.curve` (subscribers admitted by the ZAP
  // handler); an ipc:// one with `access`'s uid/gid filters when it has any.
  static base::Result<std::unique_ptr<Publisher>> Bind(zmq::context_t& context,
                                                       const std::string& endpoint, int hwm,
                                                       const SocketAccess& access = {});

  // Never blocks: a subscriber past the high-water mark misses the message and replays it
  // from the outbox (docs/protocol.md).
  void Publish(const storage::Event& event) noexcept;
  // Publishes events a control op committed, in seq order.
  void PublishAll(const std::vector<storage::Event>& events) noexcept {
    for (const auto& event : events) Publish(event);
  }

  // Where publishing resumes after a restart: the outbox's published cursor.
  void ResumeAfter(int64_t seq) { last_published_seq_ = std::max(last_published_seq_, seq); }
  int64_t last_published_seq() const { return last_published_seq_; }
  // Since the daemon started: events published by type, and push failures by plugin (from
  // the push.failed events).
  const std::map<std::string, int64_t>& published_by_type() const { return published_by_type_; }
  const std::map<std::string, int64_t>& push_failures() const { return push_failures_; }
  const std::string& endpoint() const { return endpoint_; }

 private:
  Publisher(zmq::socket_t socket, std::string endpoint, IpcSocketFile file)
      : file_(std::move(file)), socket_(std::move(socket)), endpoint_(std::move(endpoint)) {}
  IpcSocketFile file_;  // before socket_: removed once the socket is closed
  zmq::socket_t socket_;
  std::string endpoint_;
  int64_t last_published_seq_ = 0;
  std::map<std::string, int64_t> published_by_type_;
  std::map<std::string, int64_t> push_failures_;
};

// Restricts an ipc:// endpoint's socket file to the daemon's user and group (0660).
base::Result<void> RestrictIpcEndpoint(const std::string& endpoint);

}  // namespace certinbox::daemon
