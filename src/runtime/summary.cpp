#include "runtime/summary.h"

#include <set>
#include <unordered_set>

#include "ops/conv.h"

namespace effvit {
namespace {

// Learnable parameters as PyTorch counts them, read back from the graph: every float weight a
// compute node reads, except BatchNorm running statistics (buffers, not parameters). The exporter
// expands each attention-bias table (heads x offsets) into a dense N x N matrix per head by
// indexing with |dy|,|dx|; such a table holds only as many parameters as it has distinct entries.
int64_t count_params(const Graph& g) {
  const auto prod = g.producers();
  std::unordered_set<ValueId> counted;
  int64_t params = 0;
  for (const Node& n : g.nodes) {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const ValueId id = n.inputs[i];
      if (!g.is_constant(id) || counted.count(id)) continue;
      const Tensor& t = g.value(id).constant;
      if (t.dtype() != DType::f32 || t.numel() <= 1) continue;
      if (n.op == "BatchNormalization" && (i == 3 || i == 4)) continue;
      if (n.op == "Reshape" || n.op == "Expand" || n.op == "Slice") continue;
      counted.insert(id);
      const bool attention_bias = n.op == "Add" && t.rank() == 2 && t.dim(0) == t.dim(1);
      if (attention_bias) {
        std::set<float> distinct(t.data<float>(), t.data<float>() + t.numel());
        params += static_cast<int64_t>(distinct.size());
      } else {
        params += t.numel();
      }
    }
  }
  return params;
}

int64_t count_macs(const Graph& g) {
  int64_t macs = 0;
  for (const Node& n : g.nodes) {
    const Shape& out = g.value(n.outputs[0]).shape;
    if (n.op == "Conv") {
      const Shape& w = g.value(n.inputs[1]).shape;
      macs += shape_numel(out) * w[1] * w[2] * w[3];
    } else if (n.op == "MatMul") {
      const Shape& a = g.value(n.inputs[0]).shape;
      macs += shape_numel(out) * a.back();
    } else if (n.op == "Gemm") {
      const Shape& a = g.value(n.inputs[0]).shape;
      macs += shape_numel(out) * (n.attr_int("transA", 0) ? a[0] : a[1]);
    }
  }
  return macs;
}

// Identifies M0..M5 by three numbers their architecture fixes: the width after the 4-conv patch
// embedding, the width entering the classifier, and the number of attention softmaxes
// (sum over stages of depth x heads).
std::string detect_variant(const Graph& g) {
  int stride2_convs = 0, softmaxes = 0;
  int64_t first_width = 0, last_width = 0;
  for (const Node& n : g.nodes) {
    if (n.op == "Conv" && stride2_convs < 4 && n.attr_ints("strides", {1, 1}) == std::vector<int64_t>{2, 2}) {
      if (++stride2_convs == 4) first_width = g.value(n.outputs[0]).shape[1];
    } else if (n.op == "Softmax") {
      ++softmaxes;
    } else if (n.op == "Gemm" || (n.op == "MatMul" && g.is_constant(n.inputs[1]))) {
      last_width = g.value(n.inputs[0]).shape.back();
      if (n.op == "Gemm" && n.attr_int("transA", 0)) last_width = g.value(n.inputs[0]).shape[0];
    }
  }
  struct Signature {
    const char* name;
    int64_t first, last;
    int softmaxes;
  };
  static const Signature kVariants[] = {{"m0", 64, 192, 24},  {"m1", 128, 192, 17}, {"m2", 128, 224, 16},
                                        {"m3", 128, 320, 22}, {"m4", 128, 384, 24}, {"m5", 192, 384, 28}};
  for (const auto& v : kVariants)
    if (v.first == first_width && v.last == last_width && v.softmaxes == softmaxes) return v.name;
  return "none";
}

}  // namespace

ModelSummary summarize(const Graph& imported, const Graph& specialized, const Graph& runtime) {
  ModelSummary s;
  auto describe = [](const Graph& g, ValueId id) {
    const Value& v = g.value(id);
    return TensorInfo{v.name, v.dtype, v.shape, {}};
  };
  for (ValueId id : imported.inputs) s.inputs.push_back(describe(imported, id));
  for (size_t i = 0; i < imported.outputs.size(); ++i) {
    TensorInfo info = describe(specialized, specialized.outputs[i]);
    // The batch axis is dynamic exactly when the model's input batch is (exporters sometimes
    // declare a symbolic output batch for a fixed-batch input).
    const Shape& in0 = imported.value(imported.inputs.at(0)).shape;
    if (!in0.empty() && in0[0] < 0 && !info.shape.empty()) info.shape[0] = -1;
    s.outputs.push_back(info);
  }
  s.params = count_params(specialized);
  s.macs = count_macs(specialized);
  s.variant = detect_variant(specialized);
  for (const Node& n : runtime.nodes) ++s.ops[n.op];
  s.precision = "fp32";
  for (const Node& n : imported.nodes)
    if (n.op == "QuantizeLinear" || n.op == "DequantizeLinear") s.precision = "int8";
  s.opset = imported.opset;
  return s;
}

}  // namespace effvit
