#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace certinbox::bench {

LatencySummary Summarize(std::vector<double> samples) {
  LatencySummary summary;
  summary.count = samples.size();
  if (samples.empty()) return summary;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double p) {
    size_t k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
    return samples[std::clamp<size_t>(k, 1, samples.size()) - 1];
  };
  summary.p50 = rank(50);
  summary.p90 = rank(90);
  summary.p99 = rank(99);
  summary.max = samples.back();
  summary.mean =
      std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  return summary;
}

}  // namespace certinbox::bench
