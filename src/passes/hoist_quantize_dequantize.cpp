// A per-tensor Q -> DQ round trip (effvit.QuantizeDequantize) commutes with the ops that only move
// elements, so it moves above them:
//
//   x -> Transpose|Reshape -> t -> effvit.QuantizeDequantize -> y
//     ==>  x -> effvit.QuantizeDequantize -> x' -> Transpose|Reshape -> y
//
// ONNX Runtime's QDQ files put the round trip on every MatMul input, after the Transpose or Reshape
// that feeds it. Moved up, the Transpose sits right before its MatMul again
// (fold_transpose_into_matmul folds it), and the attention head's rounding points sit where
// fuse_attention_head looks for them. Only where t has no other reader; repeated until nothing
// moves (Reshape -> Transpose -> round trip takes two steps).
#include "passes/passes.h"

namespace effvit {
namespace {

bool moves_elements_only(const Node& n) { return n.op == "Transpose" || n.op == "Reshape"; }

}  // namespace

int hoist_quantize_dequantize(Graph& g) {
  int hoisted = 0;
  for (bool moved = true; moved;) {
    moved = false;
    const auto uses = g.use_counts();
    const auto producers = g.producers();
    std::vector<bool> is_output(g.values.size(), false);
    for (ValueId id : g.outputs) is_output[static_cast<size_t>(id)] = true;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (g.nodes[i].op != "effvit.QuantizeDequantize") continue;
      const ValueId t = g.nodes[i].inputs[0];
      const int p = producers[static_cast<size_t>(t)];
      if (p < 0 || !moves_elements_only(g.nodes[static_cast<size_t>(p)]) || uses[static_cast<size_t>(t)] != 1 ||
          is_output[static_cast<size_t>(t)])
        continue;
      Node& mover = g.nodes[static_cast<size_t>(p)];
      // The rounded input: the input's shape (known or not) as a float32 value.
      const Value& input = g.value(mover.inputs[0]);
      Value before;
      before.name = input.name + "/effvit_rounded";
      before.dtype = DType::f32;
      before.shape = input.shape;
      before.shape_known = input.shape_known;
      const ValueId rounded = g.add_value(std::move(before));
      // The round trip takes the mover's place in the order (its input is ready there), the mover
      // the round trip's (nothing between read t or y).
      Node round_trip = std::move(g.nodes[i]);
      Node moved_op = std::move(mover);
      const ValueId y = round_trip.outputs[0];
      round_trip.inputs[0] = moved_op.inputs[0];
      round_trip.outputs[0] = rounded;
      moved_op.inputs[0] = rounded;
      moved_op.outputs[0] = y;
      g.nodes[static_cast<size_t>(p)] = std::move(round_trip);
      g.nodes[i] = std::move(moved_op);
      ++hoisted;
      moved = true;
      break;  // the use counts and producers above are stale now
    }
  }
  return hoisted;
}

}  // namespace effvit
