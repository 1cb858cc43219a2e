// effvit's own micro-kernels: plain loops the compiler vectorises, built once per ISA tier
// (src/kernels/isa/<tier>.cpp, each compiled with that tier's instruction set) and reached through
// the table the hardware object picks (cpu/hardware.h), never by testing CPU flags here.
//
// Each kernel agrees with its op's reference loop (src/ops/) to float rounding; tests run every
// table this machine supports against it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace effvit {

// Declared, not included: the per-tier files that include this header must see no inline library
// code (see eltwise_f32.inl).
enum class IsaTier : int;

struct KernelTable {
  const char* isa;  // the tier the table was compiled for
  // y = max(x, 0) over n contiguous floats.
  void (*relu_f32)(const float* x, float* y, size_t n);
  // y = a + b over n contiguous floats.
  void (*add_f32)(const float* a, const float* b, float* y, size_t n);
  // y[r][0..len) = softmax(x[r][0..len) + bias[r][0..len)) for `rows` contiguous rows (bias may be
  // null; y may be x); ~1e-6 relative to std::exp.
  void (*softmax_rows_f32)(const float* x, const float* bias, float* y, int64_t rows, int64_t len);
  // y = saturate(round_half_even(x / scale) + zero_point) over n floats (QuantizeLinear per tensor).
  void (*quantize_f32_u8)(const float* x, uint8_t* y, size_t n, float scale, float zero_point);
  void (*quantize_f32_s8)(const float* x, int8_t* y, size_t n, float scale, float zero_point);
};

extern const KernelTable kKernelsSse41, kKernelsAvx2, kKernelsAvx512;

// The best table built for an instruction set no richer than `tier`.
const KernelTable& kernels_for(IsaTier tier);

}  // namespace effvit
