#include "quant/qdq_model.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "effvit/error.h"
#include "import/tensor_proto.h"
#include "quant/did_you_mean.h"

namespace effvit::quant {

std::string node_name(const onnx::NodeProto& n) { return n.name().empty() ? (n.output_size() ? n.output(0) : n.op_type()) : n.name(); }

void refuse_quantized(const onnx::ModelProto& model, const std::string& path) {
  static const std::set<std::string> kQuantized = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv",
                                                   "QLinearMatMul", "ConvInteger", "MatMulInteger", "QLinearAdd"};
  std::map<std::string, int> found;
  for (const auto& n : model.graph().node())
    if (kQuantized.count(n.op_type())) ++found[n.op_type()];
  if (found.empty()) return;
  std::string ops;
  for (const auto& [op, count] : found) ops += (ops.empty() ? "" : ", ") + op + " x" + std::to_string(count);
  throw Error(ErrorKind::invalid_input, path + ": already quantized (" + ops + "); quantize the float32 export it was made from");
}

std::shared_ptr<const Model> load_proto(const onnx::ModelProto& model, const std::string& name) {
  const std::string bytes = model.SerializeAsString();
  return Model::load_from_memory(bytes.data(), bytes.size(), name);
}

namespace {

using onnx::ModelProto;
using onnx::NodeProto;
using onnx::TensorProto;


std::map<std::string, TensorProto*> initializers(ModelProto& model) {
  std::map<std::string, TensorProto*> out;
  for (auto& t : *model.mutable_graph()->mutable_initializer()) out[t.name()] = &t;
  return out;
}

std::map<std::string, const TensorProto*> initializers(const ModelProto& model) {
  std::map<std::string, const TensorProto*> out;
  for (const auto& t : model.graph().initializer()) out[t.name()] = &t;
  return out;
}

std::vector<float> floats_of(const TensorProto& t) {
  const Tensor v = tensor_from_proto(t, "", "initializer '" + t.name() + "'");
  if (v.dtype() != DType::f32) throw Error(ErrorKind::unsupported, "initializer '" + t.name() + "' is not float32");
  return std::vector<float>(v.data<float>(), v.data<float>() + v.numel());
}

std::vector<int64_t> dims_of(const TensorProto& t) { return {t.dims().begin(), t.dims().end()}; }

template <typename T>
TensorProto make_initializer(const std::string& name, int32_t type, const std::vector<int64_t>& dims, const std::vector<T>& values) {
  TensorProto t;
  t.set_name(name);
  t.set_data_type(type);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
  return t;
}

NodeProto make_node(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                    const std::string& output) {
  NodeProto n;
  n.set_op_type(op);
  n.set_name(name);
  for (const auto& i : inputs) n.add_input(i);
  n.add_output(output);
  return n;
}

void set_int_attr(NodeProto& n, const std::string& name, int64_t value) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

int64_t int_attr(const NodeProto& n, const std::string& name, int64_t fallback) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return fallback;
}

float float_attr(const NodeProto& n, const std::string& name, float fallback) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.f();
  return fallback;
}

std::map<std::string, int> consumer_counts(const ModelProto& model) {
  std::map<std::string, int> count;
  for (const auto& n : model.graph().node())
    for (const auto& i : n.input()) ++count[i];
  for (const auto& o : model.graph().output()) ++count[o.name()];
  return count;
}

void drop_unused_initializers(ModelProto& model) {
  const auto used = consumer_counts(model);
  auto* inits = model.mutable_graph()->mutable_initializer();
  for (int i = inits->size(); i-- > 0;)
    if (!used.count(inits->Get(i).name())) inits->DeleteSubrange(i, 1);
}

// Round half to even, saturated to [lo, hi].
int64_t quantize_value(double x, int64_t lo, int64_t hi) {
  const double r = std::nearbyint(x);
  return static_cast<int64_t>(std::clamp(r, static_cast<double>(lo), static_cast<double>(hi)));
}

}  // namespace

int default_opset(const ModelProto& model) {
  for (const auto& imp : model.opset_import())
    if (imp.domain().empty() || imp.domain() == "ai.onnx") return static_cast<int>(imp.version());
  return 0;
}

