// Conv kernels on EfficientViT-M0/M5's real layer shapes: the oneDNN kernel against the reference
// loop it replaces, and effvit's pointwise convs (float32, bf16, 8-bit) against oneDNN's of the same type.
// Run: build/bench/effvit_bench_kernels [--benchmark_filter=dnnl]
#include <benchmark/benchmark.h>

#include <type_traits>

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/conv.h"
#include "ops/dnnl/engine.h"
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
    {"m5_s1_ffn_pw", 288, 7, 576, 1, 1, 1},         {"m5_s2_ffn_pw2", 768, 4, 384, 1, 1, 1},
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
  const auto workspace = bind_own_workspace(*kernel);
  const TensorIn in{&f.x, &f.graph.value(f.node.inputs[1]).constant, &f.graph.value(f.node.inputs[2]).constant};
  const TensorOut out{&f.y};
  for (auto _ : state) kernel->run(in, out);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(f.y.numel() * (shape.in_c / shape.groups) * shape.k * shape.k),
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// The layer as oneDNN runs it inside a plan, per precision, with activations already in the
// layout the graph keeps them in and weights packed once: float32 and bf16 in the blocked layout
// (nChw<B>c, B the tier's channel block; bf16 with float32 sums), int8 as u8 x s8 -> u8 in oneDNN's
// preferred layouts with per-channel scales. All with the fused ReLU.
// `cold`: every run reads another copy of the weights, from a pool larger than the last-level
// cache, as a whole network does (M5 streams 50 MB of float32 weights per image, 25 MB in bf16, 12
// MB in int8): on the late stages' small images (16-49 pixels, each weight byte used that often)
// the weights' trip from memory, not the arithmetic, sets the time. Hot against cold is the gap
// between a conv timed alone and the same conv inside the model (docs/performance.md).
enum class ConvType { f32, bf16, int8 };

void BM_conv_dnnl_typed(benchmark::State& state, ConvShape s, ConvType type, bool cold) {
  using dnnl::memory;
  using dt = memory::data_type;
  omp_set_num_threads(1);
  auto& eng = dnnl_engine();
  const int64_t pad = s.k / 2, out_hw = (s.hw + 2 * pad - s.k) / s.stride + 1;
  const memory::dims src{1, s.in_c, s.hw, s.hw}, dst{1, s.out_c, out_hw, out_hw};
  const memory::dims wei = s.groups > 1 ? memory::dims{s.groups, s.out_c / s.groups, s.in_c / s.groups, s.k, s.k}
                                        : memory::dims{s.out_c, s.in_c, s.k, s.k};
  const int64_t block = hardware().info.channel_block;
  auto activation = [&](const memory::dims& d, dt t, int64_t channels) {
    const bool blocked = type != ConvType::int8 && channels >= block && channels % 8 == 0;
    return memory::desc(d, t, blocked ? blocked_tag(block) : memory::format_tag::any);
  };
  const dt a_type = type == ConvType::int8 ? dt::u8 : type == ConvType::bf16 ? dt::bf16 : dt::f32;
  const dt w_type = type == ConvType::int8 ? dt::s8 : a_type;
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                       activation(src, a_type, s.in_c), memory::desc(wei, w_type, memory::format_tag::any),
                                       memory::desc({s.out_c}, dt::f32, memory::format_tag::x), activation(dst, a_type, s.out_c),
                                       {s.stride, s.stride}, {0, 0}, {pad, pad}, {pad, pad});
  dnnl::primitive_attr attr;
  if (type == ConvType::int8)
    attr.set_output_scales(s.groups > 1 ? 3 : 1 << 1, std::vector<float>(static_cast<size_t>(s.out_c), 0.01f));  // per output channel
  dnnl::post_ops ops;
  ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  attr.set_post_ops(ops);
  dnnl::convolution_forward::primitive_desc pd;
  try {
    pd = dnnl::convolution_forward::primitive_desc(desc, attr, eng);
  } catch (const dnnl::error& e) {
    state.SkipWithError("oneDNN offers no kernel of this type for this shape at this tier");
    return;
  }
  dnnl::convolution_forward conv(pd);
  memory m_src(pd.src_desc(), eng), m_dst(pd.dst_desc(), eng), m_bias(pd.bias_desc(), eng);
  std::memset(m_src.get_data_handle(), 0, pd.src_desc().get_size());
  const size_t weight_bytes = pd.weights_desc().get_size();
  constexpr size_t kPoolBytes = size_t{256} << 20;
  const size_t copies = cold ? std::max<size_t>(2, kPoolBytes / weight_bytes) : 1;
  std::vector<memory> weights;
  for (size_t i = 0; i < copies; ++i) {
    weights.emplace_back(pd.weights_desc(), eng);
    std::memset(weights.back().get_data_handle(), 0, weight_bytes);  // zero: a valid value of every type
  }
  dnnl::stream stream(eng);
  size_t next = 0;
  for (auto _ : state) {
    conv.execute(stream, {{DNNL_ARG_SRC, m_src}, {DNNL_ARG_WEIGHTS, weights[next]}, {DNNL_ARG_BIAS, m_bias}, {DNNL_ARG_DST, m_dst}});
    stream.wait();
    next = next + 1 == copies ? 0 : next + 1;
  }
  state.counters["weight KB"] = static_cast<double>(weight_bytes) / 1024;
  state.SetLabel(pd.impl_info_str());
}

