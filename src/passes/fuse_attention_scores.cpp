// Attention scores, as both exporters write them: Softmax(MatMul(q^T, k) * scale + bias). The scalar
// scale moves into the MatMul (effvit.scale; oneDNN applies it while the product is in registers)
// and the constant bias into the Softmax (a second input added to each row before the max), which
// removes two passes over every attention matrix. The bias must repeat over the leading axes only
// (its shape is the trailing axes of the scores), so it needs specialised shapes.
#include "passes/passes.h"

namespace effvit {
namespace {

bool is_f32_constant(const Graph& g, ValueId id) { return g.is_constant(id) && g.value(id).dtype == DType::f32; }

// Softmax over the last axis (also the pre-13 form whose coerced rows are the last axis).
bool softmax_over_last_axis(const Node& sm, size_t rank) {
  const int64_t axis = sm.attr_int("axis", -1);
  return axis == -1 || axis == static_cast<int64_t>(rank) - 1;
}

// bias has the shape of x's trailing axes (leading 1s allowed): it repeats over x's leading axes.
bool is_trailing_block(const Shape& bias, const Shape& x) {
  size_t first = 0;
  while (first < bias.size() && bias[first] == 1) ++first;
  const size_t tail = bias.size() - first;
  if (bias.size() > x.size() || tail == 0) return false;
  for (size_t i = 0; i < tail; ++i)
    if (bias[first + i] != x[x.size() - tail + i]) return false;
  return true;
}

}  // namespace

int fuse_attention_scores(Graph& g) {
  int fused = 0;
  // Bias first: an Add between the Mul and the Softmax would otherwise hide the scale's MatMul.
  {
    const auto uses = g.use_counts();
    const auto producers = g.producers();
    for (Node& sm : g.nodes) {
      if (sm.op != "Softmax" || sm.inputs.size() != 1) continue;
      const Shape& x = g.value(sm.inputs[0]).shape;
      if (!softmax_over_last_axis(sm, x.size())) continue;
      Node* add = sole_producer(g, sm.inputs[0], "Add", uses, producers);
      if (!add) continue;
      for (size_t side = 0; side < 2; ++side) {
        const ValueId bias = add->inputs[1 - side];
        // The scores themselves must already have the sum's shape: the bias may repeat, the
        // scores may not (a broadcast of theirs would leave the Softmax reading a smaller input).
        if (g.value(add->inputs[side]).shape != x) continue;
        if (!is_f32_constant(g, bias) || !is_trailing_block(g.value(bias).shape, x)) continue;
        sm.inputs = {add->inputs[side], bias};
        ++fused;
        break;
      }
    }
    if (fused) g.remove_dead_nodes();
  }
  const auto uses = g.use_counts();
  const auto producers = g.producers();
  int scaled = 0;
  for (Node& mul : g.nodes) {
    if (mul.op != "Mul") continue;
    for (size_t side = 0; side < 2; ++side) {
      const ValueId scale = mul.inputs[1 - side];
      Node* mm = sole_producer(g, mul.inputs[side], "MatMul", uses, producers);
      if (!mm || mm->has("effvit.scale") || !is_f32_constant(g, scale) || shape_numel(g.value(scale).shape) != 1) continue;
      // A one-element scale of higher rank widens the product's shape; the MatMul cannot.
      if (g.value(mul.outputs[0]).shape != g.value(mul.inputs[side]).shape) continue;
      // 1-D operands (numpy promotion) stay with the plain form.
      if (g.value(mm->inputs[0]).shape.size() < 2 || g.value(mm->inputs[1]).shape.size() < 2) continue;
      mm->attrs["effvit.scale"].kind = Attribute::Kind::Float;
      mm->attrs["effvit.scale"].f = g.value(scale).constant.data<float>()[0];
      absorb_consumer(*mm, mul);
      ++scaled;
      break;
    }
  }
  if (scaled) g.remove_dead_nodes();
  return fused + scaled;
}

}  // namespace effvit
