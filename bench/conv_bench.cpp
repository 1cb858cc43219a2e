// Conv kernels on EfficientViT-M0/M5's real layer shapes: the oneDNN kernel against the reference
// loop it replaces. Run: build/bench/effvit_bench_kernels [--benchmark_filter=dnnl]
#include <benchmark/benchmark.h>

#include <omp.h>

#include <random>

#include "ops/conv.h"
#include "ops/op.h"

namespace effvit {
namespace {

struct ConvShape {
  const char* name;
  int64_t in_c, hw, out_c, k, stride, groups;
};

// One entry per distinct conv shape class in the models (pointwise FFN, depthwise, patch embed,
// per-head qkv and q depthwise, patch-merging).
const ConvShape kShapes[] = {
    {"m0_embed1_3x3s2", 3, 224, 8, 3, 2, 1},        {"m0_embed4_3x3s2", 32, 28, 64, 3, 2, 1},
    {"m0_s0_ffn_pw", 64, 14, 128, 1, 1, 1},         {"m0_s0_dw3x3", 64, 14, 64, 3, 1, 64},
    {"m0_s0_qkv_head", 16, 7, 96, 1, 1, 1},         {"m0_s0_q_dw5x5", 16, 7, 16, 5, 1, 16},
    {"m0_merge_dw3x3s2", 256, 14, 256, 3, 2, 256},  {"m5_s0_ffn_pw", 192, 14, 384, 1, 1, 1},
    {"m5_s2_ffn_pw", 384, 4, 768, 1, 1, 1},         {"m5_merge_pw", 288, 7, 1152, 1, 1, 1},
};

struct ConvFixture {
  Graph graph;
  Node node;
  Tensor x, y;
};

ConvFixture make_conv(const ConvShape& s) {
  ConvFixture f;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  auto random = [&](Shape shape) {
    Tensor t(DType::f32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
    return t;
  };
  const int64_t pad = s.k / 2, out_hw = (s.hw + 2 * pad - s.k) / s.stride + 1;
  f.x = random({1, s.in_c, s.hw, s.hw});
  f.y = Tensor(DType::f32, {1, s.out_c, out_hw, out_hw});
  Value in;
  in.name = "x";
  in.shape = f.x.shape();
  in.shape_known = true;
  const ValueId x = f.graph.add_value(in);
  const ValueId w = f.graph.add_constant("w", random({s.out_c, s.in_c / s.groups, s.k, s.k}));
  const ValueId b = f.graph.add_constant("b", random({s.out_c}));
  Value out;
  out.name = "y";
  out.shape = f.y.shape();
  out.shape_known = true;
  const ValueId y = f.graph.add_value(out);
  f.node.op = "Conv";
  f.node.name = s.name;
  f.node.inputs = {x, w, b};
  f.node.outputs = {y};
  Attribute ints;
  ints.kind = Attribute::Kind::Ints;
  ints.ints = {s.stride, s.stride};
  f.node.attrs["strides"] = ints;
  ints.ints = {pad, pad, pad, pad};
  f.node.attrs["pads"] = ints;
  f.node.set_int("group", s.groups);
  f.node.set_string("effvit.activation", "Relu");
  return f;
}

void BM_conv_dnnl(benchmark::State& state, ConvShape shape) {
  omp_set_num_threads(1);  // one core, as the latency target is quoted
  ConvFixture f = make_conv(shape);
  auto kernel = create_conv_dnnl(f.node, f.graph, KernelOptions{});
  const TensorIn in{&f.x, &f.graph.value(f.node.inputs[1]).constant, &f.graph.value(f.node.inputs[2]).constant};
  const TensorOut out{&f.y};
  for (auto _ : state) kernel->run(in, out);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(f.y.numel() * (shape.in_c / shape.groups) * shape.k * shape.k),
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_conv_reference(benchmark::State& state, ConvShape shape) {
  omp_set_num_threads(1);  // one core, as the latency target is quoted
  ConvFixture f = make_conv(shape);
  const OpDef* def = find_op("Conv");
  const TensorIn in{&f.x, &f.graph.value(f.node.inputs[1]).constant, &f.graph.value(f.node.inputs[2]).constant};
  const TensorOut out{&f.y};
  for (auto _ : state) def->compute(f.node, in, out);
}

const bool registered = [] {
  for (const ConvShape& s : kShapes) {
    benchmark::RegisterBenchmark((std::string("conv_dnnl/") + s.name).c_str(), BM_conv_dnnl, s)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("conv_reference/") + s.name).c_str(), BM_conv_reference, s)->Unit(benchmark::kMicrosecond);
  }
  return true;
}();

}  // namespace
}  // namespace effvit

BENCHMARK_MAIN();
