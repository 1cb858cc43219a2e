// A Conv reading DequantizeLinear outputs (the QDQ form `effvit quantize` and ONNX Runtime's
// quantizer write) becomes one integer Conv: it reads the quantized activation (uint8/int8) and the
// int8 weights themselves, so oneDNN runs it on int8 arithmetic. The result is the Conv of the
// dequantized operands up to float rounding: the accumulation is exact in int32, then scaled by
// x_scale * w_scale[c] per output channel.
//
//   xq -> DequantizeLinear(sx, zx) ---------+
//   wq -> DequantizeLinear(sw, 0, axis 0) -> Conv -> y   ==>   Conv(xq, wq, bq, sw)  effvit.x_scale = sx (x_zero_point = zx)
//   bq -> DequantizeLinear(sx*sw) ----------+
//
// Folded only when it is exact to do so: the activation's zero point present (its type says uint8
// or int8) and 0, or any constant for uint8 (effvit.x_zero_point: the conv then reads x - zx);
// weights int8 with zero point 0, bias int32 at scale sx * sw[c], activation scale a constant scalar.
#include <cmath>

#include "passes/passes.h"

namespace effvit {
namespace {

const Node* dequantize_producer(const Graph& g, ValueId id, const std::vector<int>& producers) {
  if (id == kNoValue) return nullptr;
  const int p = producers[static_cast<size_t>(id)];
  if (p < 0 || g.nodes[static_cast<size_t>(p)].op != "DequantizeLinear") return nullptr;
  return &g.nodes[static_cast<size_t>(p)];
}

// A DequantizeLinear's zero point is absent or a constant of zeros.
bool zero_point_is_zero(const Graph& g, const Node& dq) {
  if (dq.inputs.size() < 3 || dq.inputs[2] == kNoValue) return true;
  if (!g.is_constant(dq.inputs[2])) return false;
  const Tensor& z = g.value(dq.inputs[2]).constant;
  const auto* bytes = static_cast<const uint8_t*>(z.raw());
  for (size_t i = 0; i < z.bytes(); ++i)
    if (bytes[i]) return false;
  return true;
}

const Tensor* f32_constant(const Graph& g, ValueId id) {
  return g.is_constant(id) && g.value(id).dtype == DType::f32 ? &g.value(id).constant : nullptr;
}

}  // namespace

int fold_qdq_into_conv(Graph& g) {
  const std::vector<int> producers = g.producers();
  int folded = 0;
  for (Node& conv : g.nodes) {
    if (conv.op != "Conv" || conv.has("effvit.x_scale") || conv.inputs.size() < 2) continue;
    const Node* dx = dequantize_producer(g, conv.inputs[0], producers);
    const Node* dw = dequantize_producer(g, conv.inputs[1], producers);
    const Node* db = conv.inputs.size() > 2 ? dequantize_producer(g, conv.inputs[2], producers) : nullptr;
    if (!dx || !dw || (conv.inputs.size() > 2 && conv.inputs[2] != kNoValue && !db)) continue;
    // Activation: a run-time uint8/int8 tensor (its zero point says which; without one the input
    // could be int32), one constant scale, zero point 0.
    const Tensor* sx = dx->inputs.size() > 1 ? f32_constant(g, dx->inputs[1]) : nullptr;
    if (!sx || sx->numel() != 1 || g.is_constant(dx->inputs[0]) || dx->inputs.size() < 3 || !g.is_constant(dx->inputs[2]) ||
        g.value(dx->inputs[2]).constant.numel() != 1)
      continue;
    const DType x_type = g.value(dx->inputs[2]).dtype;
    if (x_type == DType::i8 ? !zero_point_is_zero(g, *dx) : x_type != DType::u8) continue;
    const int x_zero = x_type == DType::u8 ? g.value(dx->inputs[2]).constant.data<uint8_t>()[0] : 0;
    const float x_scale = sx->data<float>()[0];
    // Weights: int8 constant, scales per tensor or per output channel (axis 0), zero point 0.
    if (!g.is_constant(dw->inputs[0]) || g.value(dw->inputs[0]).dtype != DType::i8 || !zero_point_is_zero(g, *dw)) continue;
    const Tensor& wq = g.value(dw->inputs[0]).constant;
    const Tensor* sw = dw->inputs.size() > 1 ? f32_constant(g, dw->inputs[1]) : nullptr;
    if (wq.rank() != 4 || !sw) continue;
    const int64_t out_c = wq.dim(0);
    if (sw->numel() != 1 && (sw->numel() != out_c || dw->attr_int("axis", 1) != 0)) continue;
    Tensor w_scale(DType::f32, {out_c});
    for (int64_t c = 0; c < out_c; ++c) w_scale.data<float>()[c] = sw->data<float>()[sw->numel() == 1 ? 0 : c];
    // Bias: int32 at the accumulator's scale, so adding it before scaling is the same sum.
    ValueId bias = kNoValue;
    if (db) {
      const Tensor* sb = db->inputs.size() > 1 ? f32_constant(g, db->inputs[1]) : nullptr;
      if (!g.is_constant(db->inputs[0]) || g.value(db->inputs[0]).dtype != DType::i32 || !sb || !zero_point_is_zero(g, *db)) continue;
      const Tensor& bq = g.value(db->inputs[0]).constant;
      if (bq.numel() != out_c || (sb->numel() != 1 && sb->numel() != out_c)) continue;
      bool matches = true;
      for (int64_t c = 0; c < out_c && matches; ++c) {
        const double want = static_cast<double>(x_scale) * w_scale.data<float>()[c];
        const double got = sb->data<float>()[sb->numel() == 1 ? 0 : c];
        matches = std::fabs(got - want) <= 1e-6 * std::fabs(want);
      }
      if (!matches) continue;
      bias = db->inputs[0];
    }
    const ValueId x = dx->inputs[0], w = dw->inputs[0];
    const ValueId scales = g.add_constant(conv.name + "/effvit_weight_scale", std::move(w_scale));
    conv.inputs = {x, w, bias, scales};
    conv.attrs["effvit.x_scale"].kind = Attribute::Kind::Float;
    conv.attrs["effvit.x_scale"].f = x_scale;
    if (x_zero) conv.set_int("effvit.x_zero_point", x_zero);
    ++folded;
  }
  if (folded) g.remove_dead_nodes();
  return folded;
}

}  // namespace effvit
