// The input chain `effvit quantize` writes in front of a quantized model (src/quant/qdq_model.cpp),
//
//   uint8 image -> [effvit.Nv12ToRgb | Cast to float] -> [Slice reversing the channels] -> Sub(mean)
//               -> Mul(scale) -> QuantizeLinear
//
// becomes one effvit.QuantizeImage reading the bytes and writing the quantized input: four passes
// over float planes (0.35 of the bundled int8 M0's 1.5 ms) become one over the image. The mean and
// scale must be constants with one value or one per channel, the QuantizeLinear per tensor; each
// intermediate must have no other reader. Runs after fuse_nv12_input.
#include "ops/op.h"
#include "passes/passes.h"

namespace effvit {
namespace {

// A constant with one value, or one per channel of a [N, C, H, W] tensor ([C,1,1] or [1,C,1,1]).
bool per_channel_values(const Graph& g, ValueId id, int64_t channels, std::vector<float>& values) {
  if (!g.is_constant(id) || g.value(id).dtype != DType::f32) return false;
  const Tensor& t = g.value(id).constant;
  const Shape& s = t.shape();
  const bool scalar = t.numel() == 1 && s.size() <= 4;
  const bool per_channel = channels > 0 && t.numel() == channels &&
                           ((s.size() == 3 && s[1] == 1 && s[2] == 1) || (s.size() == 4 && s[0] == 1 && s[2] == 1 && s[3] == 1));
  if (!scalar && !per_channel) return false;
  values.assign(t.data<float>(), t.data<float>() + t.numel());
  return true;
}

// A Slice of a [N, C, H, W] tensor that takes every channel in reverse order (bgr <-> rgb, as
// `effvit quantize` writes it: starts C-1, ends -(C+1), axes 1, steps -1) and nothing else.
bool reverses_channels(const Graph& g, const Node& slice, int64_t channels) {
  if (slice.op != "Slice" || slice.inputs.size() < 5) return false;
  for (size_t i = 1; i < 5; ++i)
    if (!g.is_constant(slice.inputs[i]) || g.value(slice.inputs[i]).constant.numel() != 1) return false;
  auto value = [&](size_t i) { return tensor_ints(g.value(slice.inputs[i]).constant).at(0); };
  int64_t start = value(1), end = value(2);
  const int64_t axis = value(3), step = value(4);
  if ((axis != 1 && axis != -3) || step != -1) return false;
  if (start < 0) start += channels;
  if (end < 0) end += channels;
  return start >= channels - 1 && end < 0;  // from the last channel through the first
}

}  // namespace

int fuse_image_quantize(Graph& g) {
  const auto uses = g.use_counts();
  const auto producers = g.producers();
  int fused = 0;
  for (Node& quantize : g.nodes) {
    if (quantize.op != "QuantizeLinear" || quantize.inputs.size() < 2 || !g.is_constant(quantize.inputs[1])) continue;
    const Tensor& y_scale = g.value(quantize.inputs[1]).constant;
    if (y_scale.dtype() != DType::f32 || y_scale.numel() != 1 || !(y_scale.data<float>()[0] > 0.f)) continue;
    bool is_signed = false;
    int64_t zero = 0;
    if (quantize.inputs.size() > 2 && quantize.inputs[2] != kNoValue) {
      if (!g.is_constant(quantize.inputs[2]) || g.value(quantize.inputs[2]).constant.numel() != 1) continue;
      const Tensor& z = g.value(quantize.inputs[2]).constant;
      if (z.dtype() != DType::u8 && z.dtype() != DType::i8) continue;  // 16-bit codes: not an int8 input
      is_signed = z.dtype() == DType::i8;
      zero = is_signed ? z.data<int8_t>()[0] : z.data<uint8_t>()[0];
    }
    Node* mul = sole_producer(g, quantize.inputs[0], "Mul", uses, producers);
    if (!mul) continue;
    for (size_t side = 0; side < 2; ++side) {
      Node* sub = sole_producer(g, mul->inputs[side], "Sub", uses, producers);
      if (!sub) continue;
      const Node* reverse = sole_producer(g, sub->inputs[0], "Slice", uses, producers);
      const Node* found = sole_producer(g, reverse ? reverse->inputs[0] : sub->inputs[0], nullptr, uses, producers);
      if (!found) continue;
      const Node& source = *found;
      const ValueId image = source.inputs.empty() ? kNoValue : source.inputs[0];
      if (image == kNoValue || g.value(image).dtype != DType::u8 || g.value(image).shape.size() != 4) continue;
      const bool nv12 = source.op == "effvit.Nv12ToRgb";
      const bool widened = source.op == "Cast" && source.attr_int("to", 0) == 1;  // TensorProto FLOAT
      if (!nv12 && !widened) continue;
      const int64_t channels = nv12 ? 3 : g.value(image).shape[1];
      if (channels <= 0 || (reverse && !reverses_channels(g, *reverse, channels))) continue;
      std::vector<float> mean, scale;
      if (!per_channel_values(g, sub->inputs[1], channels, mean) || !per_channel_values(g, mul->inputs[1 - side], channels, scale))
        continue;
      Node fused_node;
      fused_node.op = "effvit.QuantizeImage";
      fused_node.name = quantize.name + "+image";
      fused_node.inputs = {image};
      fused_node.outputs = quantize.outputs;
      fused_node.set_int("nv12", nv12 ? 1 : 0);
      if (nv12) fused_node.set_int("rgb", (source.attr_int("rgb", 1) != 0) != (reverse != nullptr));
      if (!nv12 && reverse) fused_node.set_int("reverse_channels", 1);
      fused_node.set_floats("mean", mean);
      fused_node.set_floats("scale", scale);
      fused_node.set_float("y_scale", y_scale.data<float>()[0]);
      fused_node.set_int("y_zero_point", zero);
      fused_node.set_int("y_signed", is_signed ? 1 : 0);
      quantize = std::move(fused_node);
      ++fused;
      break;
    }
  }
  if (fused) g.remove_dead_nodes();
  return fused;
}

}  // namespace effvit