int fold_batchnorm_into_conv(ModelProto& model, std::map<std::string, std::string>* folded_into) {
  auto* graph = model.mutable_graph();
  const auto counts = consumer_counts(model);
  std::map<std::string, int> producer;
  for (int i = 0; i < graph->node_size(); ++i)
    for (const auto& o : graph->node(i).output()) producer[o] = i;
  auto inits = initializers(model);
  std::set<int> removed;
  int folded = 0;
  for (int i = 0; i < graph->node_size(); ++i) {
    const NodeProto& bn = graph->node(i);
    if (bn.op_type() != "BatchNormalization" || bn.input_size() != 5 || bn.output_size() < 1) continue;
    auto p = producer.find(bn.input(0));
    if (p == producer.end() || counts.at(bn.input(0)) != 1) continue;
    NodeProto& conv = *graph->mutable_node(p->second);
    if (conv.op_type() != "Conv" || conv.input_size() < 2 || !inits.count(conv.input(1))) continue;
    bool constant = true;
    for (int k = 1; k < 5; ++k) constant = constant && inits.count(bn.input(k));
    if (!constant || (conv.input_size() > 2 && !conv.input(2).empty() && !inits.count(conv.input(2)))) continue;

    const TensorProto& w_proto = *inits.at(conv.input(1));
    std::vector<float> w = floats_of(w_proto);
    const std::vector<int64_t> w_dims = dims_of(w_proto);
    const int64_t out_c = w_dims.empty() ? 0 : w_dims[0];
    const std::vector<float> gamma = floats_of(*inits.at(bn.input(1))), beta = floats_of(*inits.at(bn.input(2))),
                             mean = floats_of(*inits.at(bn.input(3))), var = floats_of(*inits.at(bn.input(4)));
    if (out_c <= 0 || static_cast<int64_t>(gamma.size()) != out_c || beta.size() != gamma.size() || mean.size() != gamma.size() ||
        var.size() != gamma.size())
      continue;
    std::vector<float> b(static_cast<size_t>(out_c), 0.f);
    if (conv.input_size() > 2 && !conv.input(2).empty()) b = floats_of(*inits.at(conv.input(2)));
    const double eps = float_attr(bn, "epsilon", 1e-5f);
    const size_t per_out = w.size() / static_cast<size_t>(out_c);
    for (int64_t o = 0; o < out_c; ++o) {
      const double s = gamma[o] / std::sqrt(static_cast<double>(var[o]) + eps);
      for (size_t k = 0; k < per_out; ++k) w[o * per_out + k] = static_cast<float>(w[o * per_out + k] * s);
      b[o] = static_cast<float>((b[o] - mean[o]) * s + beta[o]);
    }
    const std::string base = node_name(conv) + "/bn_folded";
    *graph->add_initializer() = make_initializer(base + "/W", TensorProto::FLOAT, w_dims, w);
    *graph->add_initializer() = make_initializer(base + "/B", TensorProto::FLOAT, {out_c}, b);
    conv.set_input(1, base + "/W");
    if (conv.input_size() > 2) conv.set_input(2, base + "/B");
    else conv.add_input(base + "/B");
    conv.set_output(0, bn.output(0));
    if (folded_into) (*folded_into)[node_name(bn)] = node_name(conv);
    removed.insert(i);
    ++folded;
    inits = initializers(model);  // the additions may have moved the repeated field
  }
  auto* nodes = graph->mutable_node();
  for (auto it = removed.rbegin(); it != removed.rend(); ++it) nodes->DeleteSubrange(*it, 1);
  if (folded) drop_unused_initializers(model);
  return folded;
}

std::vector<QuantTarget> find_targets(const ModelProto& model, const QuantConfig& config) {
  std::set<std::string> names;
  for (const auto& n : model.graph().node()) names.insert(node_name(n));
  for (const auto& [name, precision] : config.node_info)
    if (!names.count(name))
      throw Error(ErrorKind::invalid_input, config.path + ": " + precision.source + " names node '" + name + "', which " +
                                                config.onnx_model + " does not have" +
                                                did_you_mean(name, std::vector<std::string>(names.begin(), names.end())));
  const auto inits = initializers(model);
  std::vector<QuantTarget> targets;
  for (const auto& n : model.graph().node()) {
    const std::string name = node_name(n);
    // ON: CPU keeps float32, and so does int16: ONNX before opset 21 has no 16-bit QuantizeLinear,
    // and float32 is at least as precise as what was asked.
    auto info = config.node_info.find(name);
    if (info != config.node_info.end() && (!info->second.integer || info->second.input_bits == 16 || info->second.output_bits == 16))
      continue;
    const bool conv = n.op_type() == "Conv", gemm = n.op_type() == "Gemm", matmul = n.op_type() == "MatMul";
    if (!(conv || gemm || matmul) || n.input_size() < 2) continue;
    auto w = inits.find(n.input(1));
    if (w == inits.end() || w->second->data_type() != TensorProto::FLOAT) continue;
    const size_t rank = static_cast<size_t>(w->second->dims_size());
    if ((conv && rank < 3) || ((gemm || matmul) && rank != 2)) continue;
    if (gemm && (float_attr(n, "alpha", 1.f) != 1.f || float_attr(n, "beta", 1.f) != 1.f || int_attr(n, "transA", 0))) continue;
    QuantTarget t{name, n.op_type(), n.input(0), n.input(1), ""};
    if ((conv || gemm) && n.input_size() > 2 && !n.input(2).empty()) {
      auto b = inits.find(n.input(2));
      if (b == inits.end() || b->second->dims_size() != 1) continue;  // a run-time or full-matrix bias: leave in float
      t.bias = n.input(2);
    }
    targets.push_back(t);
  }
  return targets;
}

