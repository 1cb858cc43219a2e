// Plan's memory planning: values share one arena by lifetime, and sharing never corrupts a value
// someone still needs.
#include <gtest/gtest.h>

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>

#include "cpu/hardware.h"
#include "effvit/error.h"
#include "kernels/bf16_scalar.h"
#include "ops/bf16_low_halves.h"
#include "passes/passes.h"
#include "runtime/plan.h"
#include "test_util.h"

namespace effvit {
namespace {

using namespace effvit::test;

size_t value_bytes(const Graph& g, ValueId id) {
  const Value& v = g.value(id);
  return static_cast<size_t>(shape_numel(v.shape)) * dtype_size(v.dtype);
}

void expect_plan_matches_reference(const Graph& g, const std::vector<Tensor>& inputs) {
  Plan plan(g, KernelOptions{});
  const auto want = interpret(g, inputs);
  const auto got = plan.run(inputs);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) expect_identical(got[i], want[i], "output " + std::to_string(i));
}

TEST(Plan, LongChainReusesMemory) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {4, 64});
  ValueId v = x;
  for (int i = 0; i < 16; ++i) {
    switch (i % 4) {
      case 0: v = b.node("Relu", {v}); break;
      case 1: v = b.node("Sigmoid", {v}); break;
      case 2: v = b.node("Add", {v, x}); break;
      case 3: v = b.node("Mul", {v, b.constant("c" + std::to_string(i), f32s({64}, std::vector<float>(64, 1.5f)))}); break;
    }
  }
  b.output(v);
  const Graph g = specialize(b.graph, {{4, 64}});
  size_t intermediates = 0;
  for (const Node& n : g.nodes) intermediates += value_bytes(g, n.outputs[0]);
  Plan plan(g, KernelOptions{});
  // Each step needs only its input and its output alive.
  EXPECT_LT(plan.arena_bytes(), intermediates);
  EXPECT_LE(plan.arena_bytes(), 2 * value_bytes(g, v));
  std::mt19937 rng(1);
  expect_plan_matches_reference(g, {random_f32({4, 64}, rng)});
}

TEST(Plan, DiamondKeepsSharedValuesAlive) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {4, 16});
  const ValueId a = b.node("Sigmoid", {x});
  const ValueId left = b.node("Relu", {b.node("Sub", {a, b.constant("half", f32s({}, {0.5f}))})});
  const ValueId mean = b.node("ReduceMean", {a}, {{"axes", ints_attr({1})}});
  const ValueId right = b.node("Mul", {b.node("Sigmoid", {b.node("Mul", {a, mean})}), a});
  const ValueId joined = b.node("Concat", {left, right, a}, {{"axis", int_attr(0)}});
  b.output(b.node("Transpose", {b.node("Add", {joined, b.node("Relu", {joined})})}));
  const Graph g = specialize(b.graph, {{4, 16}});
  std::mt19937 rng(2);
  expect_plan_matches_reference(g, {random_f32({4, 16}, rng, -3.f, 3.f)});
}

TEST(Plan, OutputReadByLaterNodesIsNotOverwritten) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {8, 32});
  const ValueId early = b.node("Sigmoid", {x});
  b.output(early);
  ValueId v = early;
  for (int i = 0; i < 10; ++i) v = b.node(i % 2 ? "Relu" : "Sigmoid", {b.node("Add", {v, x})});
  b.output(v);
  b.output(x);  // a graph input passed straight through
  const Graph g = specialize(b.graph, {{8, 32}});
  std::mt19937 rng(3);
  const Tensor input = random_f32({8, 32}, rng, -2.f, 2.f);
  expect_plan_matches_reference(g, {input});
  Plan plan(g, KernelOptions{});
  const auto out = plan.run({input});
  expect_identical(out[2], input);
}

