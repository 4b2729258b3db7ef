// Waiting on a condition with a deadline: what the tests do instead of sleeping.
#pragma once

#include <chrono>
#include <functional>

namespace certinbox::testing {

// Asks `done` every `interval` until it returns true or `deadline` has passed, and returns its
// last answer (asked once more at the deadline). Never waits longer than deadline + interval
// plus the time `done` itself takes.
bool WaitUntil(const std::function<bool()>& done,
               std::chrono::milliseconds deadline = std::chrono::seconds(20),
               std::chrono::milliseconds interval = std::chrono::milliseconds(50));

}  // namespace certinbox::testing