void add_outputs(ModelProto& model, const std::map<std::string, size_t>& tensors) {
  std::set<std::string> present;
  for (const auto& o : model.graph().output()) present.insert(o.name());
  for (const auto& [name, rank] : tensors) {
    if (!present.insert(name).second) continue;
    auto* o = model.mutable_graph()->add_output();
    o->set_name(name);
    auto* type = o->mutable_type()->mutable_tensor_type();
    type->set_elem_type(TensorProto::FLOAT);
    // Every dimension symbolic: the rank is what a checker needs, the sizes follow the input.
    for (size_t d = 0; d < rank; ++d) type->mutable_shape()->add_dim()->set_dim_param(name + "_d" + std::to_string(d));
  }
}

namespace {

// The int32 bias sits at scale (activation scale x weight scale). A channel whose weights are tiny
// (a near-dead channel after BatchNorm folding) gets so small a scale that its bias saturates and
// is silently lost (2.0 came out as 0.0015); such a channel's weight scale is widened until its
// bias fits, as ONNX Runtime's quantizer does. Half of int32's range keeps room for the products
// the accumulator adds to it.
void widen_for_bias(const std::string& node, const std::vector<float>& bias, float activation_scale, bool per_channel,
                    std::vector<float>& w_scale, std::vector<std::string>* notes) {
  if (bias.size() != w_scale.size()) return;
  constexpr double kBiasLimit = 2147483647.0 / 2;
  std::vector<float> need(bias.size());
  for (size_t c = 0; c < bias.size(); ++c)
    need[c] = static_cast<float>(std::fabs(static_cast<double>(bias[c])) / (static_cast<double>(activation_scale) * kBiasLimit));
  if (!per_channel) std::fill(need.begin(), need.end(), *std::max_element(need.begin(), need.end()));
  auto g = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return std::string(text);
  };
  std::string widened;
  size_t count = 0;
  for (size_t c = 0; c < bias.size(); ++c) {
    if (!(need[c] > w_scale[c])) continue;
    // Rounding up a step so the division below cannot land a hair over the limit.
    const float wider = std::nextafter(need[c], INFINITY);
    // One scale per tensor: said once, for the bias that needs the widest.
    const bool say = per_channel ? ++count <= 4 : count++ == 0;
    if (say) {
      size_t widest = c;
      if (!per_channel)
        for (size_t k = 0; k < bias.size(); ++k)
          if (std::fabs(bias[k]) > std::fabs(bias[widest])) widest = k;
      widened += std::string(widened.empty() ? "" : ", ") + (per_channel ? "channel " + std::to_string(c) : std::string("the tensor")) +
                 " (bias " + g(bias[widest]) + ": weight scale " + g(w_scale[c]) + " -> " + g(wider) + ")";
    }
    w_scale[c] = wider;
  }
  if (count && notes)
    notes->push_back(node + ": int32 bias would saturate; weight scale widened so it fits" +
                     (per_channel ? " on " + std::to_string(count) + " channel(s): " : std::string(": ")) + widened +
                     (per_channel && count > 4 ? ", ..." : ""));
}

}  // namespace

