#include "base/memory.h"

#include <malloc.h>

#include <cstddef>

// jemalloc's control interface, when the binary links jemalloc (certinboxd does; tests and
// sanitizer builds do not): a weak reference, null without it.
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen)
    __attribute__((weak));

namespace certinbox::base {

void ReleaseFreeMemory() noexcept {
  if (mallctl != nullptr) {
    // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena (jemalloc/jemalloc.h: 4096).
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
  malloc_trim(0);
}

}  // namespace certinbox::base