TEST(Plan, RepeatedRunsReturnIndependentResults) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {3, 5});
  b.output(b.node("Relu", {b.node("Sigmoid", {x})}));
  const Graph g = specialize(b.graph, {{3, 5}});
  Plan plan(g, KernelOptions{});
  std::mt19937 rng(4);
  const Tensor x1 = random_f32({3, 5}, rng), x2 = random_f32({3, 5}, rng);
  const Tensor first = plan.run({x1})[0];
  const Tensor kept = first.clone();
  const Tensor second = plan.run({x2})[0];
  expect_identical(first, kept, "an earlier result must not alias the arena");
  expect_identical(second, interpret(g, {x2})[0]);
}

// Random DAGs over [3, k] values: elementwise ops (with broadcasting), reductions, concatenation and
// splits give values of many sizes and lifetimes, some read long after they are made, some never.
Graph random_dag(std::mt19937& rng) {
  GraphBuilder b;
  std::vector<std::pair<ValueId, int64_t>> pool{{b.input("x", DType::f32, {3, 8}), 8}};
  auto any = [&]() { return pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)]; };
  // Something shaped [3, k] or [3, 1] to combine with a [3, k] value.
  auto partner = [&](int64_t k) {
    std::vector<std::pair<ValueId, int64_t>> fits;
    for (const auto& p : pool)
      if (p.second == k || p.second == 1) fits.push_back(p);
    return fits[std::uniform_int_distribution<size_t>(0, fits.size() - 1)(rng)];
  };
  const int nodes = std::uniform_int_distribution<int>(10, 30)(rng);
  for (int i = 0; i < nodes; ++i) {
    const auto [v, k] = any();
    switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
      case 0: pool.push_back({b.node(i % 2 ? "Relu" : "Sigmoid", {v}), k}); break;
      case 1: {
        const auto [u, ku] = partner(k);
        const char* op = std::array{"Add", "Mul", "Sub"}[static_cast<size_t>(i % 3)];
        pool.push_back({b.node(op, {v, u}), std::max(k, ku)});
        break;
      }
      case 2: pool.push_back({b.node("ReduceMean", {v}, {{"axes", ints_attr({1})}}), 1}); break;
      case 3: {
        const auto [u, ku] = any();
        if (k + ku <= 64) pool.push_back({b.node("Concat", {v, u}, {{"axis", int_attr(1)}}), k + ku});
        break;
      }
      case 4:
        if (k % 2 == 0) {
          const auto parts = b.node_n("Split", {v}, 2, {{"axis", int_attr(1)}});
          // The second half is sometimes never read: its bytes are free as soon as Split returns.
          pool.push_back({parts[0], k / 2});
          if (i % 3) pool.push_back({parts[1], k / 2});
        }
        break;
      case 5: pool.push_back({b.node("Transpose", {b.node("Transpose", {v})}), k}); break;
    }
  }
  b.output(pool.back().first);
  for (int i = 0; i < 3; ++i) b.output(any().first);
  return specialize(b.graph, {{3, 8}});
}

TEST(Plan, RandomGraphsMatchTheReference) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 40; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    const Graph g = random_dag(rng);
    expect_plan_matches_reference(g, {random_f32({3, 8}, rng, -2.f, 2.f)});
  }
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

TEST(ReferenceImplementations, AreRecognised) {
  EXPECT_TRUE(is_reference_implementation("reference"));
  EXPECT_TRUE(is_reference_implementation("conv ref:any"));
  EXPECT_TRUE(is_reference_implementation("conv jit:avx2, reorder simple:any"));
  EXPECT_TRUE(is_reference_implementation("matmul ref_int8:any"));
  EXPECT_FALSE(is_reference_implementation("conv jit_1x1:avx512_core, reorder jit:uni"));
  EXPECT_FALSE(is_reference_implementation("matmul brg:avx512_core"));
  EXPECT_FALSE(is_reference_implementation("effvit"));
}

