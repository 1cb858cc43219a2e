// effvit's micro-kernels compiled for the avx512_bf16 tier: the avx512 tier's, built again with
// AVX512_BF16 and AVX512-VNNI allowed (every CPU of the tier has both), plus the bf16 and 8-bit
// pointwise convs that need their instructions (this file alone gets that tier's compiler flags;
// see CMakeLists.txt).
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its -Wuninitialized then
// reports wherever they are inlined (GCC bug 105593): false alarms, silenced where they point.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/bf16_scalar.h"
#include "kernels/kernels.h"

namespace effvit {
namespace avx512_bf16_kernels {
namespace {
#include "kernels/eltwise_f32.inl"
#include "kernels/softmax_f32.inl"
#include "kernels/quantize_f32.inl"
#include "kernels/nv12_f32.inl"
#include "kernels/transpose_u32.inl"
constexpr int kVectorFloats = 16;
constexpr int kAttentionOutRows = 8;
constexpr int kScoreRows = 2;
#include "kernels/attention_head_f32.inl"
#include "kernels/pointwise_conv_bf16.inl"
#include "kernels/pointwise_conv_f32.inl"
#include "kernels/pointwise_conv_8bit.inl"

// y[i] = table[x[i]] with AVX512-VBMI (built for it here, run only where Hardware::lookup_u8 found
// it): two vpermi2b look a byte up in each half of the table, its top bit picks the half.
__attribute__((target("avx512vbmi"))) static inline __m512i look_up_64(const __m512i (&t)[4], __m512i v) {
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), _mm512_permutex2var_epi8(t[0], v, t[1]), _mm512_permutex2var_epi8(t[2], v, t[3]));
}
__attribute__((target("avx512vbmi"))) static void lookup_u8_vbmi(const uint8_t* x, const uint8_t* table, uint8_t* y, size_t n) {
  __m512i t[4];
  for (int i = 0; i < 4; ++i) t[i] = _mm512_loadu_si512(table + 64 * i);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) _mm512_storeu_si512(y + i, look_up_64(t, _mm512_loadu_si512(x + i)));
  if (i < n) {
    const __mmask64 rest = ~uint64_t{0} >> (64 - (n - i));  // n - i is 1..63
    _mm512_mask_storeu_epi8(y + i, rest, look_up_64(t, _mm512_maskz_loadu_epi8(rest, x + i)));
  }
}
}  // namespace
}  // namespace avx512_bf16_kernels

const KernelTable kKernelsAvx512Bf16 = {"avx512_bf16", avx512_bf16_kernels::relu_f32, avx512_bf16_kernels::add_f32,
    avx512_bf16_kernels::relu_bf16, avx512_bf16_kernels::add_bf16, avx512_bf16_kernels::normalize_f32, avx512_bf16_kernels::row_mean_f32, avx512_bf16_kernels::scale_rows_f32, avx512_bf16_kernels::affine_rows_f32, avx512_bf16_kernels::affine_columns_f32, avx512_bf16_kernels::all_finite_f32, avx512_bf16_kernels::min_max_f32,
    avx512_bf16_kernels::widen_u8_f32, avx512_bf16_kernels::widen_i32_f32, avx512_bf16_kernels::softmax_rows_f32, avx512_bf16_kernels::quantize_f32_u8,
    avx512_bf16_kernels::quantize_f32_s8, avx512_bf16_kernels::dequantize_u8_f32, avx512_bf16_kernels::dequantize_s8_f32, avx512_bf16_kernels::quantize_dequantize_f32, avx512_bf16_kernels::lookup_u8, avx512_bf16_kernels::lookup_u8_vbmi, avx512_bf16_kernels::nv12_row_f32, avx512_bf16_kernels::attention_head_f32,
    avx512_bf16_kernels::pointwise_conv_bf16, avx512_bf16_kernels::pointwise_conv_f32, avx512_bf16_kernels::plain_f32_to_blocked_bf16, avx512_bf16_kernels::blocked_bf16_to_plain_f32,
    avx512_bf16_kernels::transpose_u32, avx512_bf16_kernels::planes_to_pixels_u8, avx512_bf16_kernels::add_requantize_8bit, avx512_bf16_kernels::pointwise_conv_8bit};

}  // namespace effvit
