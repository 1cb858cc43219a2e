#include "quant/range_observer.h"

#include <algorithm>
#include <cmath>
#include <vector>

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
      zeros_ += values[i] == 0.f;
    }
  } else {
    bins_[0] += count;  // all zeros so far
    zeros_ += count;
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

namespace {

// Candidate bounds are bin edges in steps of this many bins (4096 / 16 = 256 candidates): finer
// steps change the chosen bound by less than the bins' own resolution.
constexpr size_t kCandidateStride = 16;

// Normalises `d` to sum 1, then moves eps to every empty bin from the non-empty ones.
void smooth(std::vector<double>& d) {
  constexpr double eps = 1e-4;
  double total = 0;
  size_t zeros = 0;
  for (double v : d) {
    total += v;
    zeros += v <= 0;
  }
  if (total <= 0 || zeros == d.size()) return;
  const size_t nonzero = d.size() - zeros;
  const double take = eps * static_cast<double>(zeros) / static_cast<double>(nonzero);
  for (double& v : d) v = v <= 0 ? eps : std::max(v / total - take, eps * 0.1);
}

}  // namespace

float RangeObserver::kl_bound(int levels, size_t bins) const {
  if (count_ == 0 || abs_max_ == 0) return 0;
  if (bins < 128 || bins > kBins || (bins & (bins - 1)) != 0) throw Error(ErrorKind::internal, "kl: the histogram bins must be a power of two from 128 to 4096");
  // The histogram at the asked resolution, exact zeros taken out of its first bin.
  const size_t merge = kBins / bins;
  std::vector<double> hist(bins, 0.0);
  for (size_t i = 0; i < kBins; ++i) hist[i / merge] += static_cast<double>(bins_[i]);
  hist[0] -= static_cast<double>(zeros_);
  const size_t q_bins = static_cast<size_t>(std::max(levels, 1));
  const size_t stride = std::max<size_t>(1, bins / (kBins / kCandidateStride));
  // The bin holding the maximum: every edge from there on clips nothing, so it is the last
  // candidate, and always one (the histogram's range is 1-2x the maximum, as it doubles).
  const size_t top = std::clamp<size_t>(static_cast<size_t>(std::ceil(static_cast<double>(abs_max_) / range_ * static_cast<double>(bins))), 1, bins);
  std::vector<size_t> edges;
  for (size_t edge = std::max(q_bins, stride); edge < top; edge += stride) edges.push_back(edge);
  edges.push_back(top);
  double best = INFINITY;
  size_t best_edge = top;
  std::vector<double> p, q;
  for (const size_t edge : edges) {
    // P: the histogram of the non-zero values clipped at `edge` (what lies above lands in the last
    // kept bin). Exact zeros are left out: a ReLU output is half zeros, and that spike would make
    // every clipping look cheap.
    p.assign(hist.begin(), hist.begin() + static_cast<std::ptrdiff_t>(edge));
    double outliers = 0;
    for (size_t i = edge; i < bins; ++i) outliers += hist[i];
    p[edge - 1] += outliers;
    // Q: the histogram below `edge` (without the clipped mass, which is what clipping loses) merged
    // into q_bins groups, each group's mass spread back over its non-empty bins.
    q.assign(edge, 0.0);
    for (size_t g = 0; g < q_bins; ++g) {
      const size_t first = g * edge / q_bins, last = (g + 1) * edge / q_bins;
      double mass = 0;
      size_t nonzero = 0;
      for (size_t i = first; i < last; ++i) {
        mass += hist[i];
        nonzero += hist[i] > 0;
      }
      for (size_t i = first; i < last; ++i)
        if (hist[i] > 0) q[i] = mass / static_cast<double>(nonzero);
    }
    // Both normalised and smoothed as MXNet's and TensorRT's calibrators do: empty bins get a
    // small share taken from the others, so a clip into an empty bin costs a finite amount.
    smooth(p);
    smooth(q);
    double kl = 0;
    for (size_t i = 0; i < edge; ++i)
      if (p[i] > 0) kl += p[i] * std::log(p[i] / q[i]);
    if (kl < best) {
      best = kl;
      best_edge = edge;
    }
  }
  return std::min(abs_max_, range_ * static_cast<float>(best_edge) / static_cast<float>(bins));
}

float RangeObserver::mse_bound(int levels) const {
  if (count_ == 0 || abs_max_ == 0) return 0;
  const double bin = range_ / kBins;
  double best = INFINITY;
  float best_bound = abs_max_;
  for (size_t edge = kCandidateStride; edge <= kBins; edge += kCandidateStride) {
    const double b = bin * static_cast<double>(edge), step = b / std::max(levels, 1);
    double err = 0;
    for (size_t i = 0; i < kBins; ++i) {
      // Exact zeros are exact at any scale: they cost nothing.
      const double count = static_cast<double>(bins_[i]) - (i == 0 ? static_cast<double>(zeros_) : 0.0);
      if (count <= 0) continue;
      const double x = (static_cast<double>(i) + 0.5) * bin;
      err += count * (x > b ? (x - b) * (x - b) : step * step / 12);
    }
    if (err < best) {
      best = err;
      best_bound = std::min(abs_max_, static_cast<float>(b));
    }
  }
  return best_bound;
}

std::vector<uint64_t> RangeObserver::histogram(size_t bins) const {
  std::vector<uint64_t> merged(std::max<size_t>(bins, 1), 0);
  for (size_t i = 0; i < kBins; ++i) merged[i * merged.size() / kBins] += bins_[i];
  return merged;
}

}  // namespace effvit::quant
