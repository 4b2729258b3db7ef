// Wall-clock time as certinbox stores and shows it: whole seconds since the Unix epoch, a Clock
// that the daemon is given (so a test can drive time), and the one RFC 3339 formatter.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace certinbox::base {

// Seconds since the Unix epoch (UTC).
using UnixTime = int64_t;

inline constexpr int64_t kSecondsPerDay = 86400;

// Now, by the system clock.
UnixTime UnixNow();

// Where "now" comes from. The daemon asks its Clock, never the system clock directly, so tests
// can run it at a time of their choosing. Now() may be called from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixTime Now() const = 0;
};

// The system clock; lives as long as the process.
const Clock& SystemClock();

// "2026-05-01T12:34:56Z": RFC 3339, UTC, whole seconds. A time outside the years 0000-9999
// (no certificate carries one) is shown as the nearest end of that range.
std::string FormatRfc3339(UnixTime t);
std::string FormatRfc3339(std::chrono::system_clock::time_point t);

}  // namespace certinbox::base
