// Who may ask what (docs/protocol.md "Authentication" and "Roles"), checked before any op runs,
// and the log line of who asked for each change and each key.
#pragma once

#include <optional>

#include "base/error.h"
#include "daemon/config.h"
#include "daemon/ops/request.h"

namespace certinbox::daemon::ops {

class Access {
 public:
  // `config` is the daemon's running config (a reload changes it in place).
  explicit Access(const Config& config) : config_(config) {}

  // Why this request is refused (`forbidden`), or nothing:
  //  - over tcp://, the CURVE client's [[bus.client]] role must allow it (daemon/roles.h);
  //  - on ipc://, a peer that is a [[plugin]]'s user may ask only its own plugins' ops,
  //    `events`, and `ack` of their cursors.
  std::optional<base::Error> Refusal(const Request& request) const;
  // Logs who asked, for a change or a key request.
  void LogWhoAsked(const Request& request) const;

 private:
  std::optional<base::Error> RefusedForRole(const Request& request) const;
  std::optional<base::Error> RefusedForPeer(const Request& request) const;

  const Config& config_;
};

}  // namespace certinbox::daemon::ops
