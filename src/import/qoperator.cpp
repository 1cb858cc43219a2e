#include "import/qoperator.h"

#include "effvit/error.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace effvit {
namespace {

struct Rewriter {
  onnx::GraphProto& graph;
  const std::string& path;
  std::unordered_map<std::string, const onnx::TensorProto*> initializers;
  std::unordered_set<std::string> taken;  // every tensor name of the graph, and those made here
  std::vector<onnx::NodeProto> out;
  std::deque<onnx::TensorProto> added;  // stable addresses: they join `initializers`

  // A tensor name nothing in the graph uses yet: `wanted`, or it with a number appended (a model may
  // already hold a tensor called like a generated one, or two nodes may share a name).
  std::string fresh(const std::string& wanted) {
    std::string name = wanted;
    for (int k = 1; taken.count(name); ++k) name = wanted + "_" + std::to_string(k);
    taken.insert(name);
    return name;
  }

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
    const std::string name = fresh(base + "/effvit_bias_scale");
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
    initializers[name] = &added.back();
    return name;
  }

  int64_t elements(const std::string& name) const {
    auto it = initializers.find(name);
    if (it == initializers.end()) return -1;
    int64_t n = 1;
    for (int64_t d : it->second->dims()) n *= d;
    return n;
  }

  // A one-element initializer repeated `count` times as a 1-D one: the spec lets a QLinearConv's
  // weight scale and zero point differ in that, DequantizeLinear does not.
  std::string broadcast(const std::string& name, int64_t count) {
    const onnx::TensorProto& t = *initializers.at(name);
    onnx::TensorProto out;
    out.set_name(fresh(name + "/effvit_per_channel"));
    out.set_data_type(t.data_type());
    out.add_dims(count);
    std::string one;
    if (t.has_raw_data()) one = t.raw_data();
    else if (t.data_type() == onnx::TensorProto::FLOAT && t.float_data_size() == 1) {
      const float f = t.float_data(0);
      one.assign(reinterpret_cast<const char*>(&f), sizeof f);
    }
    else if (t.int32_data_size() == 1) one.assign(1, static_cast<char>(t.int32_data(0)));  // int8 / uint8 zero points
    else throw Error(path + ": initializer '" + name + "' has no data");
    std::string raw;
    for (int64_t i = 0; i < count; ++i) raw += one;
    out.set_raw_data(raw);
    added.push_back(out);
    initializers[added.back().name()] = &added.back();
    return added.back().name();
  }

  void require_type(const onnx::NodeProto& n, int input, std::initializer_list<int> types, const char* what) const {
    auto it = initializers.find(n.input(input));
    if (it == initializers.end()) return;  // a run-time tensor: ONNX's inference checks the rewritten nodes
    for (int t : types)
      if (it->second->data_type() == t) return;
    throw Error(path + ": " + n.op_type() + " node '" + (n.name().empty() ? n.output(0) : n.name()) + "': " + what);
  }

  std::string node_name(const onnx::NodeProto& n) const { return n.name().empty() ? n.output(0) : n.name(); }

  [[noreturn]] void refuse(const onnx::NodeProto& n, const std::string& why) const {
    throw Error(ErrorKind::unsupported, path + ": " + n.domain() + "::" + n.op_type() + " node '" + node_name(n) + "': " + why);
  }

  // DequantizeLinear of input `value` of n with the scale and (optional) zero point at the given
  // input indices.
  std::string dequantize(const onnx::NodeProto& n, int value, int scale, int zero, const std::string& base) {
    const std::string out = fresh(base + "/effvit_dq" + std::to_string(value));
    std::vector<std::string> inputs{n.input(value), n.input(scale)};
    if (zero < n.input_size() && !n.input(zero).empty()) inputs.push_back(n.input(zero));
    add("DequantizeLinear", out, inputs, out);
    return out;
  }

