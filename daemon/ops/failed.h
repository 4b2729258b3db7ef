// Ops on the inboxes' failed/ folders (docs/protocol.md): `failed` lists the files there with
// their reasons; `retry` sends files back into their inbox, to be taken again as new drops.
#pragma once

#include <memory>
#include <vector>

#include "daemon/inbox.h"
#include "daemon/ops/registry.h"

namespace certinbox::daemon::ops {

class FailedOps : public OpGroup {
 public:
  // `inboxes`: the daemon's running inboxes (a reload changes the vector in place).
  explicit FailedOps(const std::vector<std::unique_ptr<Inbox>>& inboxes) : inboxes_(inboxes) {}
  void Register(OpRegistry& registry) override;

  // Files listed per inbox, at most; and files one retry may name.
  static constexpr size_t kMaxListed = 1000;
  static constexpr size_t kMaxRetried = 1000;

 private:
  base::Result<nlohmann::json> Failed(const Request& request) const;
  base::Result<nlohmann::json> Retry(const Request& request) const;
  // The inboxes a request names: the one called `inbox`, or all (not_found for an unknown one).
  base::Result<std::vector<const Inbox*>> Named(const std::optional<std::string>& inbox) const;

  const std::vector<std::unique_ptr<Inbox>>& inboxes_;
};

}  // namespace certinbox::daemon::ops