// The policy the planner applies to every kernel it creates, on kernels that claim each kind of
// implementation (which ones oneDNN picks depends on the machine; isa_tiers.sh checks real models
// at every tier).
class FakeKernel final : public Kernel {
 public:
  explicit FakeKernel(std::string impl) : impl_(std::move(impl)) {}
  void run(const TensorIn&, const TensorOut&) override {}
  std::string implementation() const override { return impl_; }

 private:
  std::string impl_;
};

TEST(ReferenceImplementations, StrictPlanRejectsThemOnHotOpsOnly) {
  Node conv;
  conv.op = "Conv";
  conv.name = "stem_conv";
  try {
    check_hot_path_kernel(conv, FakeKernel("conv jit:avx2, reorder simple:any"), /*strict=*/true);
    ADD_FAILURE() << "a simple:any reorder inside a conv passed --strict";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Conv node 'stem_conv'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("simple:any"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(check_hot_path_kernel(conv, FakeKernel("conv jit:avx2, reorder jit:uni"), true));
  EXPECT_NO_THROW(check_hot_path_kernel(conv, FakeKernel("conv ref:any"), /*strict=*/false));  // warns
  Node reorder = conv;
  reorder.op = "effvit.ToPlain";
  EXPECT_THROW(check_hot_path_kernel(reorder, FakeKernel("reorder simple:any"), true), Error);
  Node matmul = conv;
  matmul.op = "MatMul";
  EXPECT_THROW(check_hot_path_kernel(matmul, FakeKernel("reference"), true), Error);
  // Cheap ops run their reference loops by design.
  Node slice = conv;
  slice.op = "Slice";
  EXPECT_NO_THROW(check_hot_path_kernel(slice, FakeKernel("reference"), true));
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// Reshape/Flatten/Squeeze/Unsqueeze of a computed value share its storage; the root stays alive as
// long as any view of it is read, and views of graph inputs are still copies.
TEST(Plan, ViewsShareStorageAndKeepTheirRootAlive) {
  std::mt19937 rng(81);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {2, 3, 4});
  const ValueId x_flat = b.node("Flatten", {x});  // of a graph input: copied
  const ValueId a = b.node("Relu", {x});
  const ValueId r = b.node("Reshape", {a, b.constant("shape", i64s({6, 4}))});
  const ValueId u = b.node("Unsqueeze", {r, b.constant("axes", i64s({0}))});
  // Many values made while the views are live: a planner that freed the root early would place
  // them over it.
  ValueId v = b.node("Sigmoid", {x});
  for (int i = 0; i < 6; ++i) v = b.node("Add", {b.node("Sigmoid", {v}), x});
  const ValueId back = b.node("Reshape", {u, b.constant("shape2", i64s({2, 3, 4}))});
  b.output(b.node("Add", {back, v}));
  b.output(x_flat);
  b.output(u);
  const Graph g = specialize(b.graph, {{2, 3, 4}});
  expect_plan_matches_reference(g, {random_f32({2, 3, 4}, rng, -2.f, 2.f)});
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// --threads 2 splits effvit's own loops (flat Add/Relu, strided Transpose rows, broadcast binary
// rows, softmax rows): the split must not change a single result.
TEST(Plan, TwoThreadsGiveTheSameResults) {
  std::mt19937 rng(82);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {2, 64, 32, 32});
  const ValueId sum = b.node("Add", {b.node("Relu", {x}), x});
  const ValueId moved = b.node("Transpose", {sum}, {{"perm", ints_attr({0, 2, 3, 1})}});
  const ValueId scaled = b.node("Mul", {moved, b.constant("per_channel", random_f32({64}, rng))});
  const ValueId rows = b.node("Reshape", {scaled, b.constant("shape", i64s({4096, 32}))});
  b.output(b.node("Softmax", {rows}, {{"axis", int_attr(-1)}}));
  b.output(scaled);
  const Graph g = specialize(b.graph, {{2, 64, 32, 32}});
  const std::vector<Tensor> inputs{random_f32({2, 64, 32, 32}, rng, -3.f, 3.f)};
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  Plan one(g, KernelOptions{});
  const auto want = one.run(inputs);
  omp_set_num_threads(2);  // as Session::run does for --threads 2
  KernelOptions two;
  two.threads = 2;
  Plan plan(g, two);
  const auto got = plan.run(inputs);
  omp_set_num_threads(saved);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) expect_identical(got[i], want[i], "output " + std::to_string(i));
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// One constant read as MatMul(x, W) and as MatMul(x, W^T) (a folded Transpose): the shared
// weight cache must pack it twice, not hand the first packing to the second reader.
TEST(Plan, SharedWeightCacheTellsHowAWeightIsRead) {
  std::mt19937 rng(84);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {5, 8});
  const ValueId w = b.constant("w", random_f32({8, 8}, rng));
  b.output(b.node("MatMul", {x, w}));
  // (A Transpose of a constant would be folded away; this is what folding one into a MatMul gives.)
  b.output(b.node("MatMul", {x, w}, {{"effvit.trans_b", int_attr(1)}}));
  const Graph g = specialize(b.graph, {{5, 8}});
  const std::vector<Tensor> inputs{random_f32({5, 8}, rng)};
  const auto want = interpret(g, inputs);
  WeightCache cache;
  KernelOptions shared;
  shared.weights = &cache;
  Plan plan(g, shared);
  const auto got = plan.run(inputs);
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i], 1e-5, "output " + std::to_string(i));
}