void insert_qdq(ModelProto& model, const std::vector<QuantTarget>& targets, const std::map<std::string, ActivationQuant>& ranges,
                int weight_levels, bool per_channel_weights, std::vector<std::string>* notes) {
  auto* graph = model.mutable_graph();
  std::map<std::string, const QuantTarget*> by_node;
  for (const auto& t : targets) by_node[t.node] = &t;
  std::map<std::string, std::vector<float>> weight_scales;
  std::vector<TensorProto> new_inits;
  std::set<std::string> activation_done;
  google::protobuf::RepeatedPtrField<NodeProto> nodes;
  const auto inits = initializers(static_cast<const ModelProto&>(model));
  // Per-axis QuantizeLinear/DequantizeLinear exist from opset 13; before, one scale per tensor.
  const bool per_channel = per_channel_weights && default_opset(model) >= 13;

  for (const NodeProto& original : graph->node()) {
    auto it = by_node.find(node_name(original));
    if (it == by_node.end()) {
      *nodes.Add() = original;
      continue;
    }
    const QuantTarget& t = *it->second;
    NodeProto node = original;
    const ActivationQuant& a = ranges.at(t.activation);
    const std::string q_base = "effvit_q/" + t.activation;
    if (activation_done.insert(t.activation).second) {
      new_inits.push_back(make_initializer<float>(q_base + "/scale", TensorProto::FLOAT, {}, {a.scale}));
      if (a.is_unsigned)
        new_inits.push_back(make_initializer<uint8_t>(q_base + "/zero_point", TensorProto::UINT8, {}, {static_cast<uint8_t>(a.zero_point)}));
      else new_inits.push_back(make_initializer<int8_t>(q_base + "/zero_point", TensorProto::INT8, {}, {0}));
      *nodes.Add() = make_node("QuantizeLinear", q_base + "/Quantize", {t.activation, q_base + "/scale", q_base + "/zero_point"},
                               q_base + "/quantized");
      *nodes.Add() = make_node("DequantizeLinear", q_base + "/Dequantize",
                               {q_base + "/quantized", q_base + "/scale", q_base + "/zero_point"}, q_base + "/dequantized");
    }
    node.set_input(0, q_base + "/dequantized");

    // Weights: int8, symmetric, one scale per output channel, within [-weight_levels, weight_levels].
    const TensorProto& w_proto = *inits.at(t.weight);
    const std::vector<float> w = floats_of(w_proto);
    const std::vector<int64_t> dims = dims_of(w_proto);
    const bool rows_are_channels = t.op == "Conv" || (t.op == "Gemm" && int_attr(original, "transB", 0));
    const int64_t axis = rows_are_channels ? 0 : 1;
    const int64_t channels = dims[static_cast<size_t>(axis)];
    const size_t inner = rows_are_channels ? w.size() / static_cast<size_t>(channels) : 1;
    auto channel_of = [&](size_t i) { return rows_are_channels ? i / inner : i % static_cast<size_t>(channels); };
    std::vector<float> w_scale(static_cast<size_t>(channels), 0.f);
    for (size_t i = 0; i < w.size(); ++i) w_scale[channel_of(i)] = std::max(w_scale[channel_of(i)], std::fabs(w[i]));
    if (!per_channel) std::fill(w_scale.begin(), w_scale.end(), *std::max_element(w_scale.begin(), w_scale.end()));
    const float levels = static_cast<float>(weight_levels);
    for (float& s : w_scale) s = s > 0 ? s / levels : 1.f;
    if (!t.bias.empty()) widen_for_bias(t.node, floats_of(*inits.at(t.bias)), a.scale, per_channel, w_scale, notes);
    const std::vector<int64_t> scale_dims = per_channel ? std::vector<int64_t>{channels} : std::vector<int64_t>{};
    auto scale_values = [&](const std::vector<float>& v) { return per_channel ? v : std::vector<float>{v[0]}; };
    std::vector<int8_t> wq(w.size());
    for (size_t i = 0; i < w.size(); ++i) wq[i] = static_cast<int8_t>(quantize_value(w[i] / w_scale[channel_of(i)], -weight_levels, weight_levels));
    const std::string w_base = "effvit_q/" + t.node + "/weight";
    new_inits.push_back(make_initializer(w_base + "/quantized", TensorProto::INT8, dims, wq));
    new_inits.push_back(make_initializer(w_base + "/scale", TensorProto::FLOAT, scale_dims, scale_values(w_scale)));
    new_inits.push_back(make_initializer(w_base + "/zero_point", TensorProto::INT8, scale_dims,
                                         std::vector<int8_t>(per_channel ? w_scale.size() : 1, 0)));
    NodeProto w_dq = make_node("DequantizeLinear", w_base + "/Dequantize",
                               {w_base + "/quantized", w_base + "/scale", w_base + "/zero_point"}, w_base + "/dequantized");
    if (per_channel) set_int_attr(w_dq, "axis", axis);
    *nodes.Add() = w_dq;
    node.set_input(1, w_base + "/dequantized");

    // Bias: int32 at the accumulator's scale, so integer kernels add it exactly.
    if (!t.bias.empty()) {
      const std::vector<float> b = floats_of(*inits.at(t.bias));
      if (static_cast<int64_t>(b.size()) == channels) {
        std::vector<float> b_scale(b.size());
        std::vector<int32_t> bq(b.size());
        for (size_t c = 0; c < b.size(); ++c) {
          b_scale[c] = a.scale * w_scale[c];
          bq[c] = static_cast<int32_t>(quantize_value(b[c] / b_scale[c], INT32_MIN, INT32_MAX));
        }
        const std::string b_base = "effvit_q/" + t.node + "/bias";
        new_inits.push_back(make_initializer(b_base + "/quantized", TensorProto::INT32, {channels}, bq));
        new_inits.push_back(make_initializer(b_base + "/scale", TensorProto::FLOAT, scale_dims, scale_values(b_scale)));
        NodeProto b_dq = make_node("DequantizeLinear", b_base + "/Dequantize", {b_base + "/quantized", b_base + "/scale"},
                                   b_base + "/dequantized");
        if (per_channel) set_int_attr(b_dq, "axis", 0);
        *nodes.Add() = b_dq;
        node.set_input(2, b_base + "/dequantized");
      }
    }
    *nodes.Add() = node;
  }
  graph->mutable_node()->Swap(&nodes);
  for (auto& t : new_inits) *graph->add_initializer() = std::move(t);
  drop_unused_initializers(model);
}

