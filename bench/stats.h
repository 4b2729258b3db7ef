// Latency summaries and elapsed times for the benchmark report.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

namespace certinbox::bench {

struct LatencySummary {
  size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;  // in the samples' unit
};

// Nearest-rank percentiles (p99 of 500 samples is the 495th smallest). Empty input: all zero.
LatencySummary Summarize(std::vector<double> samples);

// The seconds from `from` to `to` (negative when `to` is earlier).
inline double Since(std::chrono::steady_clock::time_point from,
                    std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace certinbox::bench
