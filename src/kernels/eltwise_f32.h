// Flat elementwise micro-kernels over contiguous float buffers.
#pragma once

#include <cstddef>

namespace effvit {

void relu_f32(const float* x, float* y, size_t n);
void add_f32(const float* a, const float* b, float* y, size_t n);

}  // namespace effvit
