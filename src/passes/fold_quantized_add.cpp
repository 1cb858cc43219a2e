// DequantizeLinear(a), DequantizeLinear(b) -> Add -> QuantizeLinear, all per tensor with explicit
// 8-bit zero points, becomes one effvit.QuantizedAdd (ops/quantized_add.cpp): codes in, codes out,
// computed as the four ops compute them. QDQ files put this on every residual connection between
// int8 convs (a conv's quantized output and the block's input, dequantized, added, quantized for
// the next conv).
//
//   a -> DequantizeLinear(sa, za) -+
//                                  +-> Add -> QuantizeLinear(sy, zy) -> y
//   b -> DequantizeLinear(sb, zb) -+
//     ==>  a, b -> effvit.QuantizedAdd(sa, za, sb, zb, sy, zy) -> y
//
// A DequantizeLinear stays when something else reads its output; the sum must have no other
// reader (it would still be needed in float).
#include "passes/passes.h"

namespace effvit {
namespace {

// Per tensor on 8-bit codes with an explicit zero point: the kernel takes both operands' types
// from theirs.
bool with_zero_point(const Graph& g, const Node& n, const char* op) {
  return n.op == op && per_tensor_8bit(g, n) && n.inputs.size() > 2 && n.inputs[2] != kNoValue;
}

}  // namespace

int fold_quantized_add(Graph& g) {
  const auto uses = g.use_counts();
  const auto producers = g.producers();
  std::vector<bool> is_output(g.values.size(), false);
  for (ValueId id : g.outputs) is_output[static_cast<size_t>(id)] = true;
  auto dequantize_of = [&](ValueId id) -> const Node* {
    const int p = producers[static_cast<size_t>(id)];
    if (p < 0) return nullptr;
    const Node& n = g.nodes[static_cast<size_t>(p)];
    return with_zero_point(g, n, "DequantizeLinear") ? &n : nullptr;
  };
  int folded = 0;
  for (Node& q : g.nodes) {
    if (!with_zero_point(g, q, "QuantizeLinear")) continue;
    const ValueId sum = q.inputs[0];
    const int p = producers[static_cast<size_t>(sum)];
    if (p < 0 || uses[static_cast<size_t>(sum)] != 1 || is_output[static_cast<size_t>(sum)]) continue;
    const Node& add = g.nodes[static_cast<size_t>(p)];
    if (add.op != "Add" || add.inputs.size() != 2) continue;
    const Node* a = dequantize_of(add.inputs[0]);
    const Node* b = dequantize_of(add.inputs[1]);
    if (!a || !b) continue;
    q.inputs = {a->inputs[0], a->inputs[1], a->inputs[2], b->inputs[0], b->inputs[1], b->inputs[2], q.inputs[1], q.inputs[2]};
    q.op = "effvit.QuantizedAdd";
    q.attrs.clear();
    ++folded;
  }
  if (folded) g.remove_dead_nodes();
  return folded;
}

}  // namespace effvit
