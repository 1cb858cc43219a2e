#include "quant/range_observer.h"

#include <algorithm>
#include <cmath>

#include "effvit/error.h"

namespace effvit::quant {

void RangeObserver::grow_to(float bound) {
  if (range_ == 0) {
    range_ = bound;
    return;
  }
  while (range_ < bound) {
    // Double the range: bin i of the new histogram holds old bins 2i and 2i+1.
    for (size_t i = 0; i < kBins / 2; ++i) bins_[i] = bins_[2 * i] + bins_[2 * i + 1];
    std::fill(bins_.begin() + kBins / 2, bins_.end(), 0);
    range_ *= 2;
  }
}

void RangeObserver::observe(const float* values, size_t count) {
  if (count == 0) return;
  float lo = values[0], hi = values[0], amax = 0;
  for (size_t i = 0; i < count; ++i) {
    const float v = values[i];
    if (!std::isfinite(v)) throw Error(ErrorKind::invalid_input, "calibration: a non-finite value in a tensor of the float model");
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    amax = std::max(amax, std::fabs(v));
  }
  min_ = count_ == 0 ? lo : std::min(min_, lo);
  max_ = count_ == 0 ? hi : std::max(max_, hi);
  abs_max_ = std::max(abs_max_, amax);
  if (amax > 0) grow_to(amax);
  if (range_ > 0) {
    const float per_bin = static_cast<float>(kBins) / range_;
    for (size_t i = 0; i < count; ++i) {
      const size_t b = std::min(static_cast<size_t>(std::fabs(values[i]) * per_bin), kBins - 1);
      ++bins_[b];
    }
  } else {
    bins_[0] += count;  // all zeros so far
  }
  count_ += count;
}

float RangeObserver::abs_bound(double percentile) const {
  if (count_ == 0 || abs_max_ == 0) return 0;
  if (percentile >= 1.0) return abs_max_;
  const double want = percentile * static_cast<double>(count_);
  uint64_t below = 0;
  for (size_t i = 0; i < kBins; ++i) {
    below += bins_[i];
    if (static_cast<double>(below) >= want) return std::min(abs_max_, range_ * static_cast<float>(i + 1) / kBins);
  }
  return abs_max_;
}

}  // namespace effvit::quant
