// Keeps int8 conv chains channels-last (NHWC), the layout oneDNN's int8 convolutions read and
// write: without it every integer Conv reordered its uint8 input from NCHW and its output back
// (1.6 of M5's 7 ms). The counterpart of blocked_layout.cpp for graphs with integer Convs
// (passes/fold_qdq_into_conv.cpp):
//   - an integer chain is what an integer Conv reads, directly or through Adds (float, or
//     effvit.QuantizedAdd on codes), Relus,
//     BatchNormalizations with constant parameters (per channel: its kernel runs channels-last)
//     and per-tensor Quantize/DequantizeLinear (elementwise, so they keep the layout): effvit's own
//     files put a QuantizeLinear between convs, other tools' QDQ files DequantizeLinear -> Relu or
//     Add -> QuantizeLinear;
//   - an integer Conv writes NHWC when its output is in a chain or an Add, Relu, Quantize or
//     DequantizeLinear reads it; those ops stay NHWC inside a chain (Add and Relu whenever an
//     input is NHWC);
//   - a per-tensor QuantizeLinear from plain float32 into a chain writes NHWC codes, and a
//     DequantizeLinear from the chain to plain float32 reads them, each converting as it goes;
//   - effvit.ToNhwc / effvit.NhwcToPlain convert on the other edges where a reader needs the other
//     layout.
#include "ops/conv.h"
#include "passes/passes.h"

