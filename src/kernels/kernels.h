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

// One head of EfficientViT-MSRA's cascaded group attention on one window of height x width = N
// pixels, fused (src/ops/attention_head.cpp has the reference):
//   q' = depthwise_conv(q) + dw_bias      (kernel_h x kernel_w, stride 1, output N pixels)
//   P  = softmax_rows(scale * q'^T k + bias)
//   out = v P^T
// with q, k, v the first key_dim, next key_dim and last value_dim channel rows of the window.
// q_step > 0: q first goes through QuantizeLinear(q_step, zero point q_zero, range [q_lo, q_hi])
// and back, as an int8 model's depthwise conv reads it. Trivial on purpose (no member initialisers):
// an implicit constructor emitted by a per-tier file could be the copy every caller links to.
//
// A QDQ file (ONNX Runtime's quantizer) also rounds the head's intermediates to int8 grids: each
// grid below with scale > 0 is a Q -> DQ round trip applied where the unfused graph applies it:
// q_grids to q' (the depthwise conv's output grid, then the scores MatMul's input grid), k_grid and
// v_grid to k and v as the MatMuls read them, scores_grid to q'^T k before the scale, probs_grid to P.
struct QuantizeDequantizeParams {
  float scale, zero_point, lo, hi, out_scale, out_zero_point;
};
struct AttentionHeadDims {
  int64_t key_dim, value_dim, height, width, kernel_h, kernel_w, pad_top, pad_left;
  float scale;
  float q_step, q_zero, q_lo, q_hi;
  QuantizeDequantizeParams q_grids[2], k_grid, v_grid, scores_grid, probs_grid;
};

// The kernel's scratch, carved from one region of attention_head_scratch_floats(d) floats.
struct AttentionHeadScratch {
  float* q_padded;  // [(height + kernel_h - 1) * (width + kernel_w - 1)][key_dim]
  float* k;         // [key_dim][N]    k on its grid (k_grid)
  float* v;         // [value_dim][N]  v on its grid (v_grid)
  float* q;         // [N][key_dim]
  float* q_t;       // [key_dim][stride]    stride = N rounded up to 16
  float* probs_t;   // [N][stride]          P transposed
  float* column;    // [2][stride]          per query pixel: max, then 1 / sum
};
size_t attention_head_scratch_floats(const AttentionHeadDims& d);
AttentionHeadScratch carve_attention_head_scratch(const AttentionHeadDims& d, float* base);
// dw_weight [key_dim][kernel_h * kernel_w] (ONNX order) -> tap-major [kernel_h * kernel_w][key_dim],
// as the kernel takes it (its inner loop runs over channels).
void pack_attention_dw_weight(const AttentionHeadDims& d, const float* dw_weight, float* tap_major);
// Floats of the attention bias as the kernel takes it: transposed and lane-padded, [N][stride].
size_t attention_bias_floats(const AttentionHeadDims& d);
// bias [N][N] (row i: query pixel, column j: key pixel) -> bias_t[j][i], padding lanes 0.
void pack_attention_bias(const AttentionHeadDims& d, const float* bias, float* bias_t);

// OpenCV's BT.601 video-range NV12 -> RGB in fixed point (20 fractional bits), shared by the
// reference op (src/ops/nv12.cpp) and the kernels.
namespace bt601 {
constexpr int kShift = 20, kHalf = 1 << (kShift - 1);
constexpr int kY = 1220542, kVR = 1673527, kVG = -852492, kUG = -409993, kUB = 2116026;
}  // namespace bt601

