// What calibration learns about one tensor: its sign, and how far from zero its values reach: the
// max_percentile-th quantile of |x| over every calibration sample (1.0: the plain maximum), or the
// bound a KL or MSE criterion picks on the same histogram.
// Memory stays bounded whatever the sample count: |x| goes into a fixed histogram whose range
// doubles (merging bins pairwise) when a larger value arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace effvit::quant {

class RangeObserver {
 public:
  static constexpr size_t kBins = 4096;

  void observe(const float* values, size_t count);

  bool seen() const { return count_ > 0; }
  float min() const { return min_; }
  float max() const { return max_; }
  // The smallest bound b with at least `percentile` of all |x| observed <= b (up to one bin,
  // and never above the true maximum).
  float abs_bound(double percentile) const;
  // The bound whose clipping to [0, b] and rounding to `levels` steps loses the least information
  // (KL divergence between the |x| histogram and its quantized form, TensorRT's entropy method),
  // searched on the histogram merged down to `bins` bins (a power of two, 128 to kBins), from
  // `levels` bins up to the one holding the maximum (no clipping). The histogram's range is 1-2x
  // the maximum (it doubles as values grow), so the deepest clip it can pick is levels / bins of
  // that range.
  float kl_bound(int levels, size_t bins = kBins) const;
  // The |x| histogram merged down to `bins` bins over [0, histogram_range()] (for plots).
  std::vector<uint64_t> histogram(size_t bins) const;
  float histogram_range() const { return range_; }
  // The bound with the least expected squared error: values above b clip to b, values below round
  // to steps of b / levels (error step^2 / 12 each).
  float mse_bound(int levels) const;

 private:
  void grow_to(float bound);

  std::vector<uint64_t> bins_ = std::vector<uint64_t>(kBins, 0);
  float range_ = 0;  // the histogram covers [0, range_]
  float min_ = 0, max_ = 0, abs_max_ = 0;
  uint64_t count_ = 0;
  uint64_t zeros_ = 0;  // exact zeros (ReLU outputs, padding): exact at any scale, so KL ignores them
};

}  // namespace effvit::quant
