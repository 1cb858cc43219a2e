// Plain loops built as AVX-512 / AVX2 / baseline clones; the loader picks one for this CPU, once.
#include "kernels/eltwise_f32.h"

namespace effvit {

__attribute__((target_clones("avx512f", "avx2", "default")))
void relu_f32(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void add_f32(const float* a, const float* b, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

}  // namespace effvit
