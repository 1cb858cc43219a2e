// Helpers shared by the unit tests: attribute and tensor builders, a graph builder, running one op
// through its OpDef, a reference interpreter over OpDef::compute, and tolerant comparisons.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "effvit/error.h"
#include "ir/graph.h"
#include "ops/op.h"

namespace effvit::test {

using Attrs = std::map<std::string, Attribute>;

inline Attribute int_attr(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::Int;
  a.i = v;
  return a;
}

inline Attribute float_attr(float v) {
  Attribute a;
  a.kind = Attribute::Kind::Float;
  a.f = v;
  return a;
}

inline Attribute string_attr(const std::string& v) {
  Attribute a;
  a.kind = Attribute::Kind::String;
  a.s = v;
  return a;
}

inline Attribute ints_attr(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::Ints;
  a.ints = std::move(v);
  return a;
}

inline Attribute tensor_attr(Tensor t) {
  Attribute a;
  a.kind = Attribute::Kind::Tensor;
  a.t = std::move(t);
  return a;
}

inline Tensor random_f32(const Shape& shape, std::mt19937& rng, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::f32, shape);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

inline Tensor random_i64(const Shape& shape, std::mt19937& rng, int64_t lo, int64_t hi) {
  Tensor t(DType::i64, shape);
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = dist(rng);
  return t;
}

inline Tensor i64s(std::vector<int64_t> v) { return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v); }
inline Tensor i64_scalar(int64_t v) { return Tensor::from_vector<int64_t>({}, {v}); }
inline Tensor f32s(Shape shape, std::vector<float> v) { return Tensor::from_vector<float>(std::move(shape), v); }

// Row-major multi-index <-> flat offset, for the naive loops tests compare against.
inline std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size(), 0);
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

inline int64_t ravel(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + idx[d];
  return flat;
}

class GraphBuilder {
 public:
  // A run-time input; -1 dims leave the shape unknown until specialisation binds it.
  ValueId input(const std::string& name, DType dtype, const Shape& shape) {
    Value v;
    v.name = name;
    v.dtype = dtype;
    v.shape = shape;
    v.shape_known = true;
    for (int64_t d : shape) v.shape_known = v.shape_known && d >= 0;
    ValueId id = graph.add_value(v);
    graph.inputs.push_back(id);
    return id;
  }

  ValueId constant(const std::string& name, Tensor t) { return graph.add_constant(name, std::move(t)); }

  std::vector<ValueId> node_n(const std::string& op, std::vector<ValueId> inputs, size_t outputs, Attrs attrs = {},
                              std::string name = "") {
    Node n;
    n.op = op;
    n.name = name.empty() ? op + "_" + std::to_string(graph.nodes.size()) : name;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    for (size_t i = 0; i < outputs; ++i) {
      Value v;
      v.name = n.name + ":" + std::to_string(i);
      n.outputs.push_back(graph.add_value(v));
    }
    graph.nodes.push_back(std::move(n));
    return graph.nodes.back().outputs;
  }

  ValueId node(const std::string& op, std::vector<ValueId> inputs, Attrs attrs = {}, std::string name = "") {
    return node_n(op, std::move(inputs), 1, std::move(attrs), std::move(name))[0];
  }

  void output(ValueId id) { graph.outputs.push_back(id); }

  Graph graph;
};

// Runs the graph node by node with each op's reference compute. Every computed value is recorded
// as a constant, so ops that read shape data at infer time (Reshape targets) work on run-time data.
inline std::vector<Tensor> interpret(Graph g, const std::vector<Tensor>& inputs) {
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    Value& v = g.value(g.inputs[i]);
    v.shape = inputs.at(i).shape();
    v.shape_known = true;
    v.constant = inputs[i];
    v.is_constant = true;
  }
  for (const Node& n : g.nodes) {
    const OpDef* def = find_op(n.op);
    if (!def) throw Error(n.describe() + ": unsupported op");
    InferContext ctx{n, g, {}, {}};
    def->infer(ctx);
    TensorIn in;
    for (ValueId id : n.inputs) in.push_back(id == kNoValue ? nullptr : &g.value(id).constant);
    std::vector<Tensor> results;
    for (size_t i = 0; i < n.outputs.size(); ++i) results.emplace_back(ctx.out_dtypes.at(i), ctx.out_shapes.at(i));
    TensorOut out;
    for (Tensor& t : results) out.push_back(&t);
    def->compute(n, in, out);
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      Value& v = g.value(n.outputs[i]);
      v.dtype = results[i].dtype();
      v.shape = results[i].shape();
      v.shape_known = true;
      v.constant = results[i];
      v.is_constant = true;
    }
  }
  std::vector<Tensor> outputs;
  for (ValueId id : g.outputs) outputs.push_back(g.value(id).constant);
  return outputs;
}

// One input of a single-op call: run-time data, a constant (visible to infer), or omitted.
struct Arg {
  enum Kind { Runtime, Constant, Omitted };
  Tensor t;
  Kind kind = Runtime;
};

inline Arg rt(Tensor t) { return {std::move(t), Arg::Runtime}; }
inline Arg cst(Tensor t) { return {std::move(t), Arg::Constant}; }
inline Arg omitted() { return {Tensor(), Arg::Omitted}; }