  // QuantizeLinear of `value` into n's output. Without a zero point QuantizeLinear writes uint8,
  // while the com.microsoft ops write their input's type: an int8 one gets a zero point of 0.
  void quantize(const onnx::NodeProto& n, const std::string& value, int scale, int zero, int typed_zero, const std::string& base) {
    std::vector<std::string> inputs{value, n.input(scale)};
    if (zero < n.input_size() && !n.input(zero).empty()) {
      inputs.push_back(n.input(zero));
    } else {
      auto it = typed_zero < n.input_size() ? initializers.find(n.input(typed_zero)) : initializers.end();
      if (it == initializers.end()) refuse(n, "without an output zero point, the input's zero point must be an initializer (its type is the output's)");
      if (it->second->data_type() == onnx::TensorProto::INT8) {
        onnx::TensorProto zero_point;
        zero_point.set_name(fresh(base + "/effvit_zero"));
        zero_point.set_data_type(onnx::TensorProto::INT8);
        zero_point.set_raw_data(std::string(1, '\0'));
        added.push_back(std::move(zero_point));
        initializers[added.back().name()] = &added.back();
        inputs.push_back(added.back().name());
      }
    }
    add("QuantizeLinear", fresh(base + "/effvit_q"), inputs, n.output(0));
  }

  // DequantizeLinear's axis: which axis a per-channel scale runs along.
  static void set_axis(onnx::NodeProto& n, int64_t axis) {
    auto* a = n.add_attribute();
    a->set_name("axis");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(axis);
  }

