// The web page (docs/web.md): its files at / and /static/, and the JSON API it reads,
// /api/v1/summary, /api/v1/entries, /api/v1/entries/ID and /api/v1/events, on the [http]
// listener. The API answers what the control ops ls, show and events answer, with the same
// arguments and errors, read-only. Each request is read on libuv's pool from a read-only view
// of the inventory of its own (never the loop's connection, so a page never holds imports up);
// at most kMaxJobs at once, more get 503.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <string>

#include "base/time.h"
#include "daemon/config.h"
#include "http/server.h"
#include "storage/inventory.h"

namespace certinbox::daemon {

class WebApi {
 public:
  static constexpr int kMaxJobs = 2;

  // `config` is the daemon's, read on the loop thread at each request (a reload changes it);
  // `published_seq` gives the publisher's last seq. Both must outlive every job in flight.
  WebApi(uv_loop_t* loop, const Config& config, const base::Clock& clock,
         std::function<int64_t()> published_seq)
      : loop_(loop), config_(config), clock_(clock), published_seq_(std::move(published_seq)) {}

  void AddRoutes(std::map<std::string, http::Route>& routes);

 private:
  // What a read job does with its own read-only inventory, on a pool thread.
  using ReadFn = std::function<base::Result<nlohmann::json>(storage::Inventory&)>;
  // Runs `read` on the pool and answers its JSON (or its error, with the HTTP status of its code).
  void Read(const http::Answer& answer, ReadFn read);

  uv_loop_t* loop_;
  const Config& config_;
  const base::Clock& clock_;
  std::function<int64_t()> published_seq_;
  int jobs_ = 0;
};

}  // namespace certinbox::daemon
