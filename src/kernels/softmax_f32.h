// Row softmax micro-kernel: y[r][0..len) = softmax(x[r][0..len)) for contiguous rows.
#pragma once

#include <cstdint>

namespace effvit {

// Vectorised (AVX-512 / AVX2 clone chosen once at load time, portable fallback); agrees with the
// std::exp reference to ~1e-6 relative (the sum is accumulated in a different order).
void softmax_rows_f32(const float* x, float* y, int64_t rows, int64_t len);

}  // namespace effvit
