// DequantizeLinear -> [Relu] -> QuantizeLinear, all per tensor on 8-bit codes, becomes one
// effvit.Requantize (ops/requantize.cpp): the bytes in, the bytes out, computed as the three ops
// compute them. Other tools' QDQ files put this chain between their convs (a conv's quantized
// output, dequantized for a Relu, quantized again for the next conv); effvit's own files fold the
// Relu into the conv instead.
//
//   x -> DequantizeLinear(sx, zx) -> [Relu] -> QuantizeLinear(sy, zy) -> y
//     ==>  x -> effvit.Requantize(sx, zx, sy, zy, relu) -> y
//
// The DequantizeLinear stays when something else reads its output; the Relu's output must have no
// other reader (it would still be needed in float).
#include "passes/passes.h"

namespace effvit {
namespace {

bool constant_scalar(const Graph& g, const Node& n, size_t i) {
  return i < n.inputs.size() && n.inputs[i] != kNoValue && g.is_constant(n.inputs[i]) && shape_numel(g.value(n.inputs[i]).shape) == 1;
}

bool eight_bit(DType t) { return t == DType::u8 || t == DType::i8; }

// A Quantize/DequantizeLinear with a constant float32 scale and, if present, a constant zero point,
// both scalars, on 8-bit codes. The codes' type comes from the zero point (a QuantizeLinear
// without one writes uint8): this pass runs before types are inferred.
bool per_tensor_8bit(const Graph& g, const Node& n) {
  if (!constant_scalar(g, n, 1) || g.value(n.inputs[1]).dtype != DType::f32) return false;
  if (n.inputs.size() < 3 || n.inputs[2] == kNoValue) return n.op == "QuantizeLinear";
  return constant_scalar(g, n, 2) && eight_bit(g.value(n.inputs[2]).dtype);
}

}  // namespace

int fold_requantize(Graph& g) {
  const auto uses = g.use_counts();
  const auto producer = g.producers();
  std::vector<bool> is_output(g.values.size(), false);
  for (ValueId id : g.outputs) is_output[static_cast<size_t>(id)] = true;
  auto producer_of = [&](ValueId id) -> Node* {
    const int p = producer[static_cast<size_t>(id)];
    return p < 0 ? nullptr : &g.nodes[static_cast<size_t>(p)];
  };
  int folded = 0;
  for (Node& q : g.nodes) {
    if (q.op != "QuantizeLinear" || !per_tensor_8bit(g, q)) continue;
    ValueId v = q.inputs[0];
    Node* p = producer_of(v);
    bool relu = false;
    if (p && p->op == "Relu" && uses[static_cast<size_t>(v)] == 1 && !is_output[static_cast<size_t>(v)]) {
      relu = true;
      v = p->inputs[0];
      p = producer_of(v);
    }
    if (!p || p->op != "DequantizeLinear" || !per_tensor_8bit(g, *p)) continue;
    const auto input_or_none = [](const Node& n, size_t i) { return i < n.inputs.size() ? n.inputs[i] : kNoValue; };
    q.inputs = {p->inputs[0], p->inputs[1], input_or_none(*p, 2), q.inputs[1], input_or_none(q, 2)};
    q.op = "effvit.Requantize";
    q.attrs.clear();
    q.set_int("relu", relu ? 1 : 0);
    ++folded;
  }
  if (folded) g.remove_dead_nodes();
  return folded;
}

}  // namespace effvit