namespace {

// NV12 [N, H*3/2, W, 1] uint8 -> float32 [N, 3, H, W] in `rgb` (else BGR) order, as OpenCV's
// COLOR_YUV2RGB_NV12 computes it: BT.601 video range in 20-bit fixed point, chroma repeated over
// each 2x2 block, >> rounding down, saturated to 0..255. Written in int32 ONNX ops so any runtime
// reproduces the board's conversion bit for bit.
std::string nv12_to_float(const std::string& input, int64_t height, int64_t width, bool rgb, int opset, std::vector<NodeProto>& nodes,
                          std::vector<TensorProto>& inits) {
  const std::string p = "effvit_pre/nv12/";
  auto ints = [&](const std::string& name, std::vector<int64_t> values) {
    inits.push_back(make_initializer<int64_t>(p + name, TensorProto::INT64, {static_cast<int64_t>(values.size())}, values));
    return p + name;
  };
  std::set<std::string> made;
  auto scalar = [&](const std::string& name, int32_t value) {
    if (made.insert(name).second) inits.push_back(make_initializer<int32_t>(p + name, TensorProto::INT32, {}, {value}));
    return p + name;
  };
  auto node = [&](const std::string& op, const std::vector<std::string>& in, const std::string& out) {
    nodes.push_back(make_node(op, p + out, in, p + out));
    return p + out;
  };
  NodeProto cast = make_node("Cast", p + "as_int", {input}, p + "as_int");
  set_int_attr(cast, "to", TensorProto::INT32);
  nodes.push_back(cast);
  const std::string axis1 = ints("axis1", {1}), axis3 = ints("axis3", {3});
  const std::string plane = ints("plane", {-1, 1, height, width});
  // Y rows [0, H), chroma rows [H, H*3/2) holding U,V pairs along each row.
  const std::string y = node("Reshape", {node("Slice", {p + "as_int", ints("y_start", {0}), ints("y_end", {height}), axis1}, "y_rows"), plane}, "y");
  const std::string uv = node("Reshape", {node("Slice", {p + "as_int", ints("uv_start", {height}), ints("uv_end", {height * 3 / 2}), axis1}, "uv_rows"),
                                          ints("uv_shape", {-1, height / 2, width / 2, 2})},
                              "uv");
  auto upsampled = [&](const std::string& name, int64_t channel) {
    const std::string c = node("Slice", {uv, ints(name + "_start", {channel}), ints(name + "_end", {channel + 1}), axis3}, name + "_half");
    const std::string grid = node("Reshape", {c, ints(name + "_grid_shape", {-1, height / 2, 1, width / 2, 1})}, name + "_grid");
    const std::string full = node("Expand", {grid, ints(name + "_blocks_shape", {1, height / 2, 2, width / 2, 2})}, name + "_blocks");
    return node("Sub", {node("Reshape", {full, plane}, name + "_full"), scalar("c128", 128)}, name + "_centred");
  };
  const std::string u = upsampled("u", 0), v = upsampled("v", 1);
  // y = max(Y - 16, 0) * CY; each channel: (y + (1 << 19) + CV * v + CU * u) >> 20, floored via a
  // positive offset (int32 Div truncates), then saturated.
  // Clip takes integers from opset 12; before, the (small, exactly representable) values are
  // clipped as floats.
  // `lo` is always the int32 zero; `hi` (optional) 255.
  auto clip = [&](const std::string& x, const std::string& lo, const std::string& hi, const std::string& out) {
    if (opset >= 12) return node("Clip", hi.empty() ? std::vector<std::string>{x, lo} : std::vector<std::string>{x, lo, hi}, out);
    auto cast = [&](const std::string& from, int32_t to, const std::string& name) {
      NodeProto c = make_node("Cast", p + name, {from}, p + name);
      set_int_attr(c, "to", to);
      nodes.push_back(c);
      return p + name;
    };
    auto float_scalar = [&](const std::string& name, float value) {
      if (made.insert(name).second) inits.push_back(make_initializer<float>(p + name, TensorProto::FLOAT, {}, {value}));
      return p + name;
    };
    std::vector<std::string> in{cast(x, TensorProto::FLOAT, out + "_as_float"), float_scalar("zero_f", 0.f)};
    if (!hi.empty()) in.push_back(float_scalar("c255_f", 255.f));
    return cast(node("Clip", in, out + "_float"), TensorProto::INT32, out);
  };
  const std::string y_scaled = node("Mul", {clip(node("Sub", {y, scalar("c16", 16)}, "y16"), scalar("zero", 0), "", "y_pos"),
                                            scalar("cy", 1220542)},
                                    "y_scaled");
  const int32_t offset = 1024 << 20;
  const std::string bias = node("Add", {y_scaled, scalar("half_plus_offset", (1 << 19) + offset)}, "y_biased");
  auto channel = [&](const std::string& name, int32_t cv, int32_t cu) {
    std::string acc = bias;
    if (cv) acc = node("Add", {acc, node("Mul", {v, scalar(name + "_cv", cv)}, name + "_v")}, name + "_with_v");
    if (cu) acc = node("Add", {acc, node("Mul", {u, scalar(name + "_cu", cu)}, name + "_u")}, name + "_with_u");
    const std::string shifted = node("Sub", {node("Div", {acc, scalar("two20", 1 << 20)}, name + "_div"), scalar("k1024", 1024)}, name + "_floor");
    const std::string clipped = clip(shifted, p + "zero", scalar("c255", 255), name + "_clip");
    NodeProto to_float = make_node("Cast", p + name, {clipped}, p + name);
    set_int_attr(to_float, "to", TensorProto::FLOAT);
    nodes.push_back(to_float);
    return p + name;
  };
  const std::string r = channel("r", 1673527, 0), g = channel("g", -852492, -409993), b = channel("b", 0, 2116026);
  NodeProto concat = make_node("Concat", p + "rgb", rgb ? std::vector<std::string>{r, g, b} : std::vector<std::string>{b, g, r}, p + "rgb");
  set_int_attr(concat, "axis", 1);
  nodes.push_back(concat);
  return p + "rgb";
}

}  // namespace

