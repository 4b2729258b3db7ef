// Tells systemd how the daemon is doing (a Type=notify unit, etc/systemd/certinboxd.service)
// through libsystemd's sd_notify: READY=1 once it serves, RELOADING=1 and READY=1 around a config
// reload, STOPPING=1, a STATUS= line of counts and, when the unit sets WatchdogSec=, WATCHDOG=1
// from a timer on the daemon's loop, so a loop that is stuck stops the keep-alives and systemd
// restarts the daemon. Started outside systemd (no NOTIFY_SOCKET), it does nothing at all.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "base/uv_handle.h"

namespace certinbox::daemon {

class ServiceNotifier {
 public:
  struct Sources {
    // Changes whenever what the STATUS line says may have changed (events published, files
    // taken, inboxes watched); cheap, called every kStatusCheckMs.
    std::function<uint64_t()> generation;
    // The STATUS line itself (may query the inventory): only when `generation` moved, or every
    // kStatusRefreshMs for counts that change with the clock (expiring soon).
    std::function<std::string()> status;
  };

  // On the loop's thread; both timers are unreferenced, so they never keep the loop running.
  // The watchdog's keep-alives start now (they go out once the loop runs) when systemd asked for
  // them (WATCHDOG_USEC, and WATCHDOG_PID unset or this process): every half of its interval.
  ServiceNotifier(uv_loop_t* loop, Sources sources);

  // False outside systemd: every call below is then a no-op.
  bool active() const { return active_; }
  // READY=1 with a fresh STATUS line; the first call starts the STATUS updates.
  void Ready();
  // RELOADING=1 (with MONOTONIC_USEC, as systemd 253's Type=notify-reload wants it).
  void Reloading();
  // STOPPING=1 with `why` as the STATUS line; no STATUS update after it.
  void Stopping(const std::string& why);

  static constexpr uint64_t kStatusCheckMs = 2000;
  static constexpr uint64_t kStatusRefreshMs = 60000;

 private:
  void Send(const std::string& state);
  void UpdateStatus(bool force);

  Sources sources_;
  bool active_ = false;
  bool stopping_ = false;
  bool send_failed_ = false;
  uint64_t last_generation_ = 0;
  uint64_t last_status_ms_ = 0;
  std::string last_status_;
  uv_loop_t* loop_;
  base::UvHandlePtr<uv_timer_t> watchdog_;
  base::UvHandlePtr<uv_timer_t> status_timer_;
};

}  // namespace certinbox::daemon