// A Conv weight the Model holds only packed (weight_id, plain bytes released): later plans find the
// packed copy, other readers get the exact bytes back, and the plan itself keeps no plain copy.
TEST(Plan, WeightsHeldOnlyPackedComeBackExactly) {
  std::mt19937 rng(85);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {1, 16, 8, 8});
  const ValueId w = b.constant("w", random_f32({32, 16, 3, 3}, rng));
  b.output(b.node("Conv", {x, w}, {{"pads", ints_attr({1, 1, 1, 1})}}));
  Graph g = specialize(b.graph, {{1, 16, 8, 8}});
  g.value(w).weight_id = 7;
  const Tensor original = g.value(w).constant.clone();
  const std::vector<Tensor> inputs{random_f32({1, 16, 8, 8}, rng)};
  WeightCache cache;
  KernelOptions shared;
  shared.weights = &cache;
  Plan first(g, shared);
  const auto want = first.run(inputs);
  EXPECT_FALSE(first.graph().value(w).constant.defined()) << "the plan kept a weight its kernel packed";
  ASSERT_TRUE(cache.recoverable(7));

  Graph light = g;
  light.value(w).constant = Tensor();
  Plan second(light, shared);
  expect_identical(second.run(inputs)[0], want[0], "a plan over the released weight");
  expect_identical(cache.recover(light.value(w)), original, "the recovered weight");

  // A reader other than the Conv gets the bytes back before its kernel is made.
  GraphBuilder b2;
  const ValueId x2 = b2.input("x", DType::f32, {32, 16, 3, 3});
  const ValueId w2 = b2.constant("w", original);
  b2.output(b2.node("Add", {x2, w2}));
  Graph add = specialize(b2.graph, {{32, 16, 3, 3}});
  add.value(w2).weight_id = 7;
  add.value(w2).constant = Tensor();
  Plan third(add, shared);
  const std::vector<Tensor> zeros{Tensor(DType::f32, {32, 16, 3, 3})};
  expect_identical(third.run(zeros)[0], original, "the released weight read by an Add");
}

