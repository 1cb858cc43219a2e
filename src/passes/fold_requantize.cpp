// DequantizeLinear -> [f] -> QuantizeLinear, all per tensor on 8-bit codes, with f one of the
// elementwise functions below (or none), becomes one effvit.Requantize (ops/requantize.cpp): the
// bytes in, the bytes out, computed as the three ops compute them. Other tools' QDQ files put this
// chain between their convs (a conv's quantized output, dequantized for a Relu, quantized again
// for the next conv); com.microsoft's QLinearSigmoid and QLinearLeakyRelu import as it
// (import/qoperator.cpp). effvit's own files fold the Relu into the conv instead.
//
//   x -> DequantizeLinear(sx, zx) -> [f] -> QuantizeLinear(sy, zy) -> y
//     ==>  x -> effvit.Requantize(sx, zx, sy, zy; function = f and its attributes) -> y
//
// The DequantizeLinear stays when something else reads its output; f's output must have no other
// reader (it would still be needed in float).
#include "passes/passes.h"

namespace effvit {
namespace {

// Functions of one element alone, so of the input byte alone: a 256-entry table holds them.
bool elementwise_function(const Node& n) { return (n.op == "Relu" || n.op == "LeakyRelu" || n.op == "Sigmoid") && n.inputs.size() == 1; }

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
    const Node* function = nullptr;
    if (p && elementwise_function(*p) && uses[static_cast<size_t>(v)] == 1 && !is_output[static_cast<size_t>(v)]) {
      function = p;
      v = p->inputs[0];
      p = producer_of(v);
    }
    if (!p || p->op != "DequantizeLinear" || !per_tensor_8bit(g, *p)) continue;
    const auto input_or_none = [](const Node& n, size_t i) { return i < n.inputs.size() ? n.inputs[i] : kNoValue; };
    q.inputs = {p->inputs[0], p->inputs[1], input_or_none(*p, 2), q.inputs[1], input_or_none(q, 2)};
    q.op = "effvit.Requantize";
    q.attrs = function ? function->attrs : decltype(q.attrs){};
    if (function) q.set_string("function", function->op);
    ++folded;
  }
  if (folded) g.remove_dead_nodes();
  return folded;
}

}  // namespace effvit
