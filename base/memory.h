// Giving freed memory back to the system after a large, short-lived allocation (a /metrics
// scrape's snapshot), instead of waiting for the allocator's own decay.
#pragma once

namespace certinbox::base {

// With jemalloc (certinboxd links it): purges every arena's unused dirty pages. With glibc's
// malloc: malloc_trim. A few milliseconds for tens of MiB; thread-safe.
void ReleaseFreeMemory() noexcept;

}  // namespace certinbox::base
