// A QuantizeLinear whose codes only DequantizeLinears read becomes, per reader, one
// effvit.QuantizeDequantize (ops/quantize_dequantize.cpp): float32 in, float32 out, computed as the
// two ops compute it, the codes never stored. 16-bit QDQ files put such a pair on every float
// activation they quantize; 8-bit ones (ONNX Runtime's) around the attention's MatMuls, Transposes,
// Reshapes and Splits, which run in float32. Parameters must be constant scalars (per tensor) of one
// type.
//
//   x -> QuantizeLinear(sq, zq) -> q -> DequantizeLinear(sd, zd) -> y
//     ==>  x -> effvit.QuantizeDequantize(sq, zq, sd, zd) -> y
//
// Runs after the int8 passes (fold_qdq_into_conv, fold_quantize_into_conv, fold_requantize): an
// 8-bit pair they could use is gone by then, or has a reader other than a DequantizeLinear.
#include "passes/passes.h"

namespace effvit {
namespace {

bool integer_code(DType t) { return t == DType::u8 || t == DType::i8 || t == DType::u16 || t == DType::i16; }

// Constant scalar scale and a constant scalar zero point (which gives the codes' type; a pair
// without one is left alone).
bool per_tensor(const Graph& g, const Node& n) {
  auto scalar = [&](size_t i) { return i < n.inputs.size() && n.inputs[i] != kNoValue && g.is_constant(n.inputs[i]) && shape_numel(g.value(n.inputs[i]).shape) == 1; };
  return scalar(1) && g.value(n.inputs[1]).dtype == DType::f32 && scalar(2) && integer_code(g.value(n.inputs[2]).dtype);
}

}  // namespace

int fold_quantize_dequantize(Graph& g) {
  std::vector<std::vector<Node*>> readers(g.values.size());
  for (Node& n : g.nodes)
    for (ValueId id : n.inputs)
      if (id != kNoValue) readers[static_cast<size_t>(id)].push_back(&n);
  std::vector<bool> is_output(g.values.size(), false);
  for (ValueId id : g.outputs) is_output[static_cast<size_t>(id)] = true;
  int folded = 0;
  for (Node& q : g.nodes) {
    if (q.op != "QuantizeLinear" || !per_tensor(g, q) || is_output[static_cast<size_t>(q.outputs[0])]) continue;
    const auto& rs = readers[static_cast<size_t>(q.outputs[0])];
    bool all_dequantize = !rs.empty();
    for (const Node* r : rs)
      all_dequantize = all_dequantize && r->op == "DequantizeLinear" && r->inputs[0] == q.outputs[0] && per_tensor(g, *r) &&
                       g.value(r->inputs[2]).dtype == g.value(q.inputs[2]).dtype;
    if (!all_dequantize) continue;
    for (Node* r : rs) {
      r->inputs = {q.inputs[0], q.inputs[1], q.inputs[2], r->inputs[1], r->inputs[2]};
      r->op = "effvit.QuantizeDequantize";
      r->attrs.clear();
      ++folded;
    }
  }
  if (folded) g.remove_dead_nodes();
  return folded;
}

}  // namespace effvit
