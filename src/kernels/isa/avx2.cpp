// effvit's micro-kernels compiled for the avx2 tier (this file alone gets that tier's compiler flags;
// see CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <immintrin.h>

#include "kernels/bf16_scalar.h"
#include "kernels/kernels.h"

namespace effvit {
namespace avx2_kernels {
namespace {
#include "kernels/eltwise_f32.inl"
#include "kernels/softmax_f32.inl"
#include "kernels/quantize_f32.inl"
#include "kernels/nv12_f32.inl"
#include "kernels/transpose_u32.inl"
constexpr int kVectorFloats = 8;
constexpr int kAttentionOutRows = 4;
constexpr int kScoreRows = 1;
#include "kernels/attention_head_f32.inl"
}  // namespace
}  // namespace avx2_kernels

const KernelTable kKernelsAvx2 = {"avx2", avx2_kernels::relu_f32, avx2_kernels::add_f32, avx2_kernels::relu_bf16, avx2_kernels::add_bf16, avx2_kernels::normalize_f32, avx2_kernels::row_mean_f32, avx2_kernels::scale_rows_f32, avx2_kernels::affine_rows_f32, avx2_kernels::affine_columns_f32, avx2_kernels::all_finite_f32, avx2_kernels::min_max_f32, avx2_kernels::widen_u8_f32, avx2_kernels::widen_i32_f32,
    avx2_kernels::softmax_rows_f32, avx2_kernels::quantize_f32_u8, avx2_kernels::quantize_f32_s8, avx2_kernels::dequantize_u8_f32, avx2_kernels::dequantize_s8_f32, avx2_kernels::quantize_dequantize_f32, avx2_kernels::lookup_u8, nullptr, avx2_kernels::nv12_row_f32,
    avx2_kernels::attention_head_f32, nullptr, nullptr, nullptr, nullptr, avx2_kernels::transpose_u32, avx2_kernels::planes_to_pixels_u8, avx2_kernels::add_requantize_8bit, nullptr};

}  // namespace effvit
