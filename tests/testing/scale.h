// How much work a test does. The sanitizer build (CERTINBOX_SANITIZE, set by CMake) runs every
// step ~5-10x slower, so a test that proves its point with thousands of files or events does it
// with fewer there and keeps a wide margin under its CTest timeout; the normal build keeps the
// full count.
#pragma once

#include <cstdint>

namespace certinbox::testing {

#ifdef CERTINBOX_SANITIZE
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// `normal` in the normal build, `sanitized` under AddressSanitizer + UndefinedBehaviorSanitizer.
constexpr int64_t Scaled(int64_t normal, int64_t sanitized) {
  return kSanitized ? sanitized : normal;
}

}  // namespace certinbox::testing