// A bf16 packing with the low halves its rounding dropped gives every float32 back bit for bit: the
// carry told by the low half, and exact ties (low half 0x8000) rounding up from an odd upper half
// or staying on an even one, either sign, up to rounding past the largest bf16 into infinity.
TEST(Bf16LowHalves, RestoreEveryFloatBitForBit) {
  std::mt19937 rng(87);
  std::vector<uint32_t> bits(4096);
  for (uint32_t& u : bits) {
    u = static_cast<uint32_t>(rng());
    if ((u & 0x7f800000u) == 0x7f800000u) u &= ~0x00800000u;  // no NaN: its rounding is no carry
  }
  const uint32_t cases[] = {0x3f808000u, 0x3f818000u, 0xbf808000u, 0xbf818000u, 0x3f80ffffu, 0x3f807fffu, 0x7f7fffffu,
                            0xff7fffffu, 0x7f7f8000u, 0x00008000u, 0x80000001u, 0x00000000u, 0x80000000u, 0x7f800000u};
  std::copy(std::begin(cases), std::end(cases), bits.begin());
  std::vector<float> source(bits.size()), back(bits.size());
  std::memcpy(source.data(), bits.data(), bits.size() * sizeof(float));
  std::vector<uint16_t> rounded(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) rounded[i] = f32_to_bf16(source[i]);
  EXPECT_EQ(rounded[6], 0x7f80) << "FLT_MAX rounds to infinity";
  EXPECT_EQ(rounded[0], 0x3f80) << "a tie on an even upper half stays";
  EXPECT_EQ(rounded[1], 0x3f82) << "a tie on an odd upper half rounds up";
  const Bf16LowHalves low(source.data(), source.size());
  low.restore(rounded.data(), back.data());
  EXPECT_EQ(std::memcmp(back.data(), source.data(), source.size() * sizeof(float)), 0);
  for (size_t i = 0; i < bits.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &back[i], sizeof u);
    ASSERT_EQ(u, bits[i]) << "element " << i;
  }
}

// A bf16 plan's packings hold the float32 weights alone: released after the plan is made, and a
// float32 plan made afterwards from the rebuilt weights gives what it gives on the originals.
TEST(Plan, Bf16PackingsHoldTheFloatWeightsExactly) {
  if (hardware().info.tier < IsaTier::avx512) GTEST_SKIP() << "no bf16 convs below AVX-512 (the tier running, caps included)";
  std::mt19937 rng(88);
  GraphBuilder b;
  // The 1x1 conv between two others reads and writes bf16 blocked: effvit's pointwise kernel where
  // the tier has it, oneDNN's elsewhere; the 3x3 ones are oneDNN's.
  const ValueId x = b.input("x", DType::f32, {1, 32, 4, 4});
  const ValueId w0 = b.constant("w0", random_f32({32, 32, 3, 3}, rng));
  const ValueId w1 = b.constant("w1", random_f32({64, 32, 1, 1}, rng));
  const ValueId w2 = b.constant("w2", random_f32({32, 64, 3, 3}, rng));
  const ValueId h0 = b.node("Conv", {x, w0}, {{"pads", ints_attr({1, 1, 1, 1})}});
  const ValueId h1 = b.node("Conv", {h0, w1});
  b.output(b.node("Conv", {h1, w2}, {{"pads", ints_attr({1, 1, 1, 1})}}));
  const std::vector<Tensor> inputs{random_f32({1, 32, 4, 4}, rng)};
  auto prepared = [&](bool bf16) {
    Graph g = specialize(b.graph, {{1, 32, 4, 4}});
    optimize_for_shapes(g, hardware().info.channel_block, bf16);
    for (ValueId id : {w0, w1, w2}) g.value(id).weight_id = static_cast<uint64_t>(id) + 1;
    return g;
  };
  const Graph float_graph = prepared(false);
  const auto want = Plan(float_graph, KernelOptions{}).run(inputs);

  WeightCache cache;
  KernelOptions shared;
  shared.weights = &cache;
  Plan bf16_plan(prepared(true), shared);
  bf16_plan.run(inputs);
  const auto impls = bf16_plan.implementations();
  const bool own = std::count(impls.begin(), impls.end(), "effvit pointwise_conv_bf16") == 1;
  EXPECT_EQ(own, hardware().info.tier == IsaTier::avx512_bf16) << testing::PrintToString(impls);
  Graph released = float_graph;
  for (ValueId id : {w0, w1, w2}) {
    ASSERT_TRUE(cache.recoverable(released.value(id).weight_id)) << "weight " << id << " is not held by its bf16 packing";
    expect_identical(cache.recover(released.value(id)), float_graph.value(id).constant, "weight rebuilt from its bf16 packing");
    released.value(id).constant = Tensor();
  }
  expect_identical(Plan(released, shared).run(inputs)[0], want[0], "float32 on the rebuilt weights");
}

