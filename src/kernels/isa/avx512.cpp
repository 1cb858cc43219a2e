// effvit's micro-kernels compiled for the avx512 tier (this file alone gets that tier's compiler flags;
// see CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <immintrin.h>

#include <utility>

#include "kernels/bf16_scalar.h"
#include "kernels/kernels.h"

namespace effvit {
namespace avx512_kernels {
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
#include "kernels/pointwise_conv_f32.inl"
}  // namespace
}  // namespace avx512_kernels

const KernelTable kKernelsAvx512 = {"avx512", avx512_kernels::relu_f32, avx512_kernels::add_f32, avx512_kernels::relu_bf16, avx512_kernels::add_bf16, avx512_kernels::normalize_f32, avx512_kernels::row_mean_f32, avx512_kernels::scale_rows_f32, avx512_kernels::affine_rows_f32, avx512_kernels::affine_columns_f32, avx512_kernels::all_finite_f32, avx512_kernels::min_max_f32, avx512_kernels::widen_u8_f32, avx512_kernels::widen_i32_f32,
    avx512_kernels::softmax_rows_f32, avx512_kernels::quantize_f32_u8, avx512_kernels::quantize_f32_s8, avx512_kernels::dequantize_u8_f32, avx512_kernels::dequantize_s8_f32, avx512_kernels::quantize_dequantize_f32, avx512_kernels::lookup_u8, nullptr, avx512_kernels::nv12_row_f32,
    avx512_kernels::attention_head_f32, nullptr, avx512_kernels::pointwise_conv_f32, nullptr, nullptr, avx512_kernels::transpose_u32, avx512_kernels::planes_to_pixels_u8, avx512_kernels::add_requantize_8bit, nullptr};

}  // namespace effvit
