// Ops for CSRs made here (docs/protocol.md): csr.create (the key is generated on libuv's thread
// pool, the reply comes when it is stored) and csr.show.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>

#include "base/time.h"
#include "daemon/binding_reconciler.h"
#include "daemon/ops/registry.h"
#include "daemon/publisher.h"
#include "pipeline/csr.h"
#include "storage/inventory.h"

namespace certinbox::daemon::ops {

class CsrOps : public OpGroup {
 public:
  CsrOps(uv_loop_t* loop, storage::Inventory& inventory, Publisher& publisher,
         BindingReconciler& bindings, const base::Clock& clock)
      : loop_(loop),
        inventory_(inventory),
        publisher_(publisher),
        bindings_(bindings),
        clock_(clock) {}
  void Register(OpRegistry& registry) override;
  // Answers every request still waiting for its key `stopping` at once (the control socket
  // closes soon after), cancels the generations not started yet, and refuses new ones. A key
  // generated after this is not stored.
  void Stop() override;

 private:
  void Create(const Request& request, ControlServer::Reply reply);
  // On the loop thread once the key is made: stores the CSR and replies.
  void Store(storage::NewCsr& entry, const base::Result<pipeline::GeneratedCsr>& generated,
             const ControlServer::Reply& reply);
  base::Result<nlohmann::json> Show(const Request& request);

  uv_loop_t* loop_;
  storage::Inventory& inventory_;
  Publisher& publisher_;
  BindingReconciler& bindings_;
  const base::Clock& clock_;
  bool stopping_ = false;
  // The requests whose key is being generated, by a number of their own.
  struct Pending {
    ControlServer::Reply reply;
    uv_work_t* work = nullptr;  // to cancel; valid while pending
  };
  std::map<uint64_t, Pending> pending_;
  uint64_t next_id_ = 0;
};

}  // namespace certinbox::daemon::ops