// A one-node graph with its outputs' shapes inferred through an InferContext.
struct OneNode {
  Graph graph;
  Node node;
  const OpDef* def = nullptr;
};

inline OneNode build_one_node(const std::string& op, const std::vector<Arg>& args, Attrs attrs, size_t num_outputs,
                              const std::string& name) {
  OneNode o;
  o.def = find_op(op);
  if (!o.def) throw std::runtime_error("no op " + op);
  Graph& g = o.graph;
  Node& n = o.node;
  n.op = op;
  n.name = name;
  n.attrs = std::move(attrs);
  for (size_t i = 0; i < args.size(); ++i) {
    const Arg& a = args[i];
    if (a.kind == Arg::Omitted) {
      n.inputs.push_back(kNoValue);
    } else if (a.kind == Arg::Constant) {
      n.inputs.push_back(g.add_constant("in" + std::to_string(i), a.t));
    } else {
      Value v;
      v.name = "in" + std::to_string(i);
      v.dtype = a.t.dtype();
      v.shape = a.t.shape();
      v.shape_known = true;
      n.inputs.push_back(g.add_value(v));
    }
  }
  for (size_t i = 0; i < num_outputs; ++i) {
    Value v;
    v.name = "out" + std::to_string(i);
    n.outputs.push_back(g.add_value(v));
  }
  InferContext ctx{n, g, {}, {}};
  o.def->infer(ctx);
  EXPECT_EQ(ctx.out_shapes.size(), num_outputs) << op;
  for (size_t i = 0; i < num_outputs; ++i) {
    Value& v = g.value(n.outputs[i]);
    v.dtype = ctx.out_dtypes.at(i);
    v.shape = ctx.out_shapes.at(i);
    v.shape_known = true;
  }
  return o;
}

// Runs a single op on `args`: its reference compute, or with `fast` the kernel its OpDef::create
// offers (the test fails if the op declines).
inline std::vector<Tensor> run_op(const std::string& op, const std::vector<Arg>& args, Attrs attrs = {},
                                  size_t num_outputs = 1, const std::string& name = "test_node", bool fast = false) {
  OneNode o = build_one_node(op, args, std::move(attrs), num_outputs, name);
  std::vector<Tensor> results;
  for (ValueId id : o.node.outputs) results.emplace_back(o.graph.value(id).dtype, o.graph.value(id).shape);
  TensorIn in;
  for (const Arg& a : args) in.push_back(a.kind == Arg::Omitted ? nullptr : &a.t);
  TensorOut out;
  for (Tensor& t : results) out.push_back(&t);
  if (fast) {
    std::unique_ptr<Kernel> kernel = o.def->create ? o.def->create(o.node, o.graph, KernelOptions{}) : nullptr;
    if (!kernel) throw std::runtime_error(op + ": no fast kernel for this case");
    const auto workspace = bind_own_workspace(*kernel);
    kernel->run(in, out);
  } else {
    o.def->compute(o.node, in, out);
  }
  return results;
}

inline Tensor run_op1(const std::string& op, const std::vector<Arg>& args, Attrs attrs = {}) {
  return run_op(op, args, std::move(attrs)).at(0);
}

// Same dtype, same shape, same bytes.
inline void expect_identical(const Tensor& got, const Tensor& want, const std::string& what = "") {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what << ": got " << shape_str(got.shape()) << ", want " << shape_str(want.shape());
  if (got.bytes()) {
    EXPECT_EQ(std::memcmp(got.raw(), want.raw(), got.bytes()), 0) << what;
  }
}

// Float tensors equal within rel_tol of the largest |want|, the scale accumulated rounding follows.
inline void expect_close(const Tensor& got, const Tensor& want, double rel_tol, const std::string& what = "") {
  ASSERT_EQ(got.dtype(), DType::f32) << what;
  ASSERT_EQ(want.dtype(), DType::f32) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what << ": got " << shape_str(got.shape()) << ", want " << shape_str(want.shape());
  double scale = 0;
  for (int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::fabs(double{want.data<float>()[i]}));
  const double tol = rel_tol * std::max(scale, 1e-30);
  int64_t worst = -1;
  double worst_err = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double err = std::fabs(double{got.data<float>()[i]} - double{want.data<float>()[i]});
    if (!(err <= tol) && (worst < 0 || !(err <= worst_err))) {
      worst = i;
      worst_err = err;
    }
  }
  if (worst >= 0)
    ADD_FAILURE() << what << ": element " << worst << " got " << got.data<float>()[worst] << ", want "
                  << want.data<float>()[worst] << " (error " << worst_err << " > tolerance " << tol << ")";
}

// Runs f, expecting an effvit::Error whose one-line message contains every fragment.
inline void expect_error(const std::function<void()>& f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "no effvit::Error thrown";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const std::string& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' not in: " << message;
  }
}

// A fixture with a fresh temporary directory per test suite run, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("effvit_" + std::string(info->test_suite_name()) + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  void write_bytes(const std::string& name, std::string_view bytes) const {
    std::ofstream(path(name), std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  void write_bytes(const std::string& name, const std::vector<uint8_t>& bytes) const {
    write_bytes(name, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }

  template <typename Bytes>
  Bytes read_bytes(const std::string& name) const {
    std::ifstream in(path(name), std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  std::filesystem::path dir_;
};

}  // namespace effvit::test
