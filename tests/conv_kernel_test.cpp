// The oneDNN Conv kernel against the reference Conv loop.
#include <gtest/gtest.h>

#include <array>
#include <random>
#include <sstream>
#include <tuple>

#include "ops/dnnl/engine.h"
#include "ops/op.h"
#include "test_util.h"

namespace effvit {
namespace {

using namespace effvit::test;

struct ConvCase {
  int64_t batch, in_c, h, w, out_c, group, kh, kw;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  std::array<int64_t, 4> pads{0, 0, 0, 0};  // top, left, bottom, right
  bool bias = true;
  bool relu = false;
  std::string auto_pad{};  // when set, replaces pads

  std::string str() const {
    std::ostringstream os;
    os << "x[" << batch << "," << in_c << "," << h << "," << w << "] oc=" << out_c << " g=" << group << " k=" << kh
       << "x" << kw << " s=" << stride_h << "," << stride_w << " d=" << dil_h << "," << dil_w << " pads=" << pads[0]
       << "," << pads[1] << "," << pads[2] << "," << pads[3] << (bias ? " bias" : "") << (relu ? " relu" : "") << " "
       << auto_pad;
    return os.str();
  }

  int64_t out_dim(int64_t in, int64_t k, int64_t s, int64_t d, int64_t lo, int64_t hi) const {
    return (in + lo + hi - ((k - 1) * d + 1)) / s + 1;
  }
  int64_t macs() const {
    return batch * out_c * out_dim(h, kh, stride_h, dil_h, pads[0], pads[2]) *
           out_dim(w, kw, stride_w, dil_w, pads[1], pads[3]) * (in_c / group) * kh * kw;
  }
};

// A one-Conv graph: x is a run-time input, the weight (and bias) constants unless const_weight is
// false, in which case the kernel must take the weight from its run-time input.
struct ConvGraph {
  Graph graph;
  Node& node() { return graph.nodes[0]; }
};

ConvGraph build_conv(const ConvCase& c, const Tensor& weight, const Tensor& bias, bool const_weight) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {c.batch, c.in_c, c.h, c.w});
  const ValueId w = const_weight ? b.constant("w", weight) : b.input("w", DType::f32, weight.shape());
  std::vector<ValueId> inputs{x, w};
  if (c.bias) inputs.push_back(b.constant("b", bias));
  Attrs attrs{{"group", int_attr(c.group)},
              {"kernel_shape", ints_attr({c.kh, c.kw})},
              {"strides", ints_attr({c.stride_h, c.stride_w})},
              {"dilations", ints_attr({c.dil_h, c.dil_w})}};
  if (c.auto_pad.empty()) attrs["pads"] = ints_attr({c.pads[0], c.pads[1], c.pads[2], c.pads[3]});
  else attrs["auto_pad"] = string_attr(c.auto_pad);
  if (c.relu) attrs["effvit.activation"] = string_attr("Relu");
  const ValueId y = b.node("Conv", inputs, attrs, "conv");
  b.output(y);
  ConvGraph g{std::move(b.graph)};
  // The kernel is created for a fully shaped node, as the planner does after specialisation.
  InferContext ctx{g.node(), g.graph, {}, {}};
  find_op("Conv")->infer(ctx);
  Value& out = g.graph.value(y);
  out.shape = ctx.out_shapes.at(0);
  out.shape_known = true;
  return g;
}

