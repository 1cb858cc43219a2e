// effvit's micro-kernels compiled for the sse41 tier (this file alone gets that tier's compiler flags;
// see CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <immintrin.h>

#include "kernels/bf16_scalar.h"
#include "kernels/kernels.h"

namespace effvit {
namespace sse41_kernels {
namespace {
#include "kernels/eltwise_f32.inl"
#include "kernels/softmax_f32.inl"
#include "kernels/quantize_f32.inl"
#include "kernels/nv12_f32.inl"
#include "kernels/transpose_u32.inl"
constexpr int kVectorFloats = 4;
constexpr int kAttentionOutRows = 2;
constexpr int kScoreRows = 1;
#include "kernels/attention_head_f32.inl"
}  // namespace
}  // namespace sse41_kernels

const KernelTable kKernelsSse41 = {"sse41", sse41_kernels::relu_f32, sse41_kernels::add_f32, sse41_kernels::relu_bf16, sse41_kernels::add_bf16, sse41_kernels::normalize_f32, sse41_kernels::row_mean_f32, sse41_kernels::scale_rows_f32, sse41_kernels::affine_rows_f32, sse41_kernels::affine_columns_f32, sse41_kernels::all_finite_f32, sse41_kernels::min_max_f32, sse41_kernels::widen_u8_f32, sse41_kernels::widen_i32_f32,
    sse41_kernels::softmax_rows_f32, sse41_kernels::quantize_f32_u8, sse41_kernels::quantize_f32_s8, sse41_kernels::dequantize_u8_f32, sse41_kernels::dequantize_s8_f32, sse41_kernels::quantize_dequantize_f32, sse41_kernels::lookup_u8, nullptr, sse41_kernels::nv12_row_f32,
    sse41_kernels::attention_head_f32, nullptr, nullptr, nullptr, nullptr, sse41_kernels::transpose_u32, sse41_kernels::planes_to_pixels_u8, sse41_kernels::add_requantize_8bit, nullptr};

}  // namespace effvit
