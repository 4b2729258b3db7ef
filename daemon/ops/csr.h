// Ops for CSRs made here (docs/protocol.md): csr.create (the key is generated on libuv's thread
// pool, the reply comes when it is stored) and csr.show.
#pragma once

#include <uv.h>

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
  // A key generated after this is not stored: its request is answered `stopping`.
  void Stop() override { stopping_ = true; }

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
};

}  // namespace certinbox::daemon::ops
