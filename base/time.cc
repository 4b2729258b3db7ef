#include "base/time.h"

#include <cstdio>
#include <ctime>

namespace certinbox::base {
namespace {

class SystemClockImpl final : public Clock {
 public:
  UnixTime Now() const override { return UnixNow(); }
};

}  // namespace

UnixTime UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const Clock& SystemClock() {
  static const SystemClockImpl clock;
  return clock;
}

std::string FormatRfc3339(UnixTime t) {
  // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
  constexpr UnixTime kFirst = -62167219200;
  constexpr UnixTime kLast = 253402300799;
  std::time_t seconds = static_cast<std::time_t>(t < kFirst ? kFirst : t > kLast ? kLast : t);
  std::tm tm{};
  if (gmtime_r(&seconds, &tm) == nullptr) return "1970-01-01T00:00:00Z";  // not reached
  // Not strftime: its %Y does not pad a year before 1000 to four digits.
  char buffer[32];
  int n = std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(buffer, n > 0 ? static_cast<size_t>(n) : 0);
}

std::string FormatRfc3339(std::chrono::system_clock::time_point t) {
  return FormatRfc3339(static_cast<UnixTime>(std::chrono::system_clock::to_time_t(t)));
}

}  // namespace certinbox::base