void check_case(const ConvCase& c, uint32_t seed, bool const_weight = true) {
  SCOPED_TRACE(c.str());
  std::mt19937 rng(seed);
  const Tensor x = random_f32({c.batch, c.in_c, c.h, c.w}, rng);
  const Tensor w = random_f32({c.out_c, c.in_c / c.group, c.kh, c.kw}, rng);
  const Tensor bias = random_f32({c.out_c}, rng);
  ConvGraph g = build_conv(c, w, bias, const_weight);
  const OpDef* conv = find_op("Conv");
  std::unique_ptr<Kernel> kernel = conv->create(g.node(), g.graph, KernelOptions{});
  ASSERT_NE(kernel, nullptr) << "oneDNN declined a supported geometry";
  const auto workspace = bind_own_workspace(*kernel);

  const Shape out_shape = g.graph.value(g.node().outputs[0]).shape;
  Tensor want(DType::f32, out_shape), got(DType::f32, out_shape);
  TensorIn in{&x, &w};
  if (c.bias) in.push_back(&bias);
  conv->compute(g.node(), in, {&want});
  kernel->run(in, {&got});
  expect_close(got, want, 1e-5);
  if (c.relu) {
    bool clipped = false;
    for (int64_t i = 0; i < got.numel(); ++i) clipped = clipped || got.data<float>()[i] == 0.f;
    EXPECT_TRUE(clipped) << "random data should produce some negative pre-activations";
  }
}

TEST(ConvKernel, AwkwardChannelCounts) {
  uint32_t seed = 1;
  for (int64_t c : {3, 13, 127})
    for (int64_t oc : {3, 13, 127}) {
      ConvCase cc{1, c, 9, 7, oc, 1, 3, 3};
      cc.pads = {1, 1, 1, 1};
      check_case(cc, seed++);
    }
}

TEST(ConvKernel, Groups) {
  uint32_t seed = 100;
  for (int64_t group : {1, 2}) {
    ConvCase c{1, 26, 10, 11, 14, group, 3, 3};
    c.pads = {1, 1, 1, 1};
    check_case(c, seed++);
  }
  ConvCase grouped{2, 12, 8, 8, 12, 4, 3, 3};
  check_case(grouped, seed++);
  for (int64_t c : {3, 13, 127}) {
    ConvCase dw{1, c, 12, 10, c, c, 3, 3};
    dw.pads = {1, 1, 1, 1};
    check_case(dw, seed++);
  }
  // Depthwise with a channel multiplier: each input channel feeds two outputs.
  ConvCase multiplier{1, 13, 9, 9, 26, 13, 5, 5};
  multiplier.pads = {2, 2, 2, 2};
  check_case(multiplier, seed++);
}

TEST(ConvKernel, StridesPadsAndDilation) {
  uint32_t seed = 200;
  for (int64_t k : {1, 3, 5, 7})
    for (int64_t s : {1, 2}) {
      ConvCase c{1, 13, 17, 15, 16, 1, k, k};
      c.stride_h = c.stride_w = s;
      c.pads = {k / 2, k / 2, k / 2, k / 2};
      check_case(c, seed++);
    }
  ConvCase asym{1, 8, 11, 12, 8, 1, 3, 3};
  asym.pads = {0, 2, 1, 0};
  check_case(asym, seed++);
  ConvCase asym_dw{1, 16, 14, 14, 16, 16, 3, 3};
  asym_dw.stride_h = asym_dw.stride_w = 2;
  asym_dw.pads = {0, 0, 1, 1};  // TF-style SAME for an even input and stride 2
  check_case(asym_dw, seed++);
  ConvCase dilated{1, 5, 13, 13, 7, 1, 3, 3};
  dilated.dil_h = dilated.dil_w = 2;
  dilated.pads = {2, 2, 2, 2};
  check_case(dilated, seed++);
  ConvCase mixed{1, 6, 15, 12, 9, 3, 5, 3};
  mixed.stride_h = 2;
  mixed.dil_w = 2;
  mixed.pads = {2, 0, 1, 3};
  check_case(mixed, seed++);
}

// The reference result for c on seeded random data, to compare padding spelled two ways.
Tensor reference_conv(const ConvCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const Tensor x = random_f32({c.batch, c.in_c, c.h, c.w}, rng);
  const Tensor w = random_f32({c.out_c, c.in_c / c.group, c.kh, c.kw}, rng);
  const Tensor bias = random_f32({c.out_c}, rng);
  ConvGraph g = build_conv(c, w, bias, true);
  Tensor y(DType::f32, g.graph.value(g.node().outputs[0]).shape);
  find_op("Conv")->compute(g.node(), {&x, &w, &bias}, {&y});
  return y;
}

