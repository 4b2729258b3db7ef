// The HTTP listener's routes ([http], docs/metrics.md): what each serves, and where its work runs.
#include <spdlog/spdlog.h>

#include <chrono>

#include "base/error_codes.h"
#include "base/memory.h"
#include "base/uv_work.h"
#include "daemon/daemon.h"
#include "daemon/ops/status.h"
#include "daemon/web_api.h"
#include "http/exposition.h"
#include "http/metrics.h"

namespace certinbox::daemon {
namespace {

// Scrapes at once, from the read to the last byte sent; more get 503. A scrape of a large
// inventory is a second of a pool thread (whose other threads are the imports') and about 600
// bytes per entry while its body is sent.
constexpr long kMaxScrapes = 2;
// A scrape's body is sent within this, or the connection is closed: a client that reads slowly
// but steadily (never idle long enough for the listener's idle timeout) would otherwise hold
// its slot for as long as it likes. Prometheus's scrape timeout is 10 s by default.
constexpr auto kMaxSendTime = std::chrono::seconds(60);
}  // namespace

base::Result<void> Daemon::StartHttp() {
  if (!config_.http.enabled()) return {};
  http::ServerOptions options{
      .address = config_.http.address, .port = config_.http.port, .token = config_.http.token};
  options.routes["/metrics"] = [this](const http::Request& request, http::Answer answer) {
    // HEAD: the headers of a scrape, without reading the inventory for a body never sent.
    if (request.method == "HEAD") {
      return answer({.status = 200, .content_type = http::kExpositionContentType});
    }
    ServeMetrics(std::move(answer));
  };
  web_api_ = std::make_unique<WebApi>(&loop_, config_, clock_,
                                      [this] { return publisher_->last_published_seq(); });
  web_api_->AddRoutes(options.routes);
  auto server = http::Server::Start(&loop_, std::move(options));
  if (!server) return std::unexpected(server.error());
  http_ = std::move(*server);
  return {};
}

// The context is copied on the loop thread; the reading and the rendering run on the pool
// from a read-only connection of their own.
void Daemon::ServeMetrics(http::Answer answer) {
  if (scrapes_.use_count() - 1 >= kMaxScrapes) {
    return answer({.status = 503, .body = "too many scrapes at once: try again\n"});
  }
  http::MetricsContext context{.database = config_.database,
                               .now = clock_.Now(),
                               .expiry = config_.expiry,
                               .expires_in_seconds = config_.http.expires_in_seconds,
                               .published_seq = publisher_->last_published_seq(),
                               .version = ops::kVersion,
                               .import_seconds = imports_->import_seconds(),
                               .events_published = publisher_->published_by_type(),
                               .push_failures = publisher_->push_failures()};
  for (const auto& plugin : plugins_->StatusJson()) {
    context.plugins.push_back({.name = plugin.value("name", ""),
                               .up = plugin.value("state", "") == "running",
                               .restarts = plugin.value("restarts", int64_t{0})});
  }
  for (const auto& inbox : inboxes_) {
    if (!inbox->watcher) continue;
    context.inboxes.push_back(
        {.name = inbox->config.name, .backlog = static_cast<int64_t>(inbox->watcher->Backlog())});
  }
  // Counted until the body is sent or dropped; then its memory goes back to the system at
  // once rather than after the allocator's decay, so that scrapes in a row do not pile up.
  std::shared_ptr<void> hold(nullptr, [scrape = scrapes_](void*) { base::ReleaseFreeMemory(); });
  int rc = base::RunOnPool<std::shared_ptr<http::MetricsBody>>(
      &loop_,
      [context = std::move(context),
       hold = std::move(hold)]() mutable -> base::Result<std::shared_ptr<http::MetricsBody>> {
        auto body = http::ReadMetrics(context);
        if (body) {
          (*body)->hold = std::move(hold);
          (*body)->deadline = std::chrono::steady_clock::now() + kMaxSendTime;
        }
        return body;
      },
      [answer](base::Result<std::shared_ptr<http::MetricsBody>> body) {
        if (!body) {
          spdlog::warn("http: /metrics failed: {}", body.error().message);
          return answer({.status = 500, .body = "the inventory could not be read\n"});
        }
        answer({.status = 200,
                .content_type = http::kExpositionContentType,
                .stream = std::move(*body)});
      });
  if (rc != 0) answer({.status = 500, .body = "the scrape could not be queued\n"});
}

}  // namespace certinbox::daemon
