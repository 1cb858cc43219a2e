// Finding NaN and infinities in float inputs, which effvit refuses rather than runs (a ReLU's
// max(x, 0) would turn them into plausible logits where PyTorch and ONNX Runtime answer NaN).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace effvit {

// The index of the first NaN or infinity among x[0..n), or -1. Blocks are tested branch-free (the
// compiler vectorises the exponent test), so a clean 3x224x224 image costs tens of microseconds.
inline int64_t first_non_finite(const float* x, int64_t n) {
  constexpr int64_t kBlock = 1024;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t end = std::min(n, start + kBlock);
    uint32_t any = 0;
    for (int64_t i = start; i < end; ++i) {
      uint32_t bits;
      std::memcpy(&bits, x + i, 4);
      any |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (!any) continue;
    for (int64_t i = start; i < end; ++i)
      if (!std::isfinite(x[i])) return i;
  }
  return -1;
}

}  // namespace effvit