TEST(ConvKernel, AutoPad) {
  // An even kernel at stride 1 and an odd one at stride 2 both need an odd total padding, which
  // SAME_UPPER puts mostly at the end and SAME_LOWER mostly at the start.
  ConvCase even{1, 5, 9, 8, 6, 1, 4, 4};
  ConvCase strided{1, 6, 10, 11, 6, 6, 3, 3};
  strided.stride_h = strided.stride_w = 2;
  const std::vector<std::tuple<ConvCase, std::string, std::array<int64_t, 4>>> cases = {
      {even, "SAME_UPPER", {1, 1, 2, 2}},    {even, "SAME_LOWER", {2, 2, 1, 1}},
      {even, "VALID", {0, 0, 0, 0}},         {strided, "SAME_UPPER", {0, 1, 1, 1}},
      {strided, "SAME_LOWER", {1, 1, 0, 1}}, {strided, "VALID", {0, 0, 0, 0}}};
  uint32_t seed = 250;
  for (const auto& [base, mode, pads] : cases) {
    ConvCase automatic = base, explicit_pads = base;
    automatic.auto_pad = mode;
    explicit_pads.pads = pads;
    check_case(automatic, seed);
    SCOPED_TRACE(automatic.str());
    expect_identical(reference_conv(automatic, seed), reference_conv(explicit_pads, seed));
    ++seed;
  }
}

TEST(ConvKernel, BiasReluAndBatch) {
  uint32_t seed = 300;
  for (bool bias : {false, true})
    for (bool relu : {false, true})
      for (int64_t batch : {1, 3}) {
        ConvCase c{batch, 13, 10, 9, 13, 1, 3, 3};
        c.pads = {1, 1, 1, 1};
        c.bias = bias;
        c.relu = relu;
        check_case(c, seed++);
        ConvCase dw{batch, 13, 10, 9, 13, 13, 3, 3};
        dw.bias = bias;
        dw.relu = relu;
        dw.stride_h = dw.stride_w = 2;
        dw.pads = {1, 1, 1, 1};
        check_case(dw, seed++);
      }
}

TEST(ConvKernel, RandomGeometries) {
  std::mt19937 rng(4242);
  auto pick = [&](std::initializer_list<int64_t> options) {
    return *(options.begin() + std::uniform_int_distribution<size_t>(0, options.size() - 1)(rng));
  };
  auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int checked = 0;
  while (checked < 60) {
    ConvCase c{};
    c.batch = pick({1, 1, 3});
    c.in_c = pick({1, 2, 3, 4, 8, 13, 16, 24, 31, 127});
    const int64_t kind = uniform(0, 2);  // dense, two groups, depthwise
    if (kind == 1 && c.in_c % 2 == 0) {
      c.group = 2;
      c.out_c = 2 * pick({1, 3, 5, 8});
    } else if (kind == 2) {
      c.group = c.in_c;
      c.out_c = c.in_c * pick({1, 1, 2});
    } else {
      c.group = 1;
      c.out_c = pick({1, 3, 8, 13, 16, 32});
    }
    c.kh = pick({1, 3, 5, 7});
    c.kw = uniform(0, 3) == 0 ? pick({1, 3, 5, 7}) : c.kh;
    c.stride_h = pick({1, 2});
    c.stride_w = uniform(0, 3) == 0 ? pick({1, 2}) : c.stride_h;
    c.dil_h = pick({1, 1, 2});
    c.dil_w = pick({1, 1, 2});
    for (int i = 0; i < 4; ++i) c.pads[i] = uniform(0, (i % 2 ? c.kw : c.kh) - 1);
    c.h = uniform(1, 20);
    c.w = uniform(1, 20);
    c.bias = uniform(0, 1);
    c.relu = uniform(0, 1);
    if (c.out_dim(c.h, c.kh, c.stride_h, c.dil_h, c.pads[0], c.pads[2]) <= 0 ||
        c.out_dim(c.w, c.kw, c.stride_w, c.dil_w, c.pads[1], c.pads[3]) <= 0 || c.macs() > 2'000'000)
      continue;
    // Tiny convolutions may have no negative pre-activation, which the relu check relies on.
    if (c.relu && c.out_c * c.batch < 8) c.relu = false;
    check_case(c, 5000 + static_cast<uint32_t>(checked));
    ++checked;
  }
}

