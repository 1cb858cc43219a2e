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
}  // namespace
}  // namespace avx512_bf16_kernels

const KernelTable kKernelsAvx512Bf16 = {"avx512_bf16", avx512_bf16_kernels::relu_f32, avx512_bf16_kernels::add_f32,
    avx512_bf16_kernels::relu_bf16, avx512_bf16_kernels::add_bf16, avx512_bf16_kernels::normalize_f32, avx512_bf16_kernels::row_mean_f32, avx512_bf16_kernels::scale_rows_f32, avx512_bf16_kernels::affine_rows_f32, avx512_bf16_kernels::affine_columns_f32, avx512_bf16_kernels::all_finite_f32, avx512_bf16_kernels::min_max_f32,
    avx512_bf16_kernels::widen_u8_f32, avx512_bf16_kernels::widen_i32_f32, avx512_bf16_kernels::softmax_rows_f32, avx512_bf16_kernels::quantize_f32_u8,
    avx512_bf16_kernels::quantize_f32_s8, avx512_bf16_kernels::dequantize_u8_f32, avx512_bf16_kernels::dequantize_s8_f32, avx512_bf16_kernels::quantize_dequantize_f32, avx512_bf16_kernels::lookup_u8, avx512_bf16_kernels::nv12_row_f32, avx512_bf16_kernels::attention_head_f32,
    avx512_bf16_kernels::pointwise_conv_bf16, avx512_bf16_kernels::pointwise_conv_f32, avx512_bf16_kernels::plain_f32_to_blocked_bf16, avx512_bf16_kernels::blocked_bf16_to_plain_f32,
    avx512_bf16_kernels::transpose_u32, avx512_bf16_kernels::planes_to_pixels_u8, avx512_bf16_kernels::add_requantize_8bit, avx512_bf16_kernels::pointwise_conv_8bit};

}  // namespace effvit
