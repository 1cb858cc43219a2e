// Finding NaN and infinities in float inputs, which effvit refuses rather than runs (a ReLU's
// max(x, 0) would turn them into plausible logits where PyTorch and ONNX Runtime answer NaN).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "cpu/hardware.h"
#include "effvit/tensor.h"
#include "kernels/kernels.h"

namespace effvit {

// The index of the first NaN or infinity among x[0..n), or -1. A clean input (the common case) is
// one vectorised scan by the CPU's kernel table; only a dirty one is searched element by element.
inline int64_t first_non_finite(const float* x, int64_t n) {
  if (hardware().kernels->all_finite_f32(x, static_cast<size_t>(n))) return -1;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return i;
  return -1;
}

// "NaN at [0,2,5,9] (element 100361)": where the first NaN or infinity of x (of `shape`) sits, as
// the caller would index the array, for the message refusing it.
inline std::string non_finite_at(const float* x, const Shape& shape, int64_t at) {
  std::string index;
  int64_t rest = at;
  for (size_t d = shape.size(); d-- > 0;) {
    const int64_t size = shape[d] > 0 ? shape[d] : 1;
    index = std::to_string(rest % size) + (index.empty() ? "" : "," + index);
    rest /= size;
  }
  return std::string(std::isnan(x[at]) ? "NaN" : "an infinity") + " at [" + index + "] (element " + std::to_string(at) + ")";
}

}  // namespace effvit