TEST(ConvKernel, RunTimeWeightIsReadOnEveryRun) {
  for (int64_t group : {1, 4, 8}) {
    ConvCase c{2, 8, 9, 9, group == 8 ? 16 : 12, group, 3, 3};
    c.pads = {1, 1, 1, 1};
    c.relu = true;
    SCOPED_TRACE(c.str());
    check_case(c, 700 + static_cast<uint32_t>(group), /*const_weight=*/false);

    std::mt19937 rng(800);
    const Tensor x = random_f32({c.batch, c.in_c, c.h, c.w}, rng);
    const Tensor bias = random_f32({c.out_c}, rng);
    const Tensor w1 = random_f32({c.out_c, c.in_c / group, c.kh, c.kw}, rng);
    const Tensor w2 = random_f32({c.out_c, c.in_c / group, c.kh, c.kw}, rng);
    ConvGraph g = build_conv(c, w1, bias, /*const_weight=*/false);
    const OpDef* conv = find_op("Conv");
    auto kernel = conv->create(g.node(), g.graph, KernelOptions{});
    ASSERT_NE(kernel, nullptr);
    const auto workspace = bind_own_workspace(*kernel);
    const Shape out_shape = g.graph.value(g.node().outputs[0]).shape;
    for (const Tensor* w : {&w1, &w2, &w1}) {
      Tensor want(DType::f32, out_shape), got(DType::f32, out_shape);
      conv->compute(g.node(), {&x, w, &bias}, {&want});
      kernel->run({&x, w, &bias}, {&got});
      expect_close(got, want, 1e-5);
    }
  }
}

TEST(ConvKernel, KernelIsReusableAcrossInputs) {
  ConvCase c{3, 16, 12, 12, 16, 16, 3, 3};
  c.pads = {1, 1, 1, 1};
  std::mt19937 rng(900);
  const Tensor w = random_f32({c.out_c, 1, c.kh, c.kw}, rng);
  const Tensor bias = random_f32({c.out_c}, rng);
  ConvGraph g = build_conv(c, w, bias, true);
  const OpDef* conv = find_op("Conv");
  auto kernel = conv->create(g.node(), g.graph, KernelOptions{});
  ASSERT_NE(kernel, nullptr);
  const auto workspace = bind_own_workspace(*kernel);
  const Shape out_shape = g.graph.value(g.node().outputs[0]).shape;
  for (int run = 0; run < 3; ++run) {
    const Tensor x = random_f32({c.batch, c.in_c, c.h, c.w}, rng);
    Tensor want(DType::f32, out_shape), got(DType::f32, out_shape);
    conv->compute(g.node(), {&x, &w, &bias}, {&want});
    kernel->run({&x, &w, &bias}, {&got});
    expect_close(got, want, 1e-5);
  }
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

// Only "oneDNN has no kernel for this" falls back to the reference loop; running out of memory or
// a oneDNN failure must surface, not turn into a silent 1000x slowdown.
TEST(DnnlErrors, OnlyUnimplementedFallsBack) {
  Node n;
  n.op = "Conv";
  n.name = "c";
  EXPECT_EQ(decline_or_rethrow(n, dnnl::error(dnnl_unimplemented, "no kernel")), nullptr);
  EXPECT_EQ(decline_or_rethrow(n, dnnl::error(dnnl_invalid_arguments, "bad shape")), nullptr);
  EXPECT_THROW(decline_or_rethrow(n, dnnl::error(dnnl_out_of_memory, "oom")), std::bad_alloc);
  try {
    decline_or_rethrow(n, dnnl::error(dnnl_runtime_error, "boom"));
    ADD_FAILURE() << "a oneDNN runtime error was swallowed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Conv node 'c'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace effvit
