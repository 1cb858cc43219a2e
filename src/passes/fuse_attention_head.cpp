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
//
// In an int8 model the depthwise conv is integer (fold_qdq_into_conv) and reads
// QuantizeLinear(q): the head then quantises q to that grid itself and runs the conv on the
// dequantised weights, which is the integer conv up to float rounding.
//
// ONNX Runtime's QDQ files also round the head's intermediates: the depthwise conv writes int8
// (fold_quantize_into_conv) read by a DequantizeLinear, and a Q -> DQ round trip
// (effvit.QuantizeDequantize, moved next to its producer by hoist_quantize_dequantize) sits on q',
// k and v before the Reshapes, on the scores before their scale (the Mul the round trip kept out of
// the MatMul) and on P. The head applies each of those grids where the graph did.
#include <tuple>
#include <utility>

#include "ops/attention_head.h"
#include "ops/conv.h"
#include "ops/quantize_dequantize.h"
#include "passes/passes.h"

namespace effvit {
namespace {

struct Match {
  Node* split = nullptr;
  Node* dw = nullptr;
  ValueId bias = kNoValue;
  float scale = 1.f;
  // Integer depthwise conv: q's quantisation grid (its scale and its type's range).
  bool quantized = false;
  float q_step = 0.f, q_zero = 0.f, q_lo = 0.f, q_hi = 0.f;
  // The intermediates' grids (AttentionHeadDims; scale 0: none), and the values between the
  // nodes the head replaces that the checks below must also see as plain float32.
  QuantizeDequantizeParams q_grids[2]{}, k_grid{}, v_grid{}, scores_grid{}, probs_grid{};
  std::vector<ValueId> inner;
};

using Uses = std::vector<int>;

// v, or the value a round trip that is v's sole producer reads (its grid into `grid`).
ValueId through_round_trip(Graph& g, ValueId v, QuantizeDequantizeParams& grid, const Uses& uses, const Uses& producers,
                           Match& m) {
  const Node* trip = sole_producer(g, v, "effvit.QuantizeDequantize", uses, producers);
  if (!trip) return v;
  const std::optional<QuantizeDequantizeParams> p = round_trip_params(g, *trip);
  if (!p || !(p->scale > 0.f)) return kNoValue;
  grid = *p;
  m.inner.push_back(trip->inputs[0]);
  return trip->inputs[0];
}

// An integer conv's output grid as the DequantizeLinear that reads it (its sole reader) sees it.
bool conv_output_grid(const Graph& g, const Node& conv, const Node& dequantize, QuantizeDequantizeParams& grid) {
  if (conv.has("effvit.table") || has_residual(conv)) return false;  // its codes are no longer on its grid
  if (dequantize.inputs.size() < 2 || !g.is_constant(dequantize.inputs[1])) return false;
  const Tensor& scale = g.value(dequantize.inputs[1]).constant;
  if (scale.dtype() != DType::f32 || scale.numel() != 1) return false;
  const DType codes = conv.attr_int("effvit.y_signed", 0) ? DType::i8 : DType::u8;
  float zero = 0.f;
  if (dequantize.inputs.size() > 2 && dequantize.inputs[2] != kNoValue) {
    if (!g.is_constant(dequantize.inputs[2])) return false;
    const Tensor& z = g.value(dequantize.inputs[2]).constant;
    if (z.dtype() != codes || z.numel() != 1) return false;
    zero = codes == DType::u8 ? z.data<uint8_t>()[0] : z.data<int8_t>()[0];
  }
  const auto [lo, hi] = code_range(codes);
  grid = {conv.attr_float("effvit.y_scale", 0.f), static_cast<float>(conv.attr_int("effvit.y_zero_point", 0)), lo, hi,
          scale.data<float>()[0], zero};
  return grid.scale > 0.f;
}

// The QuantizeLinear an integer conv reads must quantise with the scale and zero point the conv
// dequantises with. Fills the grid into `m`.
bool quantizes_for(const Graph& g, const Node& quantize, const Node& conv, Match& m) {
  if (quantize.inputs.size() < 2 || !g.is_constant(quantize.inputs[1])) return false;
  const Tensor& scale = g.value(quantize.inputs[1]).constant;
  if (scale.dtype() != DType::f32 || scale.numel() != 1 || scale.data<float>()[0] != conv.attr_float("effvit.x_scale", 0.f) ||
      !(scale.data<float>()[0] > 0.f))
    return false;
  DType type = DType::u8;
  int64_t zero = 0;
  if (quantize.inputs.size() > 2 && quantize.inputs[2] != kNoValue) {
    if (!g.is_constant(quantize.inputs[2]) || g.value(quantize.inputs[2]).constant.numel() != 1) return false;
    const Tensor& z = g.value(quantize.inputs[2]).constant;
    type = z.dtype();
    if (type != DType::u8 && type != DType::i8) return false;
    zero = type == DType::u8 ? z.data<uint8_t>()[0] : z.data<int8_t>()[0];
  }
  if (zero != conv.attr_int("effvit.x_zero_point", 0)) return false;
  m.quantized = true;
  m.q_step = scale.data<float>()[0];
  m.q_zero = static_cast<float>(zero);
  m.q_lo = type == DType::u8 ? 0.f : -128.f;
  m.q_hi = type == DType::u8 ? 255.f : 127.f;
  return true;
}

bool is_plain_f32(const Graph& g, ValueId id) {
  const Value& v = g.value(id);
  return v.dtype == DType::f32 && v.layout == Layout::Plain && v.shape_known;
}

std::optional<Match> match_head(Graph& g, Node& out_mm, const Uses& uses, const Uses& producers) {
  auto only = [&](ValueId v, const char* op) { return v == kNoValue ? nullptr : sole_producer(g, v, op, uses, producers); };
  if (out_mm.op != "MatMul" || out_mm.inputs.size() != 2 || !out_mm.attr_int("effvit.trans_b", 0) ||
      out_mm.attr_int("effvit.trans_a", 0) || out_mm.has("effvit.scale"))
    return std::nullopt;
  Match m;
  Node* softmax = only(through_round_trip(g, out_mm.inputs[1], m.probs_grid, uses, producers, m), "Softmax");
  Node* v_flat = only(out_mm.inputs[0], "Reshape");
  if (!softmax || !v_flat) return std::nullopt;
  Node* scores = only(softmax->inputs[0], "MatMul");
  m.scale = scores ? scores->attr_float("effvit.scale", 1.f) : 1.f;
  if (!scores) {
    // MatMul -> round trip -> Mul(scale): the scale applies to the rounded scores.
    Node* mul = only(softmax->inputs[0], "Mul");
    if (!mul || mul->inputs.size() != 2) return std::nullopt;
    for (size_t side = 0; side < 2 && !scores; ++side) {
      const ValueId factor = mul->inputs[1 - side];
      if (!g.is_constant(factor) || g.value(factor).dtype != DType::f32 || g.value(factor).constant.numel() != 1 ||
          g.value(mul->inputs[side]).shape != g.value(mul->outputs[0]).shape)
        continue;
      m.inner.push_back(mul->inputs[side]);
      scores = only(through_round_trip(g, mul->inputs[side], m.scores_grid, uses, producers, m), "MatMul");
      if (!scores || scores->has("effvit.scale") || !(m.scores_grid.scale > 0.f)) return std::nullopt;
      m.scale = g.value(factor).constant.data<float>()[0];
    }
  }
  if (!scores || !scores->attr_int("effvit.trans_a", 0) || scores->attr_int("effvit.trans_b", 0)) return std::nullopt;
  Node* q_flat = only(scores->inputs[0], "Reshape");
  Node* k_flat = only(scores->inputs[1], "Reshape");
  if (!q_flat || !k_flat) return std::nullopt;
  const ValueId q_conv = through_round_trip(g, q_flat->inputs[0], m.q_grids[1], uses, producers, m);
  Node* dw = only(q_conv, "Conv");
  if (Node* dequantize = dw ? nullptr : only(q_conv, "DequantizeLinear")) {
    // An integer conv writing int8 codes, dequantized for the Reshape.
    m.inner.push_back(dequantize->inputs[0]);
    dw = only(dequantize->inputs[0], "Conv");
    if (!dw || !is_quantized_conv(*dw) || !conv_output_grid(g, *dw, *dequantize, m.q_grids[0])) return std::nullopt;
  } else if (dw && dw->has("effvit.y_scale")) {
    return std::nullopt;
  }
  const ValueId k = through_round_trip(g, k_flat->inputs[0], m.k_grid, uses, producers, m);
  const ValueId v = through_round_trip(g, v_flat->inputs[0], m.v_grid, uses, producers, m);
  Node* split = k == kNoValue ? nullptr : only(k, "Split");
  if (!dw || !split || split->outputs.size() != 3 || dw->inputs.size() < 2) return std::nullopt;
  ValueId q = dw->inputs[0];
  if (is_quantized_conv(*dw)) {
    const Node* quantize = only(q, "QuantizeLinear");
    if (!quantize || !quantizes_for(g, *quantize, *dw, m)) return std::nullopt;
    q = quantize->inputs[0];
  }
  if (q != split->outputs[0] || k != split->outputs[1] || v != split->outputs[2] ||
      uses[static_cast<size_t>(split->outputs[0])] != 1 || uses[static_cast<size_t>(split->outputs[2])] != 1)
    return std::nullopt;

  for (ValueId id : {split->inputs[0], split->outputs[0], split->outputs[1], split->outputs[2],
                     q_flat->outputs[0], k_flat->outputs[0], v_flat->outputs[0], scores->outputs[0],
                     softmax->outputs[0], out_mm.outputs[0]})
    if (!is_plain_f32(g, id)) return std::nullopt;
  // The round trips' inputs are float32, the integer depthwise conv's output its codes.
  m.inner.push_back(dw->outputs[0]);
  for (ValueId id : m.inner)
    if (g.value(id).layout != Layout::Plain || !g.value(id).shape_known) return std::nullopt;
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

  // The depthwise conv: one channel per group, stride and dilation 1, same size out, constant
  // weights (float, or int8 with per-channel scales and an int32 bias).
  const ValueId weight = dw->inputs[1];
  const DType weight_type = m.quantized ? DType::i8 : DType::f32, bias_type = m.quantized ? DType::i32 : DType::f32;
  if (dw->has("effvit.activation") || !g.is_constant(weight) || g.value(weight).dtype != weight_type ||
      dw->attr_int("group", 1) != kd)
    return std::nullopt;
  const ValueId dw_bias = dw->inputs.size() > 2 ? dw->inputs[2] : kNoValue;
  if (dw_bias != kNoValue && (!g.is_constant(dw_bias) || g.value(dw_bias).dtype != bias_type)) return std::nullopt;
  if (m.quantized && (dw->inputs.size() < 4 || !g.is_constant(dw->inputs[3]) || g.value(dw->inputs[3]).shape != Shape{kd}))
    return std::nullopt;
  const ConvGeometry geo = conv_geometry(*dw, g.value(dw->inputs[0]).shape, g.value(weight).shape);
  if (geo.out_c != kd || geo.stride_h != 1 || geo.stride_w != 1 || geo.dil_h != 1 || geo.dil_w != 1 ||
      geo.out_h != h || geo.out_w != w)
    return std::nullopt;

  if (g.value(q_flat->outputs[0]).shape != Shape{batch, kd, n} || g.value(k_flat->outputs[0]).shape != Shape{batch, kd, n} ||
      g.value(v_flat->outputs[0]).shape != Shape{batch, vd, n} || g.value(scores->outputs[0]).shape != Shape{batch, n, n} ||
      g.value(out_mm.outputs[0]).shape != Shape{batch, vd, n})
    return std::nullopt;
  if (normalize_axis(softmax->attr_int("axis", -1), 3, *softmax) != 2 || softmax->inputs.size() > 2) return std::nullopt;
  m.split = split;
  m.dw = dw;
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

// An integer depthwise conv's weights and bias as the float values it computes with:
// w[c] * w_scale[c] and bias[c] * x_scale * w_scale[c] (the reference conv's dequantisation).
std::pair<ValueId, ValueId> dequantized_depthwise(Graph& g, const Node& dw) {
  // Copies (shared storage): add_constant below may move the graph's values.
  const Tensor wq = g.value(dw.inputs[1]).constant;
  const Tensor w_scale = g.value(dw.inputs[3]).constant;
  const float x_scale = dw.attr_float("effvit.x_scale", 1.f);
  const int64_t channels = wq.dim(0), per_channel = wq.numel() / channels;
  Tensor w(DType::f32, wq.shape());
  for (int64_t i = 0; i < wq.numel(); ++i)
    w.data<float>()[i] = static_cast<float>(wq.data<int8_t>()[i]) * w_scale.data<float>()[i / per_channel];
  const ValueId weight = g.add_constant(dw.name + "/effvit_dequantized_weight", std::move(w));
  if (dw.inputs[2] == kNoValue) return {weight, kNoValue};
  const Tensor bq = g.value(dw.inputs[2]).constant;
  Tensor b(DType::f32, {channels});
  for (int64_t c = 0; c < channels; ++c)
    b.data<float>()[c] = x_scale * w_scale.data<float>()[c] * static_cast<float>(bq.data<int32_t>()[c]);
  return {weight, g.add_constant(dw.name + "/effvit_dequantized_bias", std::move(b))};
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
    ValueId weight = m->dw->inputs[1], dw_bias = m->dw->inputs.size() > 2 ? m->dw->inputs[2] : kNoValue;
    if (m->quantized) std::tie(weight, dw_bias) = dequantized_depthwise(g, *m->dw);
    head.inputs = {m->split->inputs[0], weight, dw_bias, m->bias};
    head.outputs = node.outputs;
    head.set_int("key_dim", g.value(m->split->outputs[0]).shape[1]);
    head.set_ints("pads", {geo.pad_t, geo.pad_l, geo.pad_b, geo.pad_r});
    head.set_float("scale", m->scale);
    if (m->quantized) {
      head.set_float("q_step", m->q_step);
      head.set_float("q_zero", m->q_zero);
      head.set_float("q_lo", m->q_lo);
      head.set_float("q_hi", m->q_hi);
    }
    std::vector<float> q_grids;
    for (const QuantizeDequantizeParams& grid : m->q_grids) {
      const std::vector<float> f = attention_grid_floats(grid);
      q_grids.insert(q_grids.end(), f.begin(), f.end());
    }
    if (m->q_grids[0].scale > 0.f || m->q_grids[1].scale > 0.f) head.set_floats("q_grids", q_grids);
    const std::pair<const char*, QuantizeDequantizeParams> grids[] = {
        {"k_grid", m->k_grid}, {"v_grid", m->v_grid}, {"scores_grid", m->scores_grid}, {"probs_grid", m->probs_grid}};
    for (const auto& [name, grid] : grids)
      if (grid.scale > 0.f) head.set_floats(name, attention_grid_floats(grid));
    // The replaced nodes are now dead: the head writes the only value anything read.
    node = std::move(head);
    ++fused;
  }
  if (fused) g.remove_dead_nodes();
  return fused;
}

}  // namespace effvit