namespace {

// The graph input the config describes, checked against it: which input, the run-time and training
// types, the layout (its channel axis must hold the channels), mean/scale counts.
struct CheckedInput {
  int index = -1;  // in graph.input
  int channel_axis = 1;
  int64_t channels = 0;
};

std::string dims_text(const onnx::TensorShapeProto& shape) {
  std::string out = "[";
  for (int d = 0; d < shape.dim_size(); ++d)
    out += (d ? "," : "") + (shape.dim(d).has_dim_value() ? std::to_string(shape.dim(d).dim_value()) : shape.dim(d).dim_param().empty() ? std::string("?") : shape.dim(d).dim_param());
  return out + "]";
}

CheckedInput check_input(const ModelProto& model, const QuantConfig& config) {
  const auto& graph = model.graph();
  const auto inits = initializers(model);
  CheckedInput checked;
  for (int i = 0; i < graph.input_size(); ++i) {
    const auto& in = graph.input(i);
    if (inits.count(in.name())) continue;
    if (!config.input_name.empty() && in.name() != config.input_name) continue;
    if (checked.index >= 0) throw Error(ErrorKind::invalid_input, config.path + ": input_parameters.input_name: the model has several inputs; name one");
    checked.index = i;
  }
  if (checked.index < 0)
    throw Error(ErrorKind::invalid_input, config.path + ": input_parameters.input_name: no model input named '" + config.input_name + "'");
  const auto& input = graph.input(checked.index);
  const InputKind rt = config.input_type_rt, train = config.input_type_train;
  const bool color = rt == InputKind::rgb || rt == InputKind::bgr;
  const bool train_color = train == InputKind::rgb || train == InputKind::bgr;
  if (rt == InputKind::nv12 ? !train_color : (color != train_color || (!color && rt != train)))
    throw Error(ErrorKind::invalid_input, config.path + ": input_parameters.input_type_rt: " + input_kind_name(rt) +
                                              " cannot feed a model trained on " + input_kind_name(train));
  const auto& shape = input.type().tensor_type().shape();
  const bool nhwc = config.input_layout_train == "NHWC";
  const int rank = shape.dim_size();
  if (rank != 4)
    throw Error(ErrorKind::unsupported, config.path + ": the model input '" + input.name() + "' is " + dims_text(shape) + ", not 4-D (" +
                                            config.input_layout_train + ")");
  checked.channel_axis = nhwc ? 3 : 1;
  auto fixed = [&](int axis) { return shape.dim(axis).has_dim_value() ? shape.dim(axis).dim_value() : int64_t{0}; };
  checked.channels = fixed(checked.channel_axis);
  if (checked.channels <= 0) throw Error(ErrorKind::unsupported, config.path + ": the model input's channel count must be fixed");
  // An image has 1 or 3 channels: a training layout that puts 224 of them on the channel axis while
  // the other candidate axis holds 3 is the wrong layout, said as such (not as a mean/scale count).
  const int64_t want = train == InputKind::gray ? 1 : train_color ? 3 : 0;
  const int other_axis = nhwc ? 1 : 3;
  if (want && checked.channels != want && fixed(other_axis) == want)
    throw Error(ErrorKind::invalid_input, config.path + ": input_parameters.input_layout_train: '" + config.input_layout_train +
                                              "' puts " + std::to_string(checked.channels) + " channels on axis " +
                                              std::to_string(checked.channel_axis) + " of '" + input.name() + "' " + dims_text(shape) + ", but " +
                                              input_kind_name(train) + " has " + std::to_string(want) + " (the model is " +
                                              (nhwc ? "NCHW" : "NHWC") + ")");
  if (want && checked.channels != want)
    throw Error(ErrorKind::invalid_input, config.path + ": input_parameters.input_type_train: '" + input_kind_name(train) + "' has " +
                                              std::to_string(want) + " channel(s), but '" + input.name() + "' " + dims_text(shape) + " has " +
                                              std::to_string(checked.channels) + " on axis " + std::to_string(checked.channel_axis) + " (" +
                                              config.input_layout_train + ")");
  if (!want && fixed(other_axis) > 0 && fixed(checked.channel_axis) > 4 && fixed(other_axis) <= 4)
    throw Error(ErrorKind::invalid_input, config.path + ": input_parameters.input_layout_train: '" + config.input_layout_train + "' puts " +
                                              std::to_string(checked.channels) + " channels on axis " + std::to_string(checked.channel_axis) +
                                              " of '" + input.name() + "' " + dims_text(shape) + "; is the model " + (nhwc ? "NCHW" : "NHWC") + "?");
  for (const auto& [key, v] : {std::pair<const char*, const std::vector<float>*>{"mean_value", &config.mean}, {"scale_value", &config.scale}})
    if (!v->empty() && v->size() != 1 && static_cast<int64_t>(v->size()) != checked.channels)
      throw Error(ErrorKind::invalid_input, config.path + ": input_parameters." + key + ": " + std::to_string(v->size()) +
                                                " values for the " + std::to_string(checked.channels) + " channels of '" + input.name() + "' " +
                                                dims_text(shape) + " (" + config.input_layout_train + "); give 1 or " +
                                                std::to_string(checked.channels));
  if (rt == InputKind::nv12) {
    if (nhwc) throw Error(ErrorKind::unsupported, config.path + ": input_parameters.input_layout_train: an nv12 model must be NCHW");
    const int64_t height = fixed(2), width = fixed(3);
    if (height <= 0 || width <= 0 || height % 2 || width % 2 || checked.channels != 3)
      throw Error(ErrorKind::unsupported, config.path + ": an nv12 model needs a fixed 3-channel input of even height and width");
  }
  return checked;
}

}  // namespace

