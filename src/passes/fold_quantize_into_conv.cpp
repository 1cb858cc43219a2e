// An integer Conv whose float output only feeds QuantizeLinear (the next conv's input, e.g. the
// first conv of an FFN) writes the quantized tensor itself: oneDNN scales by
// x_scale * w_scale[c] / y_scale and rounds to uint8/int8 while the sums are in registers, instead
// of writing float32 for a separate pass to quantize. Up to float rounding of the combined scale
// (a value exactly between two steps may land on the other one), as ONNX Runtime's QLinearConv.
//
//   integer Conv -> y -> QuantizeLinear(sy, zy) -> yq    ==>    integer Conv -> yq  (effvit.y_scale = sy,
//                                                                             effvit.y_zero_point = zy)
// zy is 0 for int8, anything for uint8.
#include "ops/conv.h"
#include "passes/passes.h"

namespace effvit {

int fold_quantize_into_conv(Graph& g) {
  std::vector<std::vector<size_t>> readers(g.values.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (ValueId id : g.nodes[i].inputs)
      if (id != kNoValue) readers[static_cast<size_t>(id)].push_back(i);
  std::vector<bool> is_output(g.values.size(), false);
  for (ValueId id : g.outputs) is_output[static_cast<size_t>(id)] = true;

  std::vector<bool> erase(g.nodes.size(), false);
  int folded = 0;
  for (Node& conv : g.nodes) {
    if (conv.op != "Conv" || !is_quantized_conv(conv) || conv.has("effvit.y_scale")) continue;
    const ValueId y = conv.outputs[0];
    const auto& r = readers[static_cast<size_t>(y)];
    if (r.empty() || is_output[static_cast<size_t>(y)]) continue;
    // Every reader a per-tensor QuantizeLinear with the same constant scale and zero point.
    float scale = 0;
    int zero = 0;
    DType type = DType::u8;
    bool ok = true;
    for (size_t k = 0; k < r.size() && ok; ++k) {
      const Node& q = g.nodes[r[k]];
      ok = q.op == "QuantizeLinear" && q.inputs[0] == y && q.inputs.size() >= 3 && g.is_constant(q.inputs[1]) &&
           g.is_constant(q.inputs[2]) && g.value(q.inputs[1]).constant.numel() == 1 && g.value(q.inputs[2]).constant.numel() == 1;
      if (!ok) break;
      const Tensor& s = g.value(q.inputs[1]).constant;
      const Tensor& z = g.value(q.inputs[2]).constant;
      ok = s.dtype() == DType::f32 && s.data<float>()[0] > 0 &&
           (z.dtype() == DType::u8 || (z.dtype() == DType::i8 && z.data<int8_t>()[0] == 0));
      if (!ok) break;
      const int z_value = z.dtype() == DType::u8 ? z.data<uint8_t>()[0] : 0;
      if (k == 0) {
        scale = s.data<float>()[0];
        type = z.dtype();
        zero = z_value;
      }
      ok = s.data<float>()[0] == scale && z.dtype() == type && z_value == zero;
    }
    if (!ok) continue;
    const ValueId yq = g.nodes[r[0]].outputs[0];
    for (size_t k = 0; k < r.size(); ++k) {
      erase[r[k]] = true;
      const ValueId other = g.nodes[r[k]].outputs[0];
      if (other == yq) continue;
      for (Node& n : g.nodes)
        for (ValueId& id : n.inputs)
          if (id == other) id = yq;
      for (ValueId& id : g.outputs)
        if (id == other) id = yq;
    }
    conv.outputs[0] = yq;
    conv.attrs["effvit.y_scale"].kind = Attribute::Kind::Float;
    conv.attrs["effvit.y_scale"].f = scale;
    conv.set_int("effvit.y_signed", type == DType::i8 ? 1 : 0);
    if (zero) conv.set_int("effvit.y_zero_point", zero);
    ++folded;
  }
  if (!folded) return 0;
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!erase[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  g.remove_dead_nodes();
  return folded;
}

}  // namespace effvit