namespace effvit {
namespace {

bool is_activation(const Value& v) { return v.dtype == DType::f32 && v.shape.size() == 4; }

// A Quantize/DequantizeLinear with one constant scale and zero point on 8-bit codes (the only ones
// its kernels take channels-last; 16-bit codes never meet an integer conv): elementwise, so it keeps
// whatever layout its input has.
bool per_tensor(const Node& n, const Graph& g, const char* op) {
  if (n.op != op || !g.is_constant(n.inputs[1]) || shape_numel(g.value(n.inputs[1]).shape) != 1) return false;
  if (n.inputs.size() < 3 || n.inputs[2] == kNoValue) return true;
  const DType code = g.value(n.inputs[2]).dtype;
  return g.is_constant(n.inputs[2]) && (code == DType::u8 || code == DType::i8);
}
bool per_tensor_quantize(const Node& n, const Graph& g) { return per_tensor(n, g, "QuantizeLinear"); }
bool per_tensor_dequantize(const Node& n, const Graph& g) { return per_tensor(n, g, "DequantizeLinear"); }
// Elementwise on 8-bit codes, or float32 through a Q -> DQ pair, in any layout
// (passes/fold_requantize.cpp, passes/fold_quantize_dequantize.cpp).
bool requantize(const Node& n) { return n.op == "effvit.Requantize" || n.op == "effvit.QuantizeDequantize"; }
// effvit.QuantizedAdd's operands (inputs 0 and 3): an Add of two 8-bit tensors.
bool quantized_add_operand(const Node& n, size_t input) { return n.op == "effvit.QuantizedAdd" && (input == 0 || input == 3); }
// Per channel with constant parameters: its kernel runs channels-last too (ops/batchnorm.cpp).
bool constant_batchnorm(const Node& n, const Graph& g) {
  if (n.op != "BatchNormalization" || n.inputs.size() < 5) return false;
  for (size_t i = 1; i < 5; ++i)
    if (!g.is_constant(n.inputs[i])) return false;
  return true;
}

}  // namespace

bool has_integer_conv(const Graph& g) {
  for (const Node& n : g.nodes)
    if (n.op == "Conv" && is_quantized_conv(n)) return true;
  return false;
}

int assign_nhwc_layout(Graph& g) {
  std::vector<std::vector<const Node*>> readers(g.values.size());
  for (const Node& n : g.nodes)
    for (ValueId id : n.inputs)
      if (id != kNoValue) readers[static_cast<size_t>(id)].push_back(&n);
  // Readers that take a NHWC input as it is: an integer Conv, and the elementwise ops an int8
  // chain passes through, an Add, a Relu and a per-tensor Quantize/DequantizeLinear (another
  // tool's QDQ file puts DequantizeLinear -> Relu/Add -> QuantizeLinear between its convs).
  auto nhwc_reader = [&](const Node& r, ValueId id) {
    if (r.op == "Conv" && is_quantized_conv(r)) return r.inputs[0] == id || (has_residual(r) && r.inputs[kConvResidual] == id);
    if (r.op == "Add" || r.op == "Relu" || constant_batchnorm(r, g)) return true;
    if (r.op == "effvit.QuantizedAdd") return r.inputs[0] == id || r.inputs[3] == id;
    return (per_tensor_quantize(r, g) || per_tensor_dequantize(r, g) || requantize(r)) && r.inputs[0] == id;
  };
  auto read_nhwc = [&](ValueId id) {
    for (const Node* r : readers[static_cast<size_t>(id)])
      if (nhwc_reader(*r, id)) return true;
    return false;
  };
  // An integer chain: a value some integer Conv reads, or that reaches one through the elementwise
  // readers above. A chain that never meets an integer Conv stays plain.
  std::vector<char> reaches(g.values.size(), 0);
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const Node& n = g.nodes[i];
    const bool elementwise = n.op == "Add" || n.op == "Relu" || n.op == "effvit.QuantizedAdd" || constant_batchnorm(n, g) ||
                             per_tensor_quantize(n, g) || per_tensor_dequantize(n, g) || requantize(n);
    const bool into_chain = (n.op == "Conv" && is_quantized_conv(n)) || (elementwise && reaches[static_cast<size_t>(n.outputs[0])]);
    if (!into_chain) continue;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const bool data = n.op == "Add"                    ? k < 2
                        : n.op == "effvit.QuantizedAdd" ? quantized_add_operand(n, k)
                                                        : k == 0 || (n.op == "Conv" && has_residual(n) && k == kConvResidual);
      if (data && n.inputs[k] != kNoValue) reaches[static_cast<size_t>(n.inputs[k])] = 1;
    }
  }

  // A per-tensor Quantize/DequantizeLinear between plain float32 and NHWC codes converts the
  // layout itself: no reorder on either side. A DequantizeLinear only with a register tile's worth
  // of channels (8): its float transposes run scalar below that (the stem's 3-channel image went
  // 3x slower than the reorder it saved). A QuantizeLinear interleaves a few channels' codes
  // instead (ops/quantize.cpp).
  constexpr int64_t kMinConvertedChannels = 8;
  auto convertible = [&](const Value& floats, bool quantize) {
    return is_activation(floats) && (quantize || floats.shape[1] >= kMinConvertedChannels) && floats.layout == Layout::Plain &&
           !floats.is_constant;
  };
  auto from_plain_floats = [&](const Node& q) { return convertible(g.value(q.inputs[0]), true); };
  auto converts = [&](const Node& n) {
    const Value& x = g.value(n.inputs[0]);
    const Value& y = g.value(n.outputs[0]);
    if (per_tensor_quantize(n, g)) return from_plain_floats(n) && y.layout == Layout::Nhwc;
    return per_tensor_dequantize(n, g) && x.layout == Layout::Nhwc && (x.dtype == DType::u8 || x.dtype == DType::i8) && convertible(y, false);
  };
  int changed = 0;
  for (const Node& n : g.nodes) {
    Value& out = g.value(n.outputs[0]);
    const ValueId y = n.outputs[0];
    const bool nhwc_input = !n.inputs.empty() && n.inputs[0] != kNoValue && g.value(n.inputs[0]).layout == Layout::Nhwc;
    bool nhwc = false;
    if (n.op == "Conv" && is_quantized_conv(n) && out.shape.size() == 4) {
      // Codes too: a DequantizeLinear reading them converts to plain as it goes.
      nhwc = reaches[static_cast<size_t>(y)] || read_nhwc(y);
    } else if (n.op == "Relu" && is_activation(out)) {
      nhwc = nhwc_input;
    } else if ((n.op == "Add" && is_activation(out)) || (n.op == "effvit.QuantizedAdd" && out.shape.size() == 4)) {
      const Value& a = g.value(n.inputs[0]);
      const Value& b = g.value(n.inputs[n.op == "Add" ? 1 : 3]);
      nhwc = a.shape == b.shape && a.shape == out.shape && !a.is_constant && !b.is_constant &&
             (a.layout == Layout::Nhwc || b.layout == Layout::Nhwc);
    } else if (per_tensor_quantize(n, g) && out.shape.size() == 4 && from_plain_floats(n)) {
      // Quantized straight into the chain's layout (ops/quantize.cpp converts as it goes).
      nhwc = reaches[static_cast<size_t>(y)];
    } else if ((per_tensor_quantize(n, g) || per_tensor_dequantize(n, g) || requantize(n) || constant_batchnorm(n, g)) &&
               out.shape.size() == 4 && (!constant_batchnorm(n, g) || is_activation(out))) {
      nhwc = nhwc_input && reaches[static_cast<size_t>(y)];
    }
    if (nhwc) {
      out.layout = Layout::Nhwc;
      ++changed;
    }
  }
  if (!changed) return 0;

  // What each reader needs: integer Convs take their input in either layout and a residual in
  // their output's; Add, Relu and QuantizeLinear take their output's; everything else plain.
  auto wants = [&](const Node& n, size_t input) {
    if (n.op == "Conv" && is_quantized_conv(n) && input == 0) return g.value(n.inputs[0]).layout;
    // A conv's residual is added where its output is written.
    if (n.op == "Conv" && has_residual(n) && input == kConvResidual) return g.value(n.outputs[0]).layout;
    if (input == 0 && converts(n)) return g.value(n.inputs[0]).layout;
    if (n.op == "Add" || n.op == "Relu" || quantized_add_operand(n, input) ||
        ((n.op == "QuantizeLinear" || n.op == "DequantizeLinear" || requantize(n) || n.op == "BatchNormalization") && input == 0))
      return g.value(n.outputs[0]).layout;
    return Layout::Plain;
  };
  insert_layout_conversions(g, wants, 0);
  return changed;
}

}  // namespace effvit