  static const onnx::AttributeProto* attribute(const onnx::NodeProto& n, const std::string& name) {
    for (const auto& a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }

  // ONNX Runtime's QOperator ops of its own domain (what quantize_static writes besides QLinearConv
  // and QLinearMatMul), each as DequantizeLinear -> the float op -> QuantizeLinear: the op's
  // definition; ONNX Runtime's kernels approximate it (lookup tables, fixed-point scales), so the
  // two may differ by a quantization step where a value sits on a rounding boundary.
  bool rewrite_microsoft(const onnx::NodeProto& n, int opset) {
    if (n.domain() != "com.microsoft" || n.output_size() != 1) return false;
    const std::string& op = n.op_type();
    const std::string base = node_name(n);
    // ONNX Runtime's schemas (the ONNX checker does not know them): between `fewest` and `most`
    // inputs, and only the `optional` ones may be left empty.
    auto need = [&](int fewest, int most, std::initializer_list<int> optional) {
      if (n.input_size() < fewest || n.input_size() > most)
        refuse(n, "expects " + std::to_string(fewest) + " to " + std::to_string(most) + " inputs, has " + std::to_string(n.input_size()));
      for (int i = 0; i < n.input_size(); ++i)
        if (n.input(i).empty() && std::find(optional.begin(), optional.end(), i) == optional.end())
          refuse(n, "input " + std::to_string(i) + " is required");
    };
    auto per_tensor_only = [&](std::initializer_list<int> scales) {
      for (int s : scales)
        if (per_axis(n.input(s))) refuse(n, "scale '" + n.input(s) + "' is not a constant scalar (per-tensor only)");
    };
    if (op == "QLinearAdd" || op == "QLinearMul") {
      need(7, 8, {2, 5, 7});
      per_tensor_only({1, 4, 6});
      const std::string a = dequantize(n, 0, 1, 2, base), b = dequantize(n, 3, 4, 5, base), y = fresh(base + "/effvit_y");
      add(op == "QLinearAdd" ? "Add" : "Mul", base, {a, b}, y);
      quantize(n, y, 6, 7, 2, base);
      return true;
    }
    if (op == "QuantizeLinear" || op == "DequantizeLinear") {
      // ONNX Runtime's own Q/DQ, which it writes for 16-bit codes below opset 21: ONNX's ops
      // (per tensor or along `axis`), which opset 21 extends to 16 bits.
      need(2, 3, {2});
      for (const auto& a : n.attribute())
        if (a.name() != "axis") refuse(n, "attribute '" + a.name() + "' is not supported");
      if (opset < 13) refuse(n, "needs opset 13 or later (per-axis Q/DQ)");
      onnx::NodeProto& plain = add(op, base, std::vector<std::string>(n.input().begin(), n.input().end()), n.output(0));
      plain.mutable_attribute()->CopyFrom(n.attribute());
      return true;
    }
    if (op == "QLinearSigmoid" || op == "QLinearLeakyRelu" || op == "QLinearGlobalAveragePool" || op == "QLinearSoftmax") {
      need(4, 5, {2, 4});
      per_tensor_only({1, 3});
      if (op == "QLinearGlobalAveragePool") {
        const auto* channels_last = attribute(n, "channels_last");
        if (channels_last && channels_last->i() != 0) refuse(n, "channels_last = 1 is not supported");
      }
      const std::string x = dequantize(n, 0, 1, 2, base), y = fresh(base + "/effvit_y");
      const char* float_op = op == "QLinearSigmoid"     ? "Sigmoid"
                             : op == "QLinearLeakyRelu" ? "LeakyRelu"
                             : op == "QLinearSoftmax"   ? "Softmax"
                                                        : "GlobalAveragePool";
      onnx::NodeProto& f = add(float_op, base, {x}, y);
      if (op == "QLinearLeakyRelu") {
        auto* alpha = f.add_attribute();
        alpha->set_name("alpha");
        alpha->set_type(onnx::AttributeProto::FLOAT);
        const auto* given = attribute(n, "alpha");
        alpha->set_f(given ? given->f() : 0.01f);
      }
      if (op == "QLinearSoftmax") {
        // Its `opset` attribute says which Softmax it is (before 13: over all axes from `axis` on);
        // the rewritten node is read by the model's own opset.
        const auto* own = attribute(n, "opset");
        if (!own) refuse(n, "has no 'opset' attribute");
        if ((own->i() < 13) != (opset < 13))
          refuse(n, "opset " + std::to_string(own->i()) + " Softmax in a model of opset " + std::to_string(opset) + " is not supported");
        // Written always: the op's own default is -1, an opset-11 Softmax's is 1.
        auto* axis = f.add_attribute();
        axis->set_name("axis");
        axis->set_type(onnx::AttributeProto::INT);
        const auto* given = attribute(n, "axis");
        axis->set_i(given ? given->i() : -1);
      }
      quantize(n, y, 3, 4, 2, base);
      return true;
    }
    if (op == "QLinearConcat") {
      need(5, 2 + 3 * 1024, {});
      if ((n.input_size() - 2) % 3) refuse(n, "inputs after y_scale and y_zero_point must come in (tensor, scale, zero point) triples");
      per_tensor_only({0});
      std::vector<std::string> parts;
      for (int i = 2; i < n.input_size(); i += 3) {
        per_tensor_only({i + 1});
        parts.push_back(dequantize(n, i, i + 1, i + 2, base));
      }
      const std::string y = fresh(base + "/effvit_y");
      onnx::NodeProto& c = add("Concat", base, parts, y);
      const auto* axis = attribute(n, "axis");
      if (!axis) refuse(n, "has no 'axis' attribute");
      *c.add_attribute() = *axis;
      quantize(n, y, 0, 1, 4, base);
      return true;
    }
    if (op == "QGemm") {
      need(6, 9, {2, 5, 6, 7, 8});
      per_tensor_only({1});
      if (const auto* alpha = attribute(n, "alpha"); alpha && alpha->f() != 1.f) refuse(n, "alpha other than 1 is not supported");
      const auto* trans_b = attribute(n, "transB");
      std::string b_scale = n.input(4);
      const std::string a = dequantize(n, 0, 1, 2, base);
      const std::string b = fresh(base + "/effvit_dq3");
      std::vector<std::string> b_inputs{n.input(3), b_scale};
      if (!n.input(5).empty()) b_inputs.push_back(n.input(5));
      onnx::NodeProto& bd = add("DequantizeLinear", b, b_inputs, b);
      if (per_axis(b_scale)) {
        if (opset < 13) refuse(n, "per-column weights need opset 13");
        // One scale per output column: B is [K, N], or [N, K] with transB.
        set_axis(bd, trans_b && trans_b->i() ? 0 : 1);
      }
      std::vector<std::string> gemm_inputs{a, b};
      if (n.input_size() > 6 && !n.input(6).empty()) {
        require_type(n, 6, {onnx::TensorProto::INT32}, "the bias must be int32");
        const std::string c = fresh(base + "/effvit_c");
        onnx::NodeProto& cd = add("DequantizeLinear", c, {n.input(6), bias_scale(base, n.input(1), b_scale)}, c);
        if (per_axis(b_scale)) {
          set_axis(cd, -1);  // the columns: C is [N], [1, N] or [M, N]
        }
        gemm_inputs.push_back(c);
      }
      const bool quantized_output = n.input_size() > 7 && !n.input(7).empty();
      // Without a zero point ONNX Runtime's documentation and its kernel disagree on what comes out.
      if (quantized_output && (n.input_size() < 9 || n.input(8).empty())) refuse(n, "y_scale without y_zero_point is not supported");
      if (quantized_output) per_tensor_only({7});
      const std::string y = quantized_output ? fresh(base + "/effvit_y") : n.output(0);
      onnx::NodeProto& g = add("Gemm", base, gemm_inputs, y);
      for (const char* name : {"transA", "transB"})
        if (const auto* a = attribute(n, name)) *g.add_attribute() = *a;
      if (quantized_output) quantize(n, y, 7, 8, 2, base);
      return true;
    }
    return false;
  }

  bool rewrite(const onnx::NodeProto& n, int opset) {
    if (rewrite_microsoft(n, opset)) return true;
    const bool conv = n.op_type() == "QLinearConv", matmul = n.op_type() == "QLinearMatMul";
    if (!(conv || matmul) || !(n.domain().empty() || n.domain() == "ai.onnx") || n.input_size() < 8 || n.output_size() != 1)
      return false;
    const std::string base = n.name().empty() ? n.output(0) : n.name();
    if ((per_axis(n.input(1)) || per_axis(n.input(4)) || per_axis(n.input(6))) && opset < 13) return false;
    if (per_axis(n.input(1)) || per_axis(n.input(6))) return false;  // per-tensor activations only, as the ops define
    // The QLinear ops' own type rules, which the rewritten nodes would not all enforce.
    using T = onnx::TensorProto;
    require_type(n, 3, {T::INT8, T::UINT8}, "the weight must be int8 or uint8");
    for (int scale : {1, 4, 6}) require_type(n, scale, {T::FLOAT}, "scales must be float32");
    for (int zero : {2, 5, 7}) require_type(n, zero, {T::INT8, T::UINT8}, "zero points must be int8 or uint8");
    if (conv && n.input_size() > 8 && !n.input(8).empty()) require_type(n, 8, {T::INT32}, "the bias must be int32");
    std::string w_scale = n.input(4), w_zero = n.input(5);
    const int64_t scales = elements(w_scale), zeros = w_zero.empty() ? 1 : elements(w_zero);
    if (scales > 1 && zeros == 1 && !w_zero.empty()) w_zero = broadcast(w_zero, scales);
    if (zeros > 1 && scales == 1) w_scale = broadcast(w_scale, zeros);
    const std::string xd = fresh(base + "/effvit_x"), wd = fresh(base + "/effvit_w"), yf = fresh(base + "/effvit_y");
    add("DequantizeLinear", xd, {n.input(0), n.input(1), n.input(2)}, xd);
    onnx::NodeProto& w = add("DequantizeLinear", wd, {n.input(3), w_scale, w_zero}, wd);
    if (per_axis(w_scale)) {
      // Per output channel for a Conv's weight, per column for a MatMul's b.
      set_axis(w, conv ? 0 : -1);
    }
    std::vector<std::string> op_inputs{xd, wd};
    if (conv && n.input_size() > 8 && !n.input(8).empty()) {
      const std::string bd = fresh(base + "/effvit_b");
      const std::string scale = bias_scale(base, n.input(1), w_scale);
      onnx::NodeProto& b = add("DequantizeLinear", bd, {n.input(8), scale}, bd);
      if (per_axis(w_scale)) {
        set_axis(b, 0);
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

int expand_qoperator_ops(onnx::GraphProto& graph, int opset, const std::string& path) {
  Rewriter r{graph, path, {}, {}, {}, {}};
  for (const auto& t : graph.initializer()) {
    r.initializers[t.name()] = &t;
    r.taken.insert(t.name());
  }
  for (const auto& v : graph.input()) r.taken.insert(v.name());
  for (const auto& v : graph.output()) r.taken.insert(v.name());
  for (const auto& v : graph.value_info()) r.taken.insert(v.name());
  for (const auto& n : graph.node())
    for (const auto& o : n.output()) r.taken.insert(o);
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
