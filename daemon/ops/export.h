// The export op: an entry's certificate, chain and full chain as PEM, and, when asked and
// allowed, its private key (PEM) or a PKCS#12 built here with the caller's password.
//
// Key material leaves the daemon only through this op, and only when
//   - [bus] allow_key_export is true (the default), and
//   - the control endpoint is ipc:// (the socket file's mode 0660 and the state folder's 0750
//     restrict it to the daemon's user and group), or tcp:// and the CURVE client's
//     [[bus.client]] role is `keys`.
// The audit row's endpoint and the log line say who asked (ControlServer::Peer::Who).
// Every request for key material, exported or refused, is a row of the key_exports audit log
// (shown by `certinbox show NAME --json` as "key_exports") and a line in the daemon's log.
#pragma once

#include "base/time.h"
#include "daemon/config.h"
#include "daemon/ops/registry.h"
#include "storage/inventory.h"

namespace certinbox::daemon::ops {

class ExportOp : public OpGroup {
 public:
  // `config` is the daemon's running config (a reload changes it in place).
  ExportOp(storage::Inventory& inventory, const Config& config, const base::Clock& clock)
      : inventory_(inventory), config_(config), clock_(clock) {}
  void Register(OpRegistry& registry) override;

 private:
  base::Result<nlohmann::json> Export(const Request& request);
  // Why key material may not go to this request's peer, if it may not.
  std::optional<base::Error> KeyRefusal(const Request& request) const;

  storage::Inventory& inventory_;
  const Config& config_;
  const base::Clock& clock_;
};

}  // namespace certinbox::daemon::ops
