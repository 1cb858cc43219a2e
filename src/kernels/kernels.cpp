#include "kernels/kernels.h"

#include "effvit/hardware.h"
#include "kernels/bf16_scalar.h"

namespace effvit {
namespace {

int64_t lane_stride(int64_t n) { return (n + 15) / 16 * 16; }

}  // namespace

size_t attention_head_scratch_floats(const AttentionHeadDims& d) {
  const int64_t n = d.height * d.width, stride = lane_stride(n);
  const int64_t padded = (d.height + d.kernel_h - 1) * (d.width + d.kernel_w - 1);
  return static_cast<size_t>(padded * d.key_dim + (d.key_dim + d.value_dim) * n + n * d.key_dim + d.key_dim * stride +
                             n * stride + 2 * stride);
}

void pack_attention_dw_weight(const AttentionHeadDims& d, const float* dw_weight, float* tap_major) {
  const int64_t taps = d.kernel_h * d.kernel_w;
  for (int64_t c = 0; c < d.key_dim; ++c)
    for (int64_t t = 0; t < taps; ++t) tap_major[t * d.key_dim + c] = dw_weight[c * taps + t];
}

size_t attention_bias_floats(const AttentionHeadDims& d) {
  const int64_t n = d.height * d.width;
  return static_cast<size_t>(n * lane_stride(n));
}

void pack_attention_bias(const AttentionHeadDims& d, const float* bias, float* bias_t) {
  const int64_t n = d.height * d.width, stride = lane_stride(n);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < stride; ++i) bias_t[j * stride + i] = i < n ? bias[i * n + j] : 0.f;
}

AttentionHeadScratch carve_attention_head_scratch(const AttentionHeadDims& d, float* base) {
  const int64_t n = d.height * d.width, stride = lane_stride(n);
  const int64_t padded = (d.height + d.kernel_h - 1) * (d.width + d.kernel_w - 1);
  AttentionHeadScratch s;
  s.q_padded = base;
  s.k = s.q_padded + padded * d.key_dim;
  s.v = s.k + d.key_dim * n;
  s.q = s.v + d.value_dim * n;
  s.q_t = s.q + n * d.key_dim;
  s.probs_t = s.q_t + d.key_dim * stride;
  s.column = s.probs_t + n * stride;
  return s;
}

size_t pointwise_bf16_weight_elems(const PointwiseConvDims& d) { return static_cast<size_t>(d.out_c * d.in_c); }

void pack_pointwise_bf16_weight(const PointwiseConvDims& d, const float* weight, uint16_t* packed) {
  for (int64_t oc = 0; oc < d.out_c; ++oc)
    for (int64_t ic = 0; ic < d.in_c; ++ic) packed[pointwise_bf16_weight_index(d, oc, ic)] = f32_to_bf16(weight[oc * d.in_c + ic]);
}

void pack_pointwise_f32_weight(const PointwiseConvDims& d, const float* weight, float* packed) {
  for (int64_t oc = 0; oc < d.out_c; ++oc)
    for (int64_t ic = 0; ic < d.in_c; ++ic) packed[pointwise_f32_weight_index(d, oc, ic)] = weight[oc * d.in_c + ic];
}

void pack_pointwise_8bit_weight(const Pointwise8bitDims& d, const int8_t* weight, int8_t* packed) {
  for (int64_t oc = 0; oc < d.out_c; ++oc)
    for (int64_t ic = 0; ic < d.in_c; ++ic) packed[pointwise_8bit_weight_index(d, oc, ic)] = weight[oc * d.in_c + ic];
}

const KernelTable& kernels_for(IsaTier tier) {
  if (tier >= IsaTier::avx512_bf16) return kKernelsAvx512Bf16;
  if (tier >= IsaTier::avx512) return kKernelsAvx512;
  if (tier >= IsaTier::avx2) return kKernelsAvx2;
  return kKernelsSse41;
}

}  // namespace effvit
