// The HTTP listener's routes ([http], docs/metrics.md): what each serves, and where its work runs.
#include <spdlog/spdlog.h>

#include "base/error_codes.h"
#include "base/uv_work.h"
#include "daemon/daemon.h"
#include "daemon/ops/status.h"
#include "daemon/web_api.h"
#include "http/exposition.h"
#include "http/metrics.h"

namespace certinbox::daemon {
namespace {

// Scrapes at once; more get 503. A scrape of a large inventory is a second of a pool thread,
// and the pool's other threads are the imports'.
constexpr int kMaxScrapes = 2;

}  // namespace

base::Result<void> Daemon::StartHttp() {
  if (!config_.http.enabled()) return {};
  http::ServerOptions options{
      .address = config_.http.address, .port = config_.http.port, .token = config_.http.token};
  options.routes["/metrics"] = [this](const http::Request&, http::Answer answer) {
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
  if (scrapes_ >= kMaxScrapes) {
    return answer({.status = 503, .body = "too many scrapes at once: try again\n"});
  }
  http::MetricsContext context{.database = config_.database,
                               .now = clock_.Now(),
                               .expiring_soon_days = config_.expiring_soon_days,
                               .expires_in_seconds = config_.http.expires_in_seconds,
                               .published_seq = publisher_->last_published_seq(),
                               .version = ops::kVersion};
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
  ++scrapes_;
  int rc = base::RunOnPool<std::string>(
      &loop_, [context = std::move(context)] { return http::RenderMetrics(context); },
      [this, answer](base::Result<std::string> text) {
        --scrapes_;
        if (!text) {
          spdlog::warn("http: /metrics failed: {}", text.error().message);
          return answer({.status = 500, .body = "the inventory could not be read\n"});
        }
        answer({.status = 200,
                .content_type = http::kExpositionContentType,
                .body = std::move(*text)});
      });
  if (rc != 0) {
    --scrapes_;
    answer({.status = 500, .body = "the scrape could not be queued\n"});
  }
}

}  // namespace certinbox::daemon
