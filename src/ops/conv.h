// Convolution geometry shared by the reference Conv and its oneDNN kernel.
#pragma once

#include "kernels/kernels.h"
#include "ops/op.h"

namespace effvit {
enum class IsaTier : int;
}

namespace effvit {

struct ConvGeometry {
  int64_t batch, in_c, in_h, in_w;
  int64_t out_c, out_h, out_w;
  int64_t groups, kh, kw;
  int64_t stride_h, stride_w, dil_h, dil_w;
  int64_t pad_t, pad_l, pad_b, pad_r;
};

ConvGeometry conv_geometry(const Node& node, const Shape& input, const Shape& weight);

inline double conv_macs(const ConvGeometry& g) {
  return static_cast<double>(g.batch) * g.out_c * g.out_h * g.out_w * (g.in_c / g.groups) * g.kh * g.kw;
}

// A Conv that passes/fold_qdq_into_conv.cpp made integer: inputs (uint8/int8 x, int8 w, int32
// bias or none, float32 per-channel weight scales), attribute effvit.x_scale.
inline bool is_quantized_conv(const Node& node) { return node.has("effvit.x_scale"); }

// An integer conv with 8-bit output may add a residual to its codes
// (passes/fold_quantized_add_into_conv.cpp), as effvit.QuantizedAdd does: inputs 4 to 10 are the
// residual r, r's scale and zero point, the conv's own codes' scale and zero point as the sum reads
// them, and the sum's scale and zero point; the output takes the sum's type.
constexpr size_t kConvResidual = 4;
inline bool has_residual(const Node& node) { return node.inputs.size() > kConvResidual && node.inputs[kConvResidual] != kNoValue; }
// That sum's parameters (a: the conv's own codes, b: the residual), from the graph's constants.
AddRequantizeParams residual_add_params(const Node& node, const Graph& graph);
// Whether a conv kernel writing `output_layout` can add the node's residual (if any): the residual
// in that layout, its grids constant.
bool residual_fits(const Node& node, const Graph& graph, Layout output_layout);
// A folded Requantize's table (passes/fold_requantize_into_conv.cpp) as bytes, or empty.
std::vector<uint8_t> code_table(const Node& node);

std::unique_ptr<Kernel> create_conv_dnnl(const Node& node, const Graph& graph, const KernelOptions& options);
// Whether oneDNN's int8 conv at `tier` computes the exact integer sums for these operands: always
// with VNNI; without it only for uint8 activations and weights within [-64, 64].
bool int8_conv_is_exact(IsaTier tier, DType activation, const Tensor& weights);

// An integer conv's kernel: oneDNN int8, or (no int8 kernel for the shape, or !allow_int8 in tests)
// a float32 conv on its dequantized operands.
std::unique_ptr<Kernel> create_quantized_conv_dnnl(const Node& node, const Graph& graph, const KernelOptions& options,
                                                   bool allow_int8 = true);

// ConvInteger (ops/integer_ops.cpp) on oneDNN's int8 conv where it is exact (uint8 x, int8 weights
// with zero point 0); null elsewhere (the reference loop runs).
std::unique_ptr<Kernel> create_conv_integer_dnnl(const Node& node, const Graph& graph, const KernelOptions& options);

}  // namespace effvit