// A 1x1 convolution (stride 1, one group) of one image over bfloat16 activations in the 16-channel
// blocked layout: x [in_c / 16][pixels][16], y [out_c / 16][pixels][16], both multiples of 16
// channels. Sums in float32 from the bias; optional ReLU (relu_f32's); each output rounded to bf16
// once (nearest even). Denormal inputs, bias and results count as zero, as AVX512_BF16's
// vdpbf16ps and vcvtneps2bf16 (and so oneDNN's native bf16) take them. Trivial on purpose (see
// AttentionHeadDims).
struct PointwiseConvDims {
  int64_t in_c, out_c, pixels;
  bool relu;
  bool plain_f32_out;  // y plain [out_c][pixels] float32 instead (the sums unrounded)
};
// bf16 elements of the weights as the kernel reads them.
size_t pointwise_bf16_weight_elems(const PointwiseConvDims& d);
// Output blocks go in pairs (the last alone when out_c / 16 is odd); the kernel works on whole pairs.
inline int64_t pointwise_bf16_pairs(const PointwiseConvDims& d) { return (d.out_c / 16 + 1) / 2; }
// weight [out_c][in_c] (ONNX's, 1x1) -> per pair of output blocks, [in_c / 2][32 output channels][2
// input channels] ([in_c / 2][16][2] for a lone last block), rounded to bf16 (nearest even): the
// order the kernel reads them in, start to end.
void pack_pointwise_bf16_weight(const PointwiseConvDims& d, const float* weight, uint16_t* packed);
// Where weight [oc][ic] sits in that packing.
inline size_t pointwise_bf16_weight_index(const PointwiseConvDims& d, int64_t oc, int64_t ic) {
  const int64_t first = oc / 32 * 32, width = d.out_c - first < 32 ? d.out_c - first : 32;
  return static_cast<size_t>(first * d.in_c + (ic / 2) * width * 2 + (oc - first) * 2 + ic % 2);
}

// Two 8-bit tensors dequantized, added and quantized again (effvit.QuantizedAdd): per tensor,
// each of a, b and y uint8 or int8 (*_signed).
struct AddRequantizeParams {
  float a_scale, a_zero, b_scale, b_zero, y_scale, y_zero;
  bool a_signed, b_signed, y_signed;
};

// The float32 pointwise conv's weights: per pair of output blocks, [in_c][32 output channels]
// ([in_c][16] for a lone last block), the order the kernel reads them in.
inline size_t pointwise_f32_weight_index(const PointwiseConvDims& d, int64_t oc, int64_t ic) {
  const int64_t first = oc / 32 * 32, width = d.out_c - first < 32 ? d.out_c - first : 32;
  return static_cast<size_t>(first * d.in_c + ic * width + (oc - first));
}
void pack_pointwise_f32_weight(const PointwiseConvDims& d, const float* weight, float* packed);

// An integer 1x1 convolution (stride 1, one group) of one image, with AVX512-VNNI's vpdpbusd (four
// uint8 x int8 products summed into int32 lanes, exactly): x channels-last [pixels][in_c] uint8
// codes (an int8 activation is shifted by 128 first, its offset folded into `offset`), in_c a
// multiple of 4, out_c of 16. Per output channel c the int32 sum s = offset[c] + sum x * w becomes
//   8-bit out: clamp(round_half_even(fma(float(s), scale[c], y_zero)), lo, hi), lo raised to y_zero
//              by a ReLU (a ReLU before the quantization: y_zero is the real value 0);
//   float out: float(s) * scale[c], then max(., 0) with a ReLU.
// An 8-bit output code then goes through `table` when there is one (y = table[code's byte]: a
// folded effvit.Requantize), or is added to a residual. Trivial on purpose (see AttentionHeadDims).
enum class Pointwise8bitOutput : int { u8, s8, f32_nhwc, f32_plain };
struct Pointwise8bitDims {
  int64_t in_c, out_c, pixels;
  Pointwise8bitOutput output;
  bool relu;
  float y_zero;          // 8-bit outputs: the output zero point
  const uint8_t* table;  // 8-bit outputs: 256 bytes, or null
  // 8-bit outputs without a table: the codes then summed with this residual ([pixels][out_c], this
  // image's) as add_requantize_8bit sums them (a: the codes, b: the residual), or null.
  const void* residual;
  AddRequantizeParams add;
};
// Per pair of output blocks (the last alone when out_c / 16 is odd), [in_c / 4][32 output channels]
// [4 input channels] int8 ([in_c / 4][16][4] for a lone last block): the order the kernel reads them.
inline size_t pointwise_8bit_weight_index(const Pointwise8bitDims& d, int64_t oc, int64_t ic) {
  const int64_t first = oc / 32 * 32, width = d.out_c - first < 32 ? d.out_c - first : 32;
  return static_cast<size_t>(first * d.in_c + (ic / 4) * width * 4 + (oc - first) * 4 + ic % 4);
}
inline int64_t pointwise_8bit_pairs(const Pointwise8bitDims& d) { return (d.out_c / 16 + 1) / 2; }
// weight [out_c][in_c] (ONNX's, 1x1) -> that packing.
void pack_pointwise_8bit_weight(const Pointwise8bitDims& d, const int8_t* weight, int8_t* packed);

