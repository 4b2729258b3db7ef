// A base::Clock that a test sets and moves: its time stands still until the test moves it, so a
// test of what happens at a time (expiry, retention) never waits for the wall clock to get there.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/time.h"

namespace certinbox::testing {

// Thread-safe: Now() may be read on any thread (the daemon's pool) while the test moves it.
class ManualClock final : public base::Clock {
 public:
  explicit ManualClock(base::UnixTime start) : now_(start) {}

  base::UnixTime Now() const override { return now_.load(); }
  void Set(base::UnixTime t) { now_.store(t); }
  void Advance(int64_t seconds) { now_.fetch_add(seconds); }

 private:
  std::atomic<base::UnixTime> now_;
};

}  // namespace certinbox::testing
