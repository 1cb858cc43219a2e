#include <functional>
#include <map>

#include "ops/conv.h"
#include "passes/passes.h"

namespace effvit {

void replace_uses(Graph& graph, ValueId from, ValueId to) {
  for (Node& n : graph.nodes)
    for (ValueId& id : n.inputs)
      if (id == from) id = to;
  for (ValueId& id : graph.outputs)
    if (id == from) id = to;
}

Node* sole_producer(Graph& graph, ValueId value, const char* op, const std::vector<int>& uses,
                    const std::vector<int>& producers) {
  const int p = producers[static_cast<size_t>(value)];
  if (p < 0 || uses[static_cast<size_t>(value)] != 1) return nullptr;
  Node& n = graph.nodes[static_cast<size_t>(p)];
  return !op || n.op == op ? &n : nullptr;
}

Node* sole_conv_producer(Graph& graph, ValueId value, const std::vector<int>& uses, const std::vector<int>& producers) {
  Node* conv = sole_producer(graph, value, "Conv", uses, producers);
  return conv && !conv->has("effvit.activation") ? conv : nullptr;
}

Node* sole_eight_bit_conv(Graph& graph, ValueId codes, const std::vector<int>& uses, const std::vector<int>& producers) {
  Node* conv = sole_producer(graph, codes, "Conv", uses, producers);
  const bool plain_codes = conv && is_quantized_conv(*conv) && conv->has("effvit.y_scale") && !conv->has("effvit.table") && !has_residual(*conv);
  return plain_codes ? conv : nullptr;
}

bool per_tensor_8bit(const Graph& g, const Node& n) {
  auto constant_scalar = [&](size_t i) {
    return i < n.inputs.size() && n.inputs[i] != kNoValue && g.is_constant(n.inputs[i]) && shape_numel(g.value(n.inputs[i]).shape) == 1;
  };
  if (!constant_scalar(1) || g.value(n.inputs[1]).dtype != DType::f32) return false;
  if (n.inputs.size() < 3 || n.inputs[2] == kNoValue) return n.op == "QuantizeLinear";
  const DType codes = g.value(n.inputs[2]).dtype;
  return constant_scalar(2) && (codes == DType::u8 || codes == DType::i8);
}

void absorb_consumer(Node& producer, Node& consumer) {
  std::swap(producer.outputs[0], consumer.outputs[0]);
  // The consumer now reads and writes the producer's old value, which nothing else reads.
  consumer.op = "Identity";
  consumer.inputs = {consumer.outputs[0]};
}

void insert_layout_conversions(Graph& g, const std::function<Layout(const Node&, size_t)>& wants, int block) {
  std::map<std::pair<ValueId, Layout>, ValueId> converted;
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size() * 2);
  auto convert = [&](ValueId id, Layout to) {
    auto key = std::make_pair(id, to);
    auto it = converted.find(key);
    if (it != converted.end()) return it->second;
    const Layout from = g.value(id).layout;
    Value v = g.value(id);
    v.name += to == Layout::Plain ? ".plain" : to == Layout::Blocked ? ".blocked" : ".nhwc";
    v.layout = to;
    v.channel_block = to == Layout::Blocked ? block : 0;
    v.onnx_shape.reset();
    v.is_constant = false;
    v.constant = Tensor();
    v.weight_id = 0;
    const ValueId out = g.add_value(v);
    Node r;
    if (to == Layout::Nhwc) r.op = "effvit.ToNhwc";
    else if (from == Layout::Nhwc) r.op = "effvit.NhwcToPlain";
    else r.op = to == Layout::Plain ? "effvit.ToPlain" : "effvit.ToBlocked";
    if (r.op == "effvit.ToPlain" || r.op == "effvit.ToBlocked") r.set_int("block", block);
    r.name = v.name;
    r.inputs = {id};
    r.outputs = {out};
    nodes.push_back(std::move(r));
    converted.emplace(key, out);
    return out;
  };
  for (Node& n : g.nodes) {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const ValueId id = n.inputs[i];
      if (id == kNoValue) continue;
      const Layout want = wants(n, i);
      if (g.value(id).layout != want) n.inputs[i] = convert(id, want);
    }
    nodes.push_back(std::move(n));
  }
  for (ValueId& id : g.outputs)
    if (g.value(id).layout != Layout::Plain) id = convert(id, Layout::Plain);
  g.nodes = std::move(nodes);
}

void optimize_structure(Graph& graph) {
  remove_identity(graph);
  shift_int8_activations_to_uint8(graph);
  fuse_nv12_input(graph);
  fuse_image_quantize(graph);
  fold_batchnorm_into_conv(graph);
  fold_qdq_into_conv(graph);
  fuse_conv_relu(graph);
  fold_quantize_into_conv(graph);
  fold_requantize(graph);
  fold_requantize_into_conv(graph);
  fold_quantized_add(graph);
  fold_quantize_dequantize(graph);
  hoist_quantize_dequantize(graph);
  fold_transpose_into_matmul(graph);
  graph.remove_dead_nodes();
}

void optimize_for_shapes(Graph& graph, int block, bool bf16) {
  fold_quantized_add_into_conv(graph);
  fuse_attention_scores(graph);
  fuse_attention_head(graph);
  if (has_integer_conv(graph)) {
    assign_nhwc_layout(graph);
  } else {
    assign_blocked_layout(graph, block);
    if (bf16) assign_bf16_activations(graph);
  }
}

void optimize(Graph& graph, int block) {
  optimize_structure(graph);
  optimize_for_shapes(graph, block);
}

}  // namespace effvit
