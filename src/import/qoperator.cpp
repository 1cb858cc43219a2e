#include "import/qoperator.h"

#include <cstring>
#include <unordered_map>
#include <vector>

namespace effvit {
namespace {

struct Rewriter {
  onnx::GraphProto& graph;
  std::unordered_map<std::string, const onnx::TensorProto*> initializers;
  std::vector<onnx::NodeProto> out;
  std::vector<onnx::TensorProto> added;

  onnx::NodeProto& add(const std::string& op, const std::string& name, std::vector<std::string> inputs, const std::string& output) {
    out.emplace_back();
    onnx::NodeProto& n = out.back();
    n.set_op_type(op);
    n.set_name(name);
    for (const auto& in : inputs) n.add_input(in);
    n.add_output(output);
    return n;
  }

  // A scale with more than one element is per channel (or per column for a MatMul's b).
  bool per_axis(const std::string& scale) const {
    auto it = initializers.find(scale);
    if (it == initializers.end()) return true;  // unknown at import: treat as the strict case
    int64_t n = 1;
    for (int64_t d : it->second->dims()) n *= d;
    return n > 1;
  }

  const onnx::TensorProto* float_initializer(const std::string& name) const {
    auto it = initializers.find(name);
    return it != initializers.end() && it->second->data_type() == onnx::TensorProto::FLOAT ? it->second : nullptr;
  }

  static std::vector<float> floats(const onnx::TensorProto& t) {
    std::vector<float> v;
    if (t.has_raw_data()) {
      v.resize(t.raw_data().size() / sizeof(float));
      std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(float));
    } else {
      v.assign(t.float_data().begin(), t.float_data().end());
    }
    return v;
  }

  // The int32 bias's scale, x_scale * w_scale (per channel), as ONNX Runtime's quantizer writes it
  // for the QDQ form; a product node when the scales are not initializers.
  std::string bias_scale(const std::string& base, const std::string& x_scale, const std::string& w_scale) {
    const onnx::TensorProto* xs = float_initializer(x_scale);
    const onnx::TensorProto* ws = float_initializer(w_scale);
    const std::string name = base + "/effvit_bias_scale";
    if (!xs || !ws) {
      add("Mul", name, {x_scale, w_scale}, name);
      return name;
    }
    const std::vector<float> x = floats(*xs), w = floats(*ws);
    if (x.size() != 1) {
      add("Mul", name, {x_scale, w_scale}, name);
      return name;
    }
    onnx::TensorProto t;
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : ws->dims()) t.add_dims(d);
    for (float s : w) t.add_float_data(x[0] * s);
    added.push_back(std::move(t));
    return name;
  }

  bool rewrite(const onnx::NodeProto& n, int opset) {
    const bool conv = n.op_type() == "QLinearConv", matmul = n.op_type() == "QLinearMatMul";
    if (!(conv || matmul) || !(n.domain().empty() || n.domain() == "ai.onnx") || n.input_size() < 8 || n.output_size() != 1)
      return false;
    const std::string base = n.name().empty() ? n.output(0) : n.name();
    if ((per_axis(n.input(1)) || per_axis(n.input(4)) || per_axis(n.input(6))) && opset < 13) return false;
    if (per_axis(n.input(1)) || per_axis(n.input(6))) return false;  // per-tensor activations only, as the ops define
    const std::string xd = base + "/effvit_x", wd = base + "/effvit_w", yf = base + "/effvit_y";
    add("DequantizeLinear", xd, {n.input(0), n.input(1), n.input(2)}, xd);
    onnx::NodeProto& w = add("DequantizeLinear", wd, {n.input(3), n.input(4), n.input(5)}, wd);
    if (per_axis(n.input(4))) {
      // Per output channel for a Conv's weight, per column for a MatMul's b.
      auto* axis = w.add_attribute();
      axis->set_name("axis");
      axis->set_type(onnx::AttributeProto::INT);
      axis->set_i(conv ? 0 : -1);
    }
    std::vector<std::string> op_inputs{xd, wd};
    if (conv && n.input_size() > 8 && !n.input(8).empty()) {
      const std::string bd = base + "/effvit_b";
      const std::string scale = bias_scale(base, n.input(1), n.input(4));
      onnx::NodeProto& b = add("DequantizeLinear", bd, {n.input(8), scale}, bd);
      if (per_axis(n.input(4))) {
        auto* axis = b.add_attribute();
        axis->set_name("axis");
        axis->set_type(onnx::AttributeProto::INT);
        axis->set_i(0);
      }
      op_inputs.push_back(bd);
    }
    onnx::NodeProto& op = add(conv ? "Conv" : "MatMul", base, op_inputs, yf);
    for (const auto& a : n.attribute()) *op.add_attribute() = a;
    add("QuantizeLinear", base + "/effvit_q", {yf, n.input(6), n.input(7)}, n.output(0));
    return true;
  }
};

}  // namespace

int expand_qoperator_ops(onnx::GraphProto& graph, int opset) {
  Rewriter r{graph, {}, {}, {}};
  for (const auto& t : graph.initializer()) r.initializers[t.name()] = &t;
  int rewritten = 0;
  for (const auto& n : graph.node()) {
    if (r.rewrite(n, opset)) ++rewritten;
    else r.out.push_back(n);
  }
  if (!rewritten) return 0;
  for (auto& t : r.added) *graph.add_initializer() = std::move(t);
  graph.clear_node();
  for (auto& n : r.out) *graph.add_node() = std::move(n);
  return rewritten;
}

}  // namespace effvit
