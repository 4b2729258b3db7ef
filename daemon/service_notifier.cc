#include "daemon/service_notifier.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace certinbox::daemon {
namespace {

uint64_t MonotonicUsec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
}

}  // namespace

ServiceNotifier::ServiceNotifier(uv_loop_t* loop, Sources sources)
    : sources_(std::move(sources)), loop_(loop) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  active_ = socket != nullptr && *socket != '\0';
  if (!active_) return;
  // Unsets WATCHDOG_USEC and WATCHDOG_PID: the plugins the daemon starts are not watched.
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(1, &watchdog_usec) <= 0 || watchdog_usec == 0) return;
  const uint64_t period_ms = std::max<uint64_t>(1, watchdog_usec / 2 / 1000);
  watchdog_ = base::NewUvTimer(loop_, this);
  uv_timer_start(
      watchdog_.get(),
      [](uv_timer_t* timer) noexcept {
        static_cast<ServiceNotifier*>(timer->data)->Send("WATCHDOG=1");
      },
      period_ms, period_ms);
  uv_unref(reinterpret_cast<uv_handle_t*>(watchdog_.get()));
  spdlog::info("systemd watchdog: a keep-alive every {} ms", period_ms);
}

void ServiceNotifier::Ready() {
  if (!active_) return;
  UpdateStatus(true);
  Send("READY=1\nSTATUS=" + last_status_);
  if (status_timer_) return;
  status_timer_ = base::NewUvTimer(loop_, this);
  uv_timer_start(
      status_timer_.get(),
      [](uv_timer_t* timer) noexcept {
        auto* self = static_cast<ServiceNotifier*>(timer->data);
        if (self->stopping_) return;
        const std::string before = self->last_status_;
        self->UpdateStatus(false);
        if (self->last_status_ != before) self->Send("STATUS=" + self->last_status_);
      },
      kStatusCheckMs, kStatusCheckMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(status_timer_.get()));
}

void ServiceNotifier::Reloading() {
  if (!active_) return;
  Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(MonotonicUsec()) +
       "\nSTATUS=reloading the configuration");
}

void ServiceNotifier::Stopping(const std::string& why) {
  if (!active_) return;
  stopping_ = true;
  Send("STOPPING=1\nSTATUS=" + why);
}

// The STATUS line is made again only when something it counts may have changed.
void ServiceNotifier::UpdateStatus(bool force) {
  const uint64_t generation = sources_.generation();
  const uint64_t now_ms = uv_now(loop_);
  if (!force && generation == last_generation_ && now_ms - last_status_ms_ < kStatusRefreshMs) {
    return;
  }
  last_generation_ = generation;
  last_status_ms_ = now_ms;
  last_status_ = sources_.status();
}

void ServiceNotifier::Send(const std::string& state) {
  const int rc = sd_notify(0, state.c_str());
  if (rc < 0 && !send_failed_) {  // once: the watchdog would repeat it every few seconds
    spdlog::warn("cannot notify systemd through NOTIFY_SOCKET ({}): {}",
                 state.substr(0, state.find('\n')), std::strerror(-rc));
    send_failed_ = true;
  }
}

}  // namespace certinbox::daemon