// effvit's pointwise convs (ops/pointwise_conv_bf16.cpp, ops/pointwise_conv_f32.cpp) on the same
// 1x1 layers, hot and cold as above, beside conv_dnnl_bf16 / conv_dnnl_f32: where they are faster
// decides which convs they take. T: the activation and packed weight element (bf16 bits or float).
template <typename T>
void BM_pointwise(benchmark::State& state, ConvShape s, bool cold) {
  constexpr bool bf16 = std::is_same_v<T, uint16_t>;
  const KernelTable& k = *hardware().kernels;
  if (bf16 ? !k.pointwise_conv_bf16 : !k.pointwise_conv_f32) {
    state.SkipWithError(bf16 ? "no bf16 pointwise kernel at this tier (avx512_bf16 and up)" : "no float32 pointwise kernel at this tier (avx512 and up)");
    return;
  }
  const PointwiseConvDims d{s.in_c, s.out_c, s.hw * s.hw, true, false};
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  std::vector<float> w(static_cast<size_t>(s.in_c * s.out_c)), bias(static_cast<size_t>(s.out_c));
  for (float& v : w) v = dist(rng);
  for (float& v : bias) v = dist(rng);
  std::vector<T> x(static_cast<size_t>(s.in_c * d.pixels), bf16 ? T(0x3f80) : T(1)), y(static_cast<size_t>(s.out_c * d.pixels));
  const size_t elems = static_cast<size_t>(s.in_c * s.out_c);
  constexpr size_t kPoolBytes = size_t{256} << 20;
  const size_t copies = cold ? std::max<size_t>(2, kPoolBytes / (elems * sizeof(T))) : 1;
  std::vector<T> pool(elems * copies);
  for (size_t i = 0; i < copies; ++i) {
    if constexpr (bf16) pack_pointwise_bf16_weight(d, w.data(), pool.data() + i * elems);
    else pack_pointwise_f32_weight(d, w.data(), pool.data() + i * elems);
  }
  size_t next = 0;
  for (auto _ : state) {
    if constexpr (bf16) k.pointwise_conv_bf16(d, x.data(), pool.data() + next * elems, bias.data(), y.data(), 0, pointwise_bf16_pairs(d));
    else k.pointwise_conv_f32(d, x.data(), pool.data() + next * elems, bias.data(), y.data(), 0, pointwise_bf16_pairs(d));
    benchmark::DoNotOptimize(y.data());
    next = next + 1 == copies ? 0 : next + 1;
  }
  state.counters["weight KB"] = static_cast<double>(elems * sizeof(T)) / 1024;
}

// effvit's 8-bit pointwise conv (ops/pointwise_conv_8bit.cpp) on the same 1x1 layers, hot and
// cold, beside conv_dnnl_int8: uint8 in and out, per-channel scales, ReLU.
void BM_pointwise_8bit(benchmark::State& state, ConvShape s, bool cold) {
  const KernelTable& k = *hardware().kernels;
  if (!k.pointwise_conv_8bit) {
    state.SkipWithError("no 8-bit pointwise kernel at this tier (avx512_bf16 and up)");
    return;
  }
  const Pointwise8bitDims d{s.in_c, s.out_c, s.hw * s.hw, Pointwise8bitOutput::u8, true, 128.f, nullptr, nullptr, {}};
  std::mt19937 rng(1);
  std::vector<int8_t> w(static_cast<size_t>(s.in_c * s.out_c));
  for (int8_t& v : w) v = static_cast<int8_t>(rng());
  std::vector<int32_t> offset(static_cast<size_t>(s.out_c), 100);
  std::vector<float> scale(static_cast<size_t>(s.out_c), 0.01f);
  std::vector<uint8_t> x(static_cast<size_t>(s.in_c * d.pixels), 3), y(static_cast<size_t>(s.out_c * d.pixels));
  const size_t elems = w.size();
  constexpr size_t kPoolBytes = size_t{256} << 20;
  const size_t copies = cold ? std::max<size_t>(2, kPoolBytes / elems) : 1;
  std::vector<int8_t> pool(elems * copies);
  for (size_t i = 0; i < copies; ++i) pack_pointwise_8bit_weight(d, w.data(), pool.data() + i * elems);
  size_t next = 0;
  for (auto _ : state) {
    k.pointwise_conv_8bit(d, x.data(), pool.data() + next * elems, offset.data(), scale.data(), y.data(), 0, pointwise_8bit_pairs(d));
    benchmark::DoNotOptimize(y.data());
    next = next + 1 == copies ? 0 : next + 1;
  }
  state.counters["weight KB"] = static_cast<double>(elems) / 1024;
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
    for (const auto& [type, name] : {std::pair{ConvType::f32, "f32"}, std::pair{ConvType::bf16, "bf16"}, std::pair{ConvType::int8, "int8"}})
      for (const bool cold : {false, true})
        benchmark::RegisterBenchmark((std::string("conv_dnnl_") + name + (cold ? "_cold/" : "/") + s.name).c_str(), BM_conv_dnnl_typed, s,
                                     type, cold)
            ->Unit(benchmark::kMicrosecond);
    if (s.k == 1 && s.stride == 1 && s.groups == 1)
      for (const bool cold : {false, true})
        for (const auto& [name, fn] : {std::pair{"pointwise_bf16", &BM_pointwise<uint16_t>}, std::pair{"pointwise_f32", &BM_pointwise<float>}})
          benchmark::RegisterBenchmark((std::string(name) + (cold ? "_cold/" : "/") + s.name).c_str(), fn, s, cold)->Unit(benchmark::kMicrosecond);
    if (s.k == 1 && s.stride == 1 && s.groups == 1)
      for (const bool cold : {false, true})
        benchmark::RegisterBenchmark((std::string("pointwise_8bit") + (cold ? "_cold/" : "/") + s.name).c_str(), BM_pointwise_8bit, s, cold)
            ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("conv_reference/") + s.name).c_str(), BM_conv_reference, s)->Unit(benchmark::kMicrosecond);
  }
  return true;
}();

}  // namespace
}  // namespace effvit

BENCHMARK_MAIN();