void check_config_against_model(const ModelProto& model, const QuantConfig& config) { check_input(model, config); }

void prepend_preprocessing(ModelProto& model, const QuantConfig& config) {
  auto* graph = model.mutable_graph();
  const CheckedInput checked = check_input(model, config);
  onnx::ValueInfoProto* input = graph->mutable_input(checked.index);
  const InputKind rt = config.input_type_rt, train = config.input_type_train;
  const bool color = rt == InputKind::rgb || rt == InputKind::bgr;
  const auto& shape = input->type().tensor_type().shape();
  const bool nhwc = config.input_layout_train == "NHWC";
  const int channel_axis = checked.channel_axis;
  const int64_t channels = checked.channels;

  const std::string original = input->name();
  std::string current = original + "/effvit_pixels";
  std::vector<NodeProto> pre;
  std::vector<TensorProto> new_inits;
  // input_layout_rt differs from training: the deployed input takes the run-time layout and a
  // Transpose (on the raw pixels, before any widening) gives the model its training layout.
  std::string source = original;
  if (rt != InputKind::nv12 && config.input_layout_rt != config.input_layout_train) {
    const std::vector<int64_t> to_train = nhwc ? std::vector<int64_t>{0, 2, 3, 1} : std::vector<int64_t>{0, 3, 1, 2};
    const std::vector<int> to_rt = nhwc ? std::vector<int>{0, 3, 1, 2} : std::vector<int>{0, 2, 3, 1};
    auto* dims = input->mutable_type()->mutable_tensor_type()->mutable_shape();
    const onnx::TensorShapeProto train_dims = *dims;
    for (int d = 0; d < 4; ++d) *dims->mutable_dim(d) = train_dims.dim(to_rt[static_cast<size_t>(d)]);
    source = original + "/effvit_" + config.input_layout_train;
    NodeProto transpose = make_node("Transpose", "effvit_pre/To" + config.input_layout_train, {original}, source);
    auto* perm = transpose.add_attribute();
    perm->set_name("perm");
    perm->set_type(onnx::AttributeProto::INTS);
    for (int64_t p : to_train) perm->add_ints(p);
    pre.push_back(transpose);
  }
  if (rt == InputKind::nv12) {
    const int64_t height = shape.dim(2).dim_value(), width = shape.dim(3).dim_value();
    current = nv12_to_float(original, height, width, train == InputKind::rgb, default_opset(model), pre, new_inits);
    auto* type = input->mutable_type()->mutable_tensor_type();
    type->set_elem_type(TensorProto::UINT8);
    auto* dims = type->mutable_shape();
    const onnx::TensorShapeProto_Dimension batch = dims->dim(0);
    dims->clear_dim();
    *dims->add_dim() = batch;
    dims->add_dim()->set_dim_value(height * 3 / 2);
    dims->add_dim()->set_dim_value(width);
    dims->add_dim()->set_dim_value(1);
  } else if (rt != InputKind::featuremap) {
    NodeProto cast = make_node("Cast", "effvit_pre/Cast", {source}, current);
    set_int_attr(cast, "to", TensorProto::FLOAT);
    pre.push_back(cast);
    input->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::UINT8);
  } else {
    current = source;
  }
  if (color && rt != train) {
    new_inits.push_back(make_initializer<int64_t>("effvit_pre/reverse/starts", TensorProto::INT64, {1}, {channels - 1}));
    new_inits.push_back(make_initializer<int64_t>("effvit_pre/reverse/ends", TensorProto::INT64, {1}, {-(channels + 1)}));
    new_inits.push_back(make_initializer<int64_t>("effvit_pre/reverse/axes", TensorProto::INT64, {1}, {channel_axis}));
    new_inits.push_back(make_initializer<int64_t>("effvit_pre/reverse/steps", TensorProto::INT64, {1}, {-1}));
    pre.push_back(make_node("Slice", "effvit_pre/ReverseChannels",
                            {current, "effvit_pre/reverse/starts", "effvit_pre/reverse/ends", "effvit_pre/reverse/axes",
                             "effvit_pre/reverse/steps"},
                            original + "/effvit_reordered"));
    current = original + "/effvit_reordered";
  }
  std::vector<int64_t> param_dims(4, 1);
  auto per_channel = [&](const std::vector<float>& v) {
    param_dims[static_cast<size_t>(channel_axis)] = static_cast<int64_t>(v.size());
    return v;
  };
  if (!config.mean.empty()) {
    new_inits.push_back(make_initializer("effvit_pre/mean", TensorProto::FLOAT, (per_channel(config.mean), param_dims), config.mean));
    pre.push_back(make_node("Sub", "effvit_pre/SubMean", {current, "effvit_pre/mean"}, original + "/effvit_centred"));
    current = original + "/effvit_centred";
  }
  if (!config.scale.empty()) {
    new_inits.push_back(make_initializer("effvit_pre/scale", TensorProto::FLOAT, (per_channel(config.scale), param_dims), config.scale));
    pre.push_back(make_node("Mul", "effvit_pre/Scale", {current, "effvit_pre/scale"}, original + "/effvit_normalized"));
    current = original + "/effvit_normalized";
  }
  if (pre.empty()) return;
  for (auto& n : *graph->mutable_node())
    for (int i = 0; i < n.input_size(); ++i)
      if (n.input(i) == original) n.set_input(i, current);
  for (auto& o : *graph->mutable_output())
    if (o.name() == original)
      throw Error(ErrorKind::unsupported, config.path + ": the model's input is also an output; nothing to quantize");
  google::protobuf::RepeatedPtrField<NodeProto> nodes;
  for (auto& n : pre) *nodes.Add() = std::move(n);
  for (const auto& n : graph->node()) *nodes.Add() = n;
  graph->mutable_node()->Swap(&nodes);
  for (auto& t : new_inits) *graph->add_initializer() = std::move(t);
}

