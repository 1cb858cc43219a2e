// Keeps int8 conv chains channels-last (NHWC), the layout oneDNN's int8 convolutions read and
// write: without it every integer Conv reordered its uint8 input from NCHW and its float output
// back (1.6 of M5's 7 ms). The counterpart of blocked_layout.cpp for graphs with integer Convs
// (passes/fold_qdq_into_conv.cpp):
//   - an integer Conv writes NHWC when a reader can stay NHWC: an Add, a Relu, or a per-tensor
//     QuantizeLinear whose readers are all integer Convs (quantizing is elementwise, so it keeps
//     the layout, and an integer Conv reads a NHWC uint8 input as is);
//   - an Add of two same-shape activations or a Relu stays NHWC when an input is;
//   - effvit.ToNhwc / effvit.NhwcToPlain convert on the edges where a reader needs the other layout.
#include "ops/conv.h"
#include "passes/passes.h"

namespace effvit {
namespace {

bool is_activation(const Value& v) { return v.dtype == DType::f32 && v.shape.size() == 4; }

bool per_tensor_quantize(const Node& n, const Graph& g) {
  return n.op == "QuantizeLinear" && g.is_constant(n.inputs[1]) && shape_numel(g.value(n.inputs[1]).shape) == 1 &&
         (n.inputs.size() < 3 || n.inputs[2] == kNoValue || g.is_constant(n.inputs[2]));
}

}  // namespace

bool has_integer_conv(const Graph& g) {
  for (const Node& n : g.nodes)
    if (n.op == "Conv" && is_quantized_conv(n)) return true;
  return false;
}

int assign_nhwc_layout(Graph& g) {
  std::vector<std::vector<const Node*>> readers(g.values.size());
  for (const Node& n : g.nodes)
    for (ValueId id : n.inputs)
      if (id != kNoValue) readers[static_cast<size_t>(id)].push_back(&n);
  auto only_integer_convs_read = [&](ValueId id) {
    const auto& r = readers[static_cast<size_t>(id)];
    if (r.empty()) return false;
    for (const Node* n : r)
      if (!(n->op == "Conv" && is_quantized_conv(*n) && n->inputs[0] == id)) return false;
    return true;
  };
  auto nhwc_reader = [&](const Node& r, ValueId id) {
    if (r.op == "Add" || r.op == "Relu") return true;
    return per_tensor_quantize(r, g) && r.inputs[0] == id && only_integer_convs_read(r.outputs[0]);
  };

  int changed = 0;
  for (const Node& n : g.nodes) {
    Value& out = g.value(n.outputs[0]);
    bool nhwc = false;
    if (n.op == "Conv" && is_quantized_conv(n) && is_activation(out)) {
      for (const Node* r : readers[static_cast<size_t>(n.outputs[0])]) nhwc = nhwc || nhwc_reader(*r, n.outputs[0]);
    } else if (n.op == "Conv" && is_quantized_conv(n) && out.shape.size() == 4) {
      nhwc = only_integer_convs_read(n.outputs[0]);  // a quantized output (fold_quantize_into_conv)
    } else if (n.op == "Relu" && is_activation(out)) {
      nhwc = g.value(n.inputs[0]).layout == Layout::Nhwc;
    } else if (n.op == "Add" && is_activation(out)) {
      const Value& a = g.value(n.inputs[0]);
      const Value& b = g.value(n.inputs[1]);
      nhwc = a.shape == b.shape && !a.is_constant && !b.is_constant && (a.layout == Layout::Nhwc || b.layout == Layout::Nhwc);
    } else if (per_tensor_quantize(n, g) && out.shape.size() == 4) {
      nhwc = g.value(n.inputs[0]).layout == Layout::Nhwc && only_integer_convs_read(n.outputs[0]);
    }
    if (nhwc) {
      out.layout = Layout::Nhwc;
      ++changed;
    }
  }
  if (!changed) return 0;

  // What each reader needs: integer Convs take their input in either layout; Add, Relu and
  // QuantizeLinear take their output's; everything else plain.
  auto wants = [&](const Node& n, size_t input) {
    if (n.op == "Conv" && is_quantized_conv(n) && input == 0) return g.value(n.inputs[0]).layout;
    if (n.op == "Add" || n.op == "Relu" || (n.op == "QuantizeLinear" && input == 0)) return g.value(n.outputs[0]).layout;
    return Layout::Plain;
  };
  insert_layout_conversions(g, wants, 0);
  return changed;
}

}  // namespace effvit