struct KernelTable {
  const char* isa;  // the tier the table was compiled for
  // y = max(x, 0) over n contiguous floats.
  void (*relu_f32)(const float* x, float* y, size_t n);
  // y = a + b over n contiguous floats.
  void (*add_f32)(const float* a, const float* b, float* y, size_t n);
  // The same over bfloat16 bits (bf16 plans): the sum is rounded to nearest even once; the Relu
  // is relu_f32's (a negative, -0 or a NaN gives +0).
  void (*relu_bf16)(const uint16_t* x, uint16_t* y, size_t n);
  void (*add_bf16)(const uint16_t* a, const uint16_t* b, uint16_t* y, size_t n);
  // y = (x - mean) * scale over n floats, exactly as Sub then Mul compute it.
  void (*normalize_f32)(const float* x, float* y, size_t n, float mean, float scale);
  // y[r] = mean of row r of x ([rows][len]), summed in double (ReduceMean, GlobalAveragePool).
  void (*row_mean_f32)(const float* x, float* y, int64_t rows, int64_t len);
  // y[r][j] = x[r][j] * scale[r] over [rows][len] (Mul by a per-row scale).
  void (*scale_rows_f32)(const float* x, const float* scale, float* y, int64_t rows, int64_t len);
  // y[r][j] = x[r][j] * scale[r] + shift[r] over [rows][len], the multiply-add possibly fused
  // (BatchNormalization).
  void (*affine_rows_f32)(const float* x, const float* scale, const float* shift, float* y, int64_t rows, int64_t len);
  // y[r][j] = x[r][j] * scale[j] + shift[j] (the channel innermost: NHWC).
  void (*affine_columns_f32)(const float* x, const float* scale, const float* shift, float* y, int64_t rows, int64_t len);
  // Whether none of n floats is a NaN or an infinity (the Session's input check).
  bool (*all_finite_f32)(const float* x, size_t n);
  // Lowers *lo and raises *hi to the smallest and largest of n floats (NaN ignored).
  void (*min_max_f32)(const float* x, size_t n, float* lo, float* hi);
  // y = float(x) over n bytes.
  void (*widen_u8_f32)(const uint8_t* x, float* y, size_t n);
  // y = float(x) over n int32 (Cast of ConvInteger's / MatMulInteger's sums).
  void (*widen_i32_f32)(const int32_t* x, float* y, size_t n);
  // y[r][0..len) = softmax(x[r][0..len) + bias[r][0..len)) for `rows` contiguous rows (bias may be
  // null; y may be x); ~1e-6 relative to std::exp.
  void (*softmax_rows_f32)(const float* x, const float* bias, float* y, int64_t rows, int64_t len);
  // y = saturate(round_half_even(x / scale) + zero_point) over n floats (QuantizeLinear per tensor).
  void (*quantize_f32_u8)(const float* x, uint8_t* y, size_t n, float scale, float zero_point);
  void (*quantize_f32_s8)(const float* x, int8_t* y, size_t n, float scale, float zero_point);
  // y = (x - zero_point) * scale over n bytes (DequantizeLinear per tensor), bit-equal to the op.
  void (*dequantize_u8_f32)(const uint8_t* x, float* y, size_t n, float scale, float zero_point);
  void (*dequantize_s8_f32)(const int8_t* x, float* y, size_t n, float scale, float zero_point);
  // y = DequantizeLinear(QuantizeLinear(x)) over n floats, the codes never stored (16-bit Q -> DQ
  // pairs on float activations), bit-equal to the two ops.
  void (*quantize_dequantize_f32)(const float* x, float* y, size_t n, const QuantizeDequantizeParams& p);
  // y[i] = table[x[i]] over n bytes (effvit.Requantize: any function of one 8-bit code).
  void (*lookup_u8)(const uint8_t* x, const uint8_t* table, uint8_t* y, size_t n);
  // The same with AVX512-VBMI's byte permutes (64 bytes in four instructions), for CPUs of the
  // table's tier that also have VBMI (Hardware::lookup_u8 picks it). Null below avx512_bf16.
  void (*lookup_u8_vbmi)(const uint8_t* x, const uint8_t* table, uint8_t* y, size_t n);
  // One NV12 row to R, G, B float rows (integers 0..255, exactly the reference op's): luma is the
  // row's `width` Y bytes, chroma its interleaved U V pairs; width is even.
  void (*nv12_row_f32)(const uint8_t* luma, const uint8_t* chroma, int64_t width, float* r, float* g, float* b);
  // See AttentionHeadDims. qkv: [2 key_dim + value_dim][N] (one window, plain); dw_weight:
  // [kernel_h * kernel_w][key_dim] (tap-major); dw_bias: [key_dim] or null; bias_t: the attention
  // bias packed by pack_attention_bias, or null; out: [value_dim][N]. ~1e-6 relative to the
  // reference.
  void (*attention_head_f32)(const AttentionHeadDims& d, const float* qkv, const float* dw_weight,
                             const float* dw_bias, const float* bias_t, float* out, const AttentionHeadScratch& scratch);
  // See PointwiseConvDims: the output block pairs [pair_begin, pair_end) of y. w as
  // pack_pointwise_bf16_weight packs it; bias [out_c] or null. Null below the avx512_bf16 tier.
  void (*pointwise_conv_bf16)(const PointwiseConvDims& d, const uint16_t* x, const uint16_t* w, const float* bias, void* y,
                              int64_t pair_begin, int64_t pair_end);
  // The float32 pointwise conv: x, y [channels / 16][pixels][16] float32 (nChw16c; PointwiseConvDims
  // with plain_f32_out false), w as pack_pointwise_f32_weight packs it, sums in float32 with FMAs
  // from the bias, optional ReLU. Null below the avx512 tier.
  void (*pointwise_conv_f32)(const PointwiseConvDims& d, const float* x, const float* w, const float* bias, float* y,
                             int64_t pair_begin, int64_t pair_end);
  // x plain [channels][pixels] float32 -> y [channels / 16][pixels][16] bf16, rounded to nearest
  // even, denormals to zero (channels a multiple of 16, pixels at most 2^26): the pointwise conv's
  // input from a plain float32 producer. Null below the avx512_bf16 tier.
  void (*plain_f32_to_blocked_bf16)(const float* x, int64_t channels, int64_t pixels, uint16_t* y);
  // The inverse, exact: x [channels / 16][pixels][16] bf16 -> y plain [channels][pixels] float32
  // (a bf16 plan's effvit.ToPlain). Null below the avx512_bf16 tier.
  void (*blocked_bf16_to_plain_f32)(const uint16_t* x, int64_t channels, int64_t pixels, float* y);
  // dst[r * dst_ld + c] = src[c * src_ld + r] for r < rows, c < cols: 4-byte elements moved
  // bit for bit (Transpose, in register tiles).
  void (*transpose_u32)(const uint32_t* src, int64_t rows, int64_t cols, int64_t src_ld, uint32_t* dst, int64_t dst_ld);
  // y [pixels][channels] = x [channels][pixels], bytes (a few-channel image's codes to NHWC).
  void (*planes_to_pixels_u8)(const uint8_t* x, int64_t channels, int64_t pixels, uint8_t* y);
  // y = QuantizeLinear(DequantizeLinear(a) + DequantizeLinear(b)) over n 8-bit codes, each step
  // the op's own float operation in order, bit-equal to the four ops.
  void (*add_requantize_8bit)(const void* a, const void* b, void* y, size_t n, const AddRequantizeParams& p);
  // See Pointwise8bitDims: the output block pairs [pair_begin, pair_end) of y (8-bit or float32
  // channels-last [pixels][out_c], or float32 plain [out_c][pixels]). w as pack_pointwise_8bit_weight
  // packs it. Null below the avx512_bf16 tier (the tier that is built with AVX512-VNNI).
  void (*pointwise_conv_8bit)(const Pointwise8bitDims& d, const uint8_t* x, const int8_t* w, const int32_t* offset, const float* scale,
                              void* y, int64_t pair_begin, int64_t pair_end);
};

extern const KernelTable kKernelsSse41, kKernelsAvx2, kKernelsAvx512, kKernelsAvx512Bf16;

// The best table built for an instruction set no richer than `tier`.
const KernelTable& kernels_for(IsaTier tier);

}  // namespace effvit