std::map<std::string, ActivationQuant> read_activation_grids(const ModelProto& qdq, const std::string& path) {
  const auto inits = initializers(qdq);
  std::map<std::string, ActivationQuant> grids;
  for (const NodeProto& n : qdq.graph().node()) {
    if (n.op_type() != "QuantizeLinear" || n.input_size() < 2 || inits.count(n.input(0))) continue;  // weights: ours are recomputed
    // effvit's own files quantize the input after their preprocessing, under the input's name plus
    // the suffix of the last step written (prepend_preprocessing).
    std::string tensor = n.input(0);
    for (const std::string suffix : {"/effvit_normalized", "/effvit_centred", "/effvit_reordered", "/effvit_pixels", "/effvit_NCHW", "/effvit_NHWC"})
      if (tensor.size() > suffix.size() && tensor.compare(tensor.size() - suffix.size(), suffix.size(), suffix) == 0) {
        tensor.resize(tensor.size() - suffix.size());
        break;
      }
    auto constant = [&](int i) -> Tensor {
      if (n.input_size() <= i || n.input(i).empty()) return Tensor();
      auto it = inits.find(n.input(i));
      if (it == inits.end())
        throw Error(ErrorKind::invalid_model, path + ": QuantizeLinear '" + n.name() + "': '" + n.input(i) + "' is not an initializer");
      return tensor_from_proto(*it->second, "", path + ": '" + n.input(i) + "'");
    };
    const Tensor scale = constant(1), zero = constant(2);
    if (scale.numel() != 1 || scale.dtype() != DType::f32 || (zero.defined() && zero.numel() > 1))
      throw Error(ErrorKind::invalid_model, path + ": QuantizeLinear '" + n.name() + "' of '" + tensor +
                                                "': per-axis activation scales are not a per-tensor grid");
    ActivationQuant q;
    q.scale = scale.data<float>()[0];
    if (!(q.scale > 0) || !std::isfinite(q.scale))
      throw Error(ErrorKind::invalid_model, path + ": QuantizeLinear '" + n.name() + "': scale " + std::to_string(q.scale) + " is not positive");
    // No zero point: uint8 at 0, as ONNX says.
    const DType type = zero.numel() == 1 ? zero.dtype() : DType::u8;
    const int z = zero.numel() != 1 ? 0 : type == DType::u8 ? zero.data<uint8_t>()[0] : zero.data<int8_t>()[0];
    if (type != DType::u8 && type != DType::i8)
      throw Error(ErrorKind::invalid_model, path + ": QuantizeLinear '" + n.name() + "': " + dtype_name(type) + " zero point (8-bit grids only)");
    q.is_unsigned = type == DType::u8 || z != 0;
    q.zero_point = type == DType::u8 ? z : z != 0 ? z + 128 : 0;
    auto [at, inserted] = grids.emplace(tensor, q);
    if (!inserted && (at->second.scale != q.scale || at->second.zero_point != q.zero_point))
      throw Error(ErrorKind::invalid_model, path + ": '" + tensor + "' is quantized twice, on different grids");
  }
  return grids;
}

}  // namespace effvit::quant
