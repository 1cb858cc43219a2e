// bfloat16 <-> float32 for one element, shared by the reference ops and the per-tier kernels (whose
// compilers vectorise these into their loops). `static`, with no library calls: a per-tier file
// that includes this must not emit a copy another file could link to (see eltwise_f32.inl).
#pragma once

#include <cstdint>

namespace effvit {

// Exact: a bfloat16 is the upper half of a float32.
static inline float bf16_to_f32(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}

// Round to nearest, ties to even, as oneDNN's conversions and AVX512_BF16's vcvtneps2bf16 round;
// NaN stays NaN (quieted) instead of rounding into an infinity. Unlike vcvtneps2bf16, a denormal
// is rounded, not flushed to zero.
static inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace effvit
