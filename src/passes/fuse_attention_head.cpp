// One head of the cascaded group attention, as both exporters write it after the earlier passes
// (fuse_attention_scores, fold_transpose_into_matmul):
//
//   q, k, v = Split(qkv, axis 1)          qkv [B, 2kd + vd, H, W]
//   q       = Conv(q) depthwise, stride 1, same size
//   scores  = MatMul(Reshape(q) [B, kd, N], Reshape(k) [B, kd, N]) trans_a, effvit.scale
//   p       = Softmax(scores, bias)       last axis
//   out     = MatMul(Reshape(v) [B, vd, N], p) trans_b
//
// becomes one effvit.AttentionHead(qkv, dw weight, dw bias, bias) writing `out`: the head's
// intermediates (N x N scores, the depthwise conv's reordered input) stay in cache, and nine nodes
// with their copies and oneDNN reorders become one kernel call per window. Needs specialised
// shapes; every intermediate must have no other reader.
#include "ops/conv.h"
#include "passes/passes.h"

namespace effvit {
namespace {

struct Match {
  Node* split = nullptr;
  Node* dw = nullptr;
  ValueId bias = kNoValue;
  float scale = 1.f;
};

bool is_plain_f32(const Graph& g, ValueId id) {
  const Value& v = g.value(id);
  return v.dtype == DType::f32 && v.layout == Layout::Plain && v.shape_known;
}

// The node producing `value` (any op), or null when `value` has another reader or no producer.
Node* sole_any_producer(Graph& g, ValueId value, const std::vector<int>& uses, const std::vector<int>& producers) {
  const int p = producers[static_cast<size_t>(value)];
  if (p < 0 || uses[static_cast<size_t>(value)] != 1) return nullptr;
  return &g.nodes[static_cast<size_t>(p)];
}

std::optional<Match> match_head(Graph& g, Node& out_mm, const std::vector<int>& uses, const std::vector<int>& producers) {
  auto only = [&](ValueId v, const char* op) { return sole_producer(g, v, op, uses, producers); };
  if (out_mm.op != "MatMul" || out_mm.inputs.size() != 2 || !out_mm.attr_int("effvit.trans_b", 0) ||
      out_mm.attr_int("effvit.trans_a", 0) || out_mm.has("effvit.scale"))
    return std::nullopt;
  Node* softmax = only(out_mm.inputs[1], "Softmax");
  Node* v_flat = only(out_mm.inputs[0], "Reshape");
  if (!softmax || !v_flat) return std::nullopt;
  Node* scores = only(softmax->inputs[0], "MatMul");
  if (!scores || !scores->attr_int("effvit.trans_a", 0) || scores->attr_int("effvit.trans_b", 0)) return std::nullopt;
  Node* q_flat = only(scores->inputs[0], "Reshape");
  Node* k_flat = only(scores->inputs[1], "Reshape");
  if (!q_flat || !k_flat) return std::nullopt;
  Node* dw = only(q_flat->inputs[0], "Conv");
  Node* split = sole_any_producer(g, k_flat->inputs[0], uses, producers);
  if (!dw || !split || split->op != "Split" || split->outputs.size() != 3 || dw->inputs.size() < 2) return std::nullopt;
  if (dw->inputs[0] != split->outputs[0] || k_flat->inputs[0] != split->outputs[1] || v_flat->inputs[0] != split->outputs[2] ||
      uses[static_cast<size_t>(split->outputs[0])] != 1 || uses[static_cast<size_t>(split->outputs[2])] != 1)
    return std::nullopt;

  for (ValueId id : {split->inputs[0], split->outputs[0], split->outputs[1], split->outputs[2], dw->outputs[0],
                     q_flat->outputs[0], k_flat->outputs[0], v_flat->outputs[0], scores->outputs[0],
                     softmax->outputs[0], out_mm.outputs[0]})
    if (!is_plain_f32(g, id)) return std::nullopt;
  const Shape& x = g.value(split->inputs[0]).shape;
  if (x.size() != 4 || normalize_axis(split->attr_int("axis", 0), 4, *split) != 1) return std::nullopt;
  const int64_t batch = x[0], h = x[2], w = x[3], n = h * w;
  const int64_t kd = g.value(split->outputs[0]).shape.at(1), vd = g.value(split->outputs[2]).shape.size() == 4
                                                                       ? g.value(split->outputs[2]).shape[1]
                                                                       : 0;
  if (g.value(split->outputs[0]).shape != Shape{batch, kd, h, w} ||
      g.value(split->outputs[1]).shape != Shape{batch, kd, h, w} ||
      g.value(split->outputs[2]).shape != Shape{batch, vd, h, w} || kd <= 0 || vd <= 0)
    return std::nullopt;

  // The depthwise conv: one channel per group, stride and dilation 1, same size out, float weights.
  const ValueId weight = dw->inputs[1];
  if (is_quantized_conv(*dw) || dw->has("effvit.activation") || !g.is_constant(weight) ||
      g.value(weight).dtype != DType::f32 || dw->attr_int("group", 1) != kd)
    return std::nullopt;
  const ValueId dw_bias = dw->inputs.size() > 2 ? dw->inputs[2] : kNoValue;
  if (dw_bias != kNoValue && (!g.is_constant(dw_bias) || g.value(dw_bias).dtype != DType::f32)) return std::nullopt;
  const ConvGeometry geo = conv_geometry(*dw, g.value(dw->inputs[0]).shape, g.value(weight).shape);
  if (geo.out_c != kd || geo.stride_h != 1 || geo.stride_w != 1 || geo.dil_h != 1 || geo.dil_w != 1 ||
      geo.out_h != h || geo.out_w != w)
    return std::nullopt;

  if (g.value(q_flat->outputs[0]).shape != Shape{batch, kd, n} || g.value(k_flat->outputs[0]).shape != Shape{batch, kd, n} ||
      g.value(v_flat->outputs[0]).shape != Shape{batch, vd, n} || g.value(scores->outputs[0]).shape != Shape{batch, n, n} ||
      g.value(out_mm.outputs[0]).shape != Shape{batch, vd, n})
    return std::nullopt;
  if (normalize_axis(softmax->attr_int("axis", -1), 3, *softmax) != 2 || softmax->inputs.size() > 2) return std::nullopt;
  Match m;
  m.split = split;
  m.dw = dw;
  m.scale = scores->attr_float("effvit.scale", 1.f);
  if (softmax->inputs.size() == 2 && softmax->inputs[1] != kNoValue) {
    const ValueId bias = softmax->inputs[1];
    const Shape& b = g.value(bias).shape;
    if (!g.is_constant(bias) || g.value(bias).dtype != DType::f32 || shape_numel(b) != n * n || b.size() < 2 ||
        b[b.size() - 1] != n || b[b.size() - 2] != n)
      return std::nullopt;
    m.bias = bias;
  }
  return m;
}

}  // namespace

int fuse_attention_head(Graph& g) {
  const auto uses = g.use_counts();
  const auto producers = g.producers();
  int fused = 0;
  for (Node& node : g.nodes) {
    const std::optional<Match> m = match_head(g, node, uses, producers);
    if (!m) continue;
    const ConvGeometry geo = conv_geometry(*m->dw, g.value(m->dw->inputs[0]).shape, g.value(m->dw->inputs[1]).shape);
    Node head;
    head.op = "effvit.AttentionHead";
    head.name = m->dw->name + "+attention";
    head.inputs = {m->split->inputs[0], m->dw->inputs[1], m->dw->inputs.size() > 2 ? m->dw->inputs[2] : kNoValue, m->bias};
    head.outputs = node.outputs;
    head.set_int("key_dim", g.value(m->split->outputs[0]).shape[1]);
    head.set_ints("pads", {geo.pad_t, geo.pad_l, geo.pad_b, geo.pad_r});
    head.set_float("scale", m->scale);
    // The replaced nodes are now dead: the head writes the only value anything read.
    node = std::move(head);
    ++fused;
  }
  if (fused) g.remove_dead_nodes();
  return fused;
}

}  // namespace effvit