// A 1x1 conv reading a plain float32 value (here the graph's input; in EfficientViT the attention's
// output) converts it itself, image by image, on the pointwise kernel's tier; its result is the
// float32 plan's within bf16 rounding, and never bit-identical to it.
TEST(Plan, Bf16PointwiseConvReadsPlainFloatInput) {
  if (hardware().info.tier < IsaTier::avx512) GTEST_SKIP() << "no bf16 convs below AVX-512 (the tier running, caps included)";
  std::mt19937 rng(89);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {2, 48, 5, 5});
  const ValueId w1 = b.constant("w1", random_f32({96, 48, 1, 1}, rng));
  const ValueId w2 = b.constant("w2", random_f32({16, 96, 3, 3}, rng));
  const ValueId h = b.node("Conv", {x, w1});
  b.output(b.node("Conv", {h, w2}, {{"pads", ints_attr({1, 1, 1, 1})}}));
  const std::vector<Tensor> inputs{random_f32({2, 48, 5, 5}, rng)};
  auto plan_for = [&](bool bf16) {
    Graph g = specialize(b.graph, {{2, 48, 5, 5}});
    optimize_for_shapes(g, hardware().info.channel_block, bf16);
    return std::make_unique<Plan>(g, KernelOptions{});
  };
  auto bf16_plan = plan_for(true);
  const auto impls = bf16_plan->implementations();
  EXPECT_EQ(impls.front() == "effvit pointwise_conv_bf16", hardware().info.tier == IsaTier::avx512_bf16) << testing::PrintToString(impls);
  const auto want = plan_for(false)->run(inputs);
  const auto got = bf16_plan->run(inputs);
  expect_close(got[0], want[0], 0.03, "bf16 against float32");
  EXPECT_NE(std::memcmp(got[0].raw(), want[0].raw(), want[0].bytes()), 0) << "the bf16 plan computed in float32";
}

// Only a packing that gives the source back bit for bit may stand in for it.
TEST(WeightCache, HoldsOnlyPackingsThatUndoExactly) {
  std::mt19937 rng(86);
  Value v;
  v.name = "w";
  v.shape = {64, 64};
  v.constant = random_f32({64, 64}, rng);
  v.is_constant = true;
  v.weight_id = 3;
  WeightCache cache;
  auto copy = [&](const void* src) {
    auto out = std::shared_ptr<float>(new float[64 * 64], std::default_delete<float[]>());
    std::memcpy(out.get(), src, 64 * 64 * sizeof(float));
    return std::static_pointer_cast<void>(out);
  };
  auto lossy = [](const std::shared_ptr<void>& packed, void* plain) {
    std::memcpy(plain, packed.get(), 64 * 64 * sizeof(float));
    static_cast<float*>(plain)[5] += 1.f;
  };
  cache.get(v, "lossy", copy, lossy);
  EXPECT_FALSE(cache.recoverable(3));
  EXPECT_THROW(cache.recover(v), Error);
  auto exact = [](const std::shared_ptr<void>& packed, void* plain) { std::memcpy(plain, packed.get(), 64 * 64 * sizeof(float)); };
  auto held = cache.get(v, "exact", copy, exact);
  EXPECT_TRUE(cache.recoverable(3));
  expect_identical(cache.recover(v), v.constant, "recovered");
  // Keyed by id: a later request without the plain bytes gets the same copy.
  Value released = v;
  released.constant = Tensor();
  EXPECT_EQ(cache.get(released, "exact", copy, exact), held);
}

}  // namespace
}  // namespace effvit
