#include "tests/testing/wait.h"

#include <thread>

namespace certinbox::testing {

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline,
               std::chrono::milliseconds interval) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(interval);
  }
  return done();
}

}  // namespace certinbox::testing
