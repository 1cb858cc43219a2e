// ONNX Runtime's quantize_static writes int8 activations with non-zero zero points by default;
// effvit's integer conv reads uint8 with any zero point, or int8 with zero point 0 (what oneDNN
// computes exactly with its u8 x s8 kernels, see fold_qdq_into_conv.cpp). The two are the same
// numbers 128 apart:
//
//   QuantizeLinear(x, s, z) as int8 + 128 == QuantizeLinear(x, s, z + 128) as uint8
//
// saturation included ([-128, 127] is [0, 255] shifted), and a DequantizeLinear reads (q - z) * s
// either way. So an int8 activation with a non-zero zero point, written by a QuantizeLinear and read
// only by DequantizeLinears, becomes uint8: the writer and every reader get the zero point z + 128
// as uint8. The model computes exactly what it did, and its convs reach the int8 kernels.
#include <algorithm>

#include "passes/passes.h"

namespace effvit {
namespace {

// The int8 zero point constant of a QuantizeLinear / DequantizeLinear, or null.
const Tensor* int8_zero_point(const Graph& g, const Node& n) {
  if (n.inputs.size() < 3 || !g.is_constant(n.inputs[2]) || g.value(n.inputs[2]).dtype != DType::i8) return nullptr;
  return &g.value(n.inputs[2]).constant;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.bytes() == b.bytes() && std::equal(static_cast<const uint8_t*>(a.raw()),
                                                                        static_cast<const uint8_t*>(a.raw()) + a.bytes(),
                                                                        static_cast<const uint8_t*>(b.raw()));
}

}  // namespace

int shift_int8_activations_to_uint8(Graph& g) {
  // Readers of each value, as (node index, input slot); graph outputs make a value unshiftable.
  std::vector<std::vector<std::pair<size_t, size_t>>> readers(g.values.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (size_t k = 0; k < g.nodes[i].inputs.size(); ++k)
      if (g.nodes[i].inputs[k] != kNoValue) readers[static_cast<size_t>(g.nodes[i].inputs[k])].emplace_back(i, k);
  std::vector<char> is_output(g.values.size(), 0);
  for (ValueId id : g.outputs) is_output[static_cast<size_t>(id)] = 1;

  int shifted = 0;
  for (size_t qi = 0; qi < g.nodes.size(); ++qi) {
    const Node& q = g.nodes[qi];
    if (q.op != "QuantizeLinear" || q.outputs.empty() || g.is_constant(q.inputs[0])) continue;
    const Tensor* z = int8_zero_point(g, q);
    const ValueId out = q.outputs[0];
    if (!z || is_output[static_cast<size_t>(out)] || readers[static_cast<size_t>(out)].empty()) continue;
    bool nonzero = false;
    for (int64_t i = 0; i < z->numel(); ++i) nonzero |= z->data<int8_t>()[i] != 0;
    if (!nonzero) continue;  // int8 at zero point 0 already reaches the int8 kernels
    // Every reader a DequantizeLinear reading it as its data, with the same zero point.
    bool all_dequantize = true;
    for (const auto& [ni, slot] : readers[static_cast<size_t>(out)]) {
      const Node& dq = g.nodes[ni];
      const Tensor* dz = dq.op == "DequantizeLinear" && slot == 0 ? int8_zero_point(g, dq) : nullptr;
      all_dequantize &= dz && same_bytes(*dz, *z);
    }
    if (!all_dequantize) continue;
    Tensor shifted_zero(DType::u8, z->shape());
    for (int64_t i = 0; i < z->numel(); ++i) shifted_zero.data<uint8_t>()[i] = static_cast<uint8_t>(z->data<int8_t>()[i] + 128);
    const ValueId zero = g.add_constant(g.value(out).name + ".uint8_zero_point", shifted_zero);
    g.nodes[qi].inputs[2] = zero;
    for (const auto& [ni, slot] : readers[static_cast<size_t>(out)]) g.nodes[ni].inputs[2] = zero;
    g.value(out).dtype = DType::u8;
    ++shifted;
  }
  return shifted;
}

}  // namespace effvit
