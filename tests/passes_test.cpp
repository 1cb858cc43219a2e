// Graph rewrites: each pass on a small graph, checked by running the graph before and after (the
// reference interpreter, and a Plan with its fast kernels) and by counting nodes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <tuple>

#include "cpu/hardware.h"
#include "ops/conv.h"
#include "passes/passes.h"
#include "runtime/plan.h"
#include "test_util.h"

namespace effvit {
namespace {

using namespace effvit::test;

int count_ops(const Graph& g, const std::string& op) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op == op; }));
}

void expect_same_results(const Graph& before, const Graph& after, const std::vector<Tensor>& inputs, double rel_tol) {
  const auto want = interpret(before, inputs);
  const auto got = interpret(after, inputs);
  Plan plan(after, KernelOptions{});
  const auto planned = plan.run(inputs);
  ASSERT_EQ(got.size(), want.size());
  ASSERT_EQ(planned.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    expect_close(got[i], want[i], rel_tol, "output " + std::to_string(i) + " (reference)");
    expect_close(planned[i], want[i], rel_tol, "output " + std::to_string(i) + " (plan)");
  }
}

// x[-1,4,6] -> Reshape to [batch, 4*6] with the target computed from Shape(x), as exporters write a
// flatten with a dynamic batch -> MatMul with a [24,5] weight -> Relu.
struct DynamicBatchGraph {
  Graph graph;
  ValueId reshaped;
};

DynamicBatchGraph dynamic_batch_graph() {
  std::mt19937 rng(1);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {-1, 4, 6});
  const ValueId shape = b.node("Shape", {x});
  const ValueId d0 = b.node("Gather", {shape, b.constant("i0", i64_scalar(0))});
  const ValueId d1 = b.node("Gather", {shape, b.constant("i1", i64_scalar(1))});
  const ValueId d2 = b.node("Gather", {shape, b.constant("i2", i64_scalar(2))});
  const ValueId d12 = b.node("Mul", {d1, d2});
  const ValueId u0 = b.node("Unsqueeze", {d0}, {{"axes", ints_attr({0})}});
  const ValueId u12 = b.node("Unsqueeze", {d12, b.constant("axes", i64s({0}))});
  const ValueId target = b.node("Concat", {u0, u12}, {{"axis", int_attr(0)}});
  const ValueId reshaped = b.node("Reshape", {x, target}, {}, "flatten");
  const ValueId mm = b.node("MatMul", {reshaped, b.constant("w", random_f32({24, 5}, rng))}, {}, "head");
  b.output(b.node("Relu", {mm}));
  return {std::move(b.graph), reshaped};
}

TEST(Specialize, FoldsShapeArithmeticIntoAConstantReshapeTarget) {
  const DynamicBatchGraph source = dynamic_batch_graph();
  ASSERT_EQ(source.graph.nodes.size(), 11u);
  for (int64_t batch : {3, 1}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    const Graph g = specialize(source.graph, {{batch, 4, 6}});
    ASSERT_EQ(g.nodes.size(), 3u);
    EXPECT_EQ(g.nodes[0].op, "Reshape");
    EXPECT_EQ(g.nodes[1].op, "MatMul");
    EXPECT_EQ(g.nodes[2].op, "Relu");
    const ValueId target = g.nodes[0].inputs[1];
    ASSERT_TRUE(g.is_constant(target));
    expect_identical(g.value(target).constant, i64s({batch, 24}));
    for (const Node& n : g.nodes)
      for (ValueId id : n.outputs) EXPECT_TRUE(g.value(id).shape_known) << g.value(id).name;
    EXPECT_EQ(g.value(g.outputs[0]).shape, (Shape{batch, 5}));
    // The source graph is left as it was: sessions specialise it again for other shapes.
    EXPECT_EQ(source.graph.nodes.size(), 11u);
    EXPECT_FALSE(source.graph.is_constant(source.graph.nodes[7].outputs[0]));

    std::mt19937 rng(2);
    const std::vector<Tensor> inputs{random_f32({batch, 4, 6}, rng)};
    expect_same_results(source.graph, g, inputs, 1e-6);
  }
}

TEST(Specialize, RejectsShapesTheGraphCannotTake) {
  const DynamicBatchGraph source = dynamic_batch_graph();
  // 5*6 features do not fit the [24,5] weight.
  expect_error([&] { specialize(source.graph, {{3, 5, 6}}); }, {"MatMul node 'head'", "inner dimensions"});
  // Rank 2: the Shape result has no index 2.
  expect_error([&] { specialize(source.graph, {{3, 24}}); }, {"Gather node", "index 2", "out of range"});
  expect_error([&] { specialize(source.graph, {}); }, {"wrong number of input shapes"});

  // With ONNX's own inferred shape recorded, the mismatch is caught where it first appears.
  DynamicBatchGraph checked = dynamic_batch_graph();
  checked.graph.value(checked.reshaped).onnx_shape = Shape{-1, 24};
  expect_error([&] { specialize(checked.graph, {{3, 5, 6}}); }, {"Reshape node 'flatten'", "[3,30]", "ONNX shape inference"});
  EXPECT_NO_THROW(specialize(checked.graph, {{7, 4, 6}}));
}

// x -> Conv -> BatchNormalization -> output, specialised so every shape is known.
struct ConvBnOptions {
  bool conv_bias = true;
  int64_t group = 1;
};

Graph conv_bn_graph(const ConvBnOptions& o, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t in_c = 4, out_c = o.group == 1 ? 6 : 4;
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {2, in_c, 7, 7});
  std::vector<ValueId> conv_in{x, b.constant("w", random_f32({out_c, in_c / o.group, 3, 3}, rng))};
  if (o.conv_bias) conv_in.push_back(b.constant("b", random_f32({out_c}, rng)));
  const ValueId y = b.node("Conv", conv_in, {{"pads", ints_attr({1, 1, 1, 1})}, {"group", int_attr(o.group)}}, "conv");
  const ValueId z = b.node("BatchNormalization",
                           {y, b.constant("gamma", random_f32({out_c}, rng, 0.5f, 2.f)), b.constant("beta", random_f32({out_c}, rng)),
                            b.constant("mean", random_f32({out_c}, rng)), b.constant("var", random_f32({out_c}, rng, 0.2f, 2.f))},
                           {{"epsilon", float_attr(1e-3f)}}, "bn");
  b.output(z);
  return specialize(b.graph, {{2, in_c, 7, 7}});
}

TEST(FoldBatchNorm, FoldsIntoConvWithAndWithoutBias) {
  uint32_t seed = 10;
  for (bool bias : {true, false})
    for (int64_t group : {1, 4}) {
      SCOPED_TRACE(std::string(bias ? "with" : "without") + " conv bias, group " + std::to_string(group));
      const Graph before = conv_bn_graph({bias, group}, seed++);
      Graph after = before;
      EXPECT_EQ(fold_batchnorm_into_conv(after), 1);
      ASSERT_EQ(after.nodes.size(), 1u);
      const Node& conv = after.nodes[0];
      EXPECT_EQ(conv.op, "Conv");
      ASSERT_EQ(conv.inputs.size(), 3u);
      EXPECT_TRUE(after.is_constant(conv.inputs[1]));
      EXPECT_TRUE(after.is_constant(conv.inputs[2]));
      // The conv now writes the graph output the BN wrote.
      EXPECT_EQ(conv.outputs[0], before.outputs[0]);
      EXPECT_EQ(after.outputs, before.outputs);
      std::mt19937 rng(seed);
      expect_same_results(before, after, {random_f32({2, 4, 7, 7}, rng)}, 1e-5);
    }
}

TEST(FoldBatchNorm, LeavesConvWithASecondReaderAlone) {
  Graph g = conv_bn_graph({}, 20);
  const ValueId conv_out = g.nodes[0].outputs[0];
  g.outputs.push_back(conv_out);  // the un-normalised conv result is itself an output
  Graph a = g;
  EXPECT_EQ(fold_batchnorm_into_conv(a), 0);
  EXPECT_EQ(a.nodes.size(), 2u);

  GraphBuilder extra;
  extra.graph = conv_bn_graph({}, 21);
  extra.output(extra.node("Relu", {extra.graph.nodes[0].outputs[0]}));
  Graph b = specialize(extra.graph, {{2, 4, 7, 7}});
  const Graph before = b;
  EXPECT_EQ(fold_batchnorm_into_conv(b), 0);
  EXPECT_EQ(count_ops(b, "BatchNormalization"), 1);
  EXPECT_EQ(b.nodes.size(), 3u);
  std::mt19937 rng(22);
  expect_same_results(before, b, {random_f32({2, 4, 7, 7}, rng)}, 1e-5);
}

TEST(FoldBatchNorm, NeedsConstantParametersAndNoActivation) {
  Graph g = conv_bn_graph({}, 30);
  const ValueId mean = g.nodes[1].inputs[3];
  g.value(mean).is_constant = false;  // as if computed at run time
  EXPECT_EQ(fold_batchnorm_into_conv(g), 0);
  EXPECT_EQ(g.nodes.size(), 2u);

  Graph fused = conv_bn_graph({}, 31);
  fused.nodes[0].set_string("effvit.activation", "Relu");
  EXPECT_EQ(fold_batchnorm_into_conv(fused), 0);
  EXPECT_EQ(fused.nodes.size(), 2u);
}

// x -> Conv -> Relu -> Conv -> Relu, optionally with the first conv's output read once more.
Graph conv_relu_graph(bool second_reader, uint32_t seed) {
  std::mt19937 rng(seed);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {1, 3, 6, 6});
  const ValueId c1 = b.node("Conv", {x, b.constant("w1", random_f32({5, 3, 3, 3}, rng)), b.constant("b1", random_f32({5}, rng))},
                            {{"pads", ints_attr({1, 1, 1, 1})}});
  const ValueId r1 = b.node("Relu", {c1});
  const ValueId c2 = b.node("Conv", {r1, b.constant("w2", random_f32({4, 5, 1, 1}, rng))});
  b.output(b.node("Relu", {c2}));
  if (second_reader) b.output(b.node("Sigmoid", {c1}));
  return specialize(b.graph, {{1, 3, 6, 6}});
}

TEST(FuseConvRelu, FoldsReluIntoTheConv) {
  const Graph before = conv_relu_graph(false, 40);
  Graph after = before;
  EXPECT_EQ(fuse_conv_relu(after), 2);
  ASSERT_EQ(after.nodes.size(), 2u);
  for (const Node& n : after.nodes) {
    EXPECT_EQ(n.op, "Conv");
    EXPECT_EQ(n.attr_string("effvit.activation", ""), "Relu");
  }
  EXPECT_EQ(after.outputs, before.outputs);
  std::mt19937 rng(41);
  const std::vector<Tensor> inputs{random_f32({1, 3, 6, 6}, rng)};
  expect_same_results(before, after, inputs, 1e-5);
  // The reference conv applies the fused activation exactly as a separate Relu would.
  expect_identical(interpret(after, inputs)[0], interpret(before, inputs)[0]);
}

TEST(FuseConvRelu, LeavesConvWithASecondReaderAlone) {
  const Graph before = conv_relu_graph(true, 42);
  Graph after = before;
  EXPECT_EQ(fuse_conv_relu(after), 1);  // only the second conv
  EXPECT_EQ(count_ops(after, "Relu"), 1);
  EXPECT_EQ(after.nodes.size(), 4u);
  EXPECT_FALSE(after.nodes[0].has("effvit.activation"));
  std::mt19937 rng(43);
  expect_same_results(before, after, {random_f32({1, 3, 6, 6}, rng)}, 1e-5);
}

TEST(RemoveIdentity, ReadersReadTheInputInstead) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {2, 5});
  const ValueId id0 = b.node("Identity", {x});
  const ValueId r = b.node("Relu", {id0});
  const ValueId id1 = b.node("Identity", {r});
  const ValueId id2 = b.node("Identity", {id1});
  b.output(b.node("Add", {id2, r}));
  const Graph before = specialize(b.graph, {{2, 5}});
  Graph after = before;
  EXPECT_EQ(remove_identity(after), 3);
  ASSERT_EQ(after.nodes.size(), 2u);
  EXPECT_EQ(after.nodes[0].inputs[0], x);
  EXPECT_EQ(after.nodes[1].inputs, (std::vector<ValueId>{r, r}));
  std::mt19937 rng(50);
  expect_same_results(before, after, {random_f32({2, 5}, rng)}, 0);
}

TEST(RemoveIdentity, DropoutWithoutAMaskReaderGoesToo) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {2, 5});
  const ValueId d = b.node("Dropout", {x});
  b.output(b.node("Relu", {d}));
  const Graph before = specialize(b.graph, {{2, 5}});
  Graph after = before;
  EXPECT_EQ(remove_identity(after), 1);
  ASSERT_EQ(after.nodes.size(), 1u);
  EXPECT_EQ(after.nodes[0].inputs[0], x);
  std::mt19937 rng(52);
  expect_same_results(before, after, {random_f32({2, 5}, rng)}, 0);
}

TEST(FoldTransposeIntoMatMul, BothOperandsReadThroughStrides) {
  std::mt19937 rng(54);
  GraphBuilder b;
  const ValueId q = b.input("q", DType::f32, {3, 5, 7});
  const ValueId k = b.input("k", DType::f32, {3, 5, 4});
  const ValueId qt = b.node("Transpose", {q}, {{"perm", ints_attr({0, 2, 1})}});
  const ValueId att = b.node("MatMul", {qt, k});                                       // [3,7,4]
  const ValueId v = b.input("v", DType::f32, {3, 6, 4});
  b.output(b.node("MatMul", {v, b.node("Transpose", {att}, {{"perm", ints_attr({0, 2, 1})}})}));  // [3,6,7]
  const ValueId other = b.node("Transpose", {k}, {{"perm", ints_attr({2, 1, 0})}});  // not a last-two swap
  b.output(b.node("MatMul", {other, b.input("w", DType::f32, {3, 2})}));
  const Graph before = specialize(b.graph, {{3, 5, 7}, {3, 5, 4}, {3, 6, 4}, {3, 2}});
  Graph after = before;
  EXPECT_EQ(fold_transpose_into_matmul(after), 2);
  EXPECT_EQ(count_ops(after, "Transpose"), 1);  // the full reversal is not a last-two swap and stays
  const std::vector<Tensor> inputs{random_f32({3, 5, 7}, rng), random_f32({3, 5, 4}, rng), random_f32({3, 6, 4}, rng),
                                   random_f32({3, 2}, rng)};
  expect_same_results(before, after, inputs, 1e-5);
}

TEST(RemoveIdentity, KeepsAnIdentityThatProducesAGraphOutput) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {2, 5});
  const ValueId r = b.node("Relu", {x});
  const ValueId out = b.node("Identity", {r});
  b.output(out);
  b.output(b.node("Sigmoid", {out}));
  const Graph before = specialize(b.graph, {{2, 5}});
  Graph after = before;
  EXPECT_EQ(remove_identity(after), 0);
  EXPECT_EQ(after.nodes.size(), 3u);
  EXPECT_EQ(after.outputs[0], out);
  std::mt19937 rng(51);
  expect_same_results(before, after, {random_f32({2, 5}, rng)}, 0);
}

TEST(Optimize, ConvBatchNormReluBecomesOneConv) {
  std::mt19937 rng(60);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {1, 4, 5, 5});
  const ValueId y = b.node("Conv", {b.node("Identity", {x}), b.constant("w", random_f32({4, 1, 3, 3}, rng))},
                           {{"pads", ints_attr({1, 1, 1, 1})}, {"group", int_attr(4)}});
  const ValueId z = b.node("BatchNormalization", {y, b.constant("gamma", random_f32({4}, rng, 0.5f, 2.f)),
                                                  b.constant("beta", random_f32({4}, rng)), b.constant("mean", random_f32({4}, rng)),
                                                  b.constant("var", random_f32({4}, rng, 0.2f, 2.f))});
  b.output(b.node("Relu", {z}));
  const Graph before = specialize(b.graph, {{1, 4, 5, 5}});
  Graph after = before;
  optimize(after, hardware().info.channel_block);
  ASSERT_EQ(after.nodes.size(), 1u);
  EXPECT_EQ(after.nodes[0].op, "Conv");
  EXPECT_EQ(after.nodes[0].attr_string("effvit.activation", ""), "Relu");
  EXPECT_EQ(after.nodes[0].inputs[0], x);
  expect_same_results(before, after, {random_f32({1, 4, 5, 5}, rng)}, 1e-5);
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

// x -> ConvA(16->32) -> Relu -> ConvB(32->32, 1x1) -> Add(B, relu) -> Transpose (reads plain)
//                                                                  -> ConvC(32->8) (stays plain)
// and Add(ConvB, y) where y is a plain graph input.
Graph conv_chain_graph(uint32_t seed) {
  std::mt19937 rng(seed);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {1, 16, 6, 6});
  const ValueId y = b.input("y", DType::f32, {1, 32, 6, 6});
  const ValueId a = b.node("Conv", {x, b.constant("wa", random_f32({32, 16, 3, 3}, rng)), b.constant("ba", random_f32({32}, rng))},
                           {{"pads", ints_attr({1, 1, 1, 1})}});
  const ValueId r = b.node("Relu", {a});
  const ValueId c = b.node("Conv", {r, b.constant("wb", random_f32({32, 32, 1, 1}, rng))});
  const ValueId sum = b.node("Add", {c, r});
  b.output(b.node("Transpose", {sum}, {{"perm", ints_attr({0, 2, 3, 1})}}));
  b.output(b.node("Conv", {sum, b.constant("wc", random_f32({8, 32, 1, 1}, rng))}));
  b.output(b.node("Add", {c, y}));
  return specialize(b.graph, {{1, 16, 6, 6}, {1, 32, 6, 6}});
}

// The channel block is the hardware tier's (8 below AVX-512, 16 from it); the pass must be right
// for both whatever machine runs the test (oneDNN runs nChw8c on AVX-512 machines too).
class BlockedLayout : public ::testing::TestWithParam<int> {};

INSTANTIATE_TEST_SUITE_P(ChannelBlock, BlockedLayout, ::testing::Values(8, 16));

TEST_P(BlockedLayout, ConvChainsStayBlockedWithConversionsAtTheEdges) {
  const int block = GetParam();
  const Graph before = conv_chain_graph(50);
  Graph after = before;
  EXPECT_GT(assign_blocked_layout(after, block), 0);
  // One ToPlain before the Transpose and one per blocked graph output; the plain input y joins a
  // blocked Add through one ToBlocked.
  EXPECT_EQ(count_ops(after, "effvit.ToBlocked"), 1);
  EXPECT_EQ(count_ops(after, "effvit.ToPlain"), 2);
  for (const Node& n : after.nodes) {
    if (n.op == "Relu" || n.op == "Add") {
      EXPECT_EQ(after.value(n.outputs[0]).layout, Layout::Blocked) << n.op;
      EXPECT_EQ(after.value(n.outputs[0]).channel_block, block) << n.op;
    }
  }
  for (ValueId id : after.outputs) EXPECT_EQ(after.value(id).layout, Layout::Plain);
  // The 8-channel conv fills one 8-channel block but not a 16-channel one.
  const Node& last_conv = *std::find_if(after.nodes.rbegin(), after.nodes.rend(), [](const Node& n) { return n.op == "Conv"; });
  EXPECT_EQ(after.value(last_conv.outputs[0]).layout, Layout::Plain);

  std::mt19937 rng(51);
  const std::vector<Tensor> inputs{random_f32({1, 16, 6, 6}, rng), random_f32({1, 32, 6, 6}, rng)};
  const auto want = interpret(before, inputs);
  Plan plan(after, KernelOptions{});
  const auto got = plan.run(inputs);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i], 1e-5, "output " + std::to_string(i));
}

// A bf16 plan: the conv chains carry bf16, the edges convert type and layout in the conversions
// the float32 plan has anyway (no more of them), and what leaves the chains is float32 again.
TEST(Bf16Activations, ConvChainsCarryBf16AndOnlyTheEdgesConvert) {
  const int block = hardware().info.channel_block;
  const Graph before = conv_chain_graph(54);
  Graph fp32 = before;
  assign_blocked_layout(fp32, block);
  Graph bf16 = fp32;
  EXPECT_GT(assign_bf16_activations(bf16), 0);
  EXPECT_EQ(bf16.nodes.size(), fp32.nodes.size()) << "the pass adds no conversions";
  for (const Node& n : bf16.nodes)
    if (n.op == "Conv") EXPECT_EQ(n.attr_string("effvit.compute", ""), "bf16");
  for (const Value& v : bf16.values)
    if (v.layout == Layout::Blocked) EXPECT_EQ(v.dtype, DType::bf16) << v.name;
  for (const Node& n : bf16.nodes)
    if (n.op == "effvit.ToPlain" || n.op == "Transpose") EXPECT_EQ(bf16.value(n.outputs[0]).dtype, DType::f32) << n.op;
  for (ValueId id : bf16.outputs) EXPECT_EQ(bf16.value(id).dtype, DType::f32);

  // bf16 convs need AVX-512 (natively avx512_bf16; emulated by oneDNN on the other AVX-512 tiers).
  if (!hardware().has(IsaTier::avx512)) GTEST_SKIP() << "no bf16 convs below AVX-512";
  std::mt19937 rng(55);
  const std::vector<Tensor> inputs{random_f32({1, 16, 6, 6}, rng), random_f32({1, 32, 6, 6}, rng)};
  const auto want = interpret(before, inputs);
  Plan plan(bf16, KernelOptions{.strict = true});
  const auto got = plan.run(inputs);
  ASSERT_EQ(got.size(), want.size());
  // Three bf16 roundings deep (input, conv, conv): within a few bf16 units of the float32 result.
  for (size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i], 3e-2, "output " + std::to_string(i));
  // ...and really rounded: a bf16 plan that ran float32 would agree with the float32 plan exactly.
  const auto exact = Plan(fp32, KernelOptions{}).run(inputs);
  EXPECT_NE(std::memcmp(got[1].raw(), exact[1].raw(), got[1].bytes()), 0);
}

TEST(BlockedLayoutPadding, PartialChannelBlocksArePaddedWithZeros) {
  // 24 channels fill one and a half 16-channel blocks: the conv pair runs blocked over a
  // zero-padded tail (with 8-channel blocks there is no tail).
  const int block = hardware().info.channel_block;
  std::mt19937 rng(53);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {1, 16, 6, 6});
  const ValueId a = b.node("Conv", {x, b.constant("wa", random_f32({24, 16, 1, 1}, rng))});
  const ValueId r = b.node("Relu", {a});
  const ValueId c = b.node("Conv", {r, b.constant("wb", random_f32({32, 24, 3, 3}, rng))}, {{"pads", ints_attr({1, 1, 1, 1})}});
  b.output(b.node("Add", {c, b.node("Conv", {r, b.constant("wc", random_f32({32, 24, 1, 1}, rng))})}));
  const Graph before = specialize(b.graph, {{1, 16, 6, 6}});
  Graph after = before;
  assign_blocked_layout(after, block);
  EXPECT_EQ(after.value(after.nodes[0].outputs[0]).layout, Layout::Blocked);
  EXPECT_EQ(count_ops(after, "effvit.ToBlocked"), 0);
  const std::vector<Tensor> inputs{random_f32({1, 16, 6, 6}, rng)};
  Plan plan(after, KernelOptions{});
  expect_close(plan.run(inputs)[0], interpret(before, inputs)[0], 1e-5);
}

// The conversions on and off the blocked layout, oneDNN's against the reference loops: float32 on
// both sides, and (bf16 plans) float32 plain <-> bfloat16 blocked, where the conversion also rounds.
TEST_P(BlockedLayout, ReorderOpsRoundTripAgainstTheirReference) {
  const int block = GetParam();
  std::mt19937 rng(52);
  for (const DType blocked_type : {DType::f32, DType::bf16})
    for (const Shape& s : {Shape{1, 16, 3, 5}, Shape{2, 20, 4, 4}, Shape{1, 3, 2, 2}}) {
      const std::string what = std::string(dtype_name(blocked_type)) + " nChw" + std::to_string(block) + "c " + shape_str(s);
      const Tensor x = random_f32(s, rng);
      Graph g;
      Value plain;
      plain.shape = s;
      plain.shape_known = true;
      Value blocked = plain;
      blocked.dtype = blocked_type;
      blocked.layout = Layout::Blocked;
      blocked.channel_block = block;
      const ValueId plain_id = g.add_value(plain), blocked_id = g.add_value(blocked), back_id = g.add_value(plain);
      Node to_blocked_node, to_plain_node;
      to_blocked_node.inputs = {plain_id};
      to_blocked_node.outputs = {blocked_id};
      to_plain_node.inputs = {blocked_id};
      to_plain_node.outputs = {back_id};
      to_blocked_node.set_int("block", block);
      to_plain_node.set_int("block", block);
      // A blocked tensor keeps its logical NCHW shape over a larger (channel-padded) buffer, whose
      // padding starts as garbage: the conversion must zero it.
      const int64_t padded = static_cast<int64_t>(value_bytes(blocked) / dtype_size(blocked_type));
      Tensor storage_ref(blocked_type, {padded});
      std::memset(storage_ref.raw(), 0x5a, storage_ref.bytes());
      Tensor storage_fast = storage_ref.clone();
      Tensor blocked_ref = Tensor::view(blocked_type, s, storage_ref.raw());
      Tensor blocked_fast = Tensor::view(blocked_type, s, storage_fast.raw());
      const OpDef* to_blocked = find_op("effvit.ToBlocked");
      const OpDef* to_plain = find_op("effvit.ToPlain");
      to_blocked->compute(to_blocked_node, {&x}, {&blocked_ref});
      to_blocked->create(to_blocked_node, g, KernelOptions{})->run({&x}, {&blocked_fast});
      expect_identical(storage_fast, storage_ref, "to " + what);
      Tensor back_ref(DType::f32, s), back_fast(DType::f32, s);
      to_plain->compute(to_plain_node, {&blocked_ref}, {&back_ref});
      to_plain->create(to_plain_node, g, KernelOptions{})->run({&blocked_ref}, {&back_fast});
      expect_identical(back_fast, back_ref, "back from " + what);
      if (blocked_type == DType::f32) {
        expect_identical(back_ref, x, "round trip " + what);
        continue;
      }
      // bf16 keeps 8 significant bits: each value comes back within half a unit in its last place.
      for (int64_t i = 0; i < x.numel(); ++i) {
        const float want = x.data<float>()[i], got = back_ref.data<float>()[i];
        ASSERT_LE(std::abs(got - want), std::abs(want) * (1.f / 256.f)) << what << " element " << i;
      }
    }
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// Attention scores: softmax((q^T k) * scale + bias), as both exporters write them.
TEST(FuseAttentionScores, ScaleGoesToTheMatMulAndBiasToTheSoftmax) {
  std::mt19937 rng(90);
  GraphBuilder b;
  const ValueId q = b.input("q", DType::f32, {2, 3, 8, 5});
  const ValueId k = b.input("k", DType::f32, {2, 3, 8, 5});
  const ValueId qt = b.node("Transpose", {q}, {{"perm", ints_attr({0, 1, 3, 2})}});
  const ValueId s = b.node("MatMul", {qt, k});
  const ValueId scaled = b.node("Mul", {b.constant("scale", f32s({}, {0.35f})), s});
  b.output(b.node("Softmax", {b.node("Add", {scaled, b.constant("bias", random_f32({3, 5, 5}, rng))})}, {{"axis", int_attr(-1)}}));
  const Graph before = specialize(b.graph, {{2, 3, 8, 5}, {2, 3, 8, 5}});
  Graph after = before;
  EXPECT_EQ(fuse_attention_scores(after), 2);
  EXPECT_EQ(count_ops(after, "Mul"), 0);
  EXPECT_EQ(count_ops(after, "Add"), 0);
  const Node& mm = *std::find_if(after.nodes.begin(), after.nodes.end(), [](const Node& n) { return n.op == "MatMul"; });
  EXPECT_FLOAT_EQ(mm.attr_float("effvit.scale", 0.f), 0.35f);
  const Node& sm = after.nodes.back();
  ASSERT_EQ(sm.op, "Softmax");
  EXPECT_EQ(sm.inputs.size(), 2u);
  fold_transpose_into_matmul(after);  // and with the transposed operand read through strides
  expect_same_results(before, after, {random_f32({2, 3, 8, 5}, rng), random_f32({2, 3, 8, 5}, rng)}, 1e-6);
}

TEST(FuseAttentionScores, LeavesWhatItCannotFuse) {
  std::mt19937 rng(91);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {4, 6});
  const ValueId w = b.constant("w", random_f32({6, 3}, rng));
  auto softmax = [&](ValueId v, int64_t axis = -1) { return b.node("Softmax", {v}, {{"axis", int_attr(axis)}}); };
  // A per-column Mul is not a scalar scale; a bias varying along a broadcast axis is not one block
  // of rows; a softmax over another axis has no row bias; a value read twice cannot be absorbed.
  b.output(b.node("Mul", {b.node("MatMul", {x, w}), b.constant("cols", random_f32({3}, rng))}));
  b.output(softmax(b.node("Add", {b.node("MatMul", {x, w}), b.constant("col_bias", random_f32({4, 1}, rng))})));
  b.output(softmax(b.node("Add", {b.node("MatMul", {x, w}), b.constant("bias0", random_f32({4, 3}, rng))}), 0));
  const ValueId shared = b.node("Add", {b.node("MatMul", {x, w}), b.constant("c", random_f32({3}, rng))});
  b.output(softmax(shared));
  b.output(shared);
  // Scores that the Add broadcasts ([4,1] + [4,3]); a one-element scale that widens the rank.
  const ValueId narrow = b.node("MatMul", {x, b.constant("w1", random_f32({6, 1}, rng))});
  b.output(softmax(b.node("Add", {narrow, b.constant("wide_bias", random_f32({4, 3}, rng))})));
  b.output(b.node("Mul", {b.node("MatMul", {x, w}), b.constant("rank3", random_f32({1, 1, 1}, rng))}));
  const Graph before = specialize(b.graph, {{4, 6}});
  Graph after = before;
  EXPECT_EQ(fuse_attention_scores(after), 0);
  EXPECT_EQ(after.nodes.size(), before.nodes.size());
  // The softmax reference takes the bias input too, and checks it.
  std::mt19937 rng2(92);
  const Tensor s = random_f32({2, 4, 3}, rng2), bias = random_f32({4, 3}, rng2);
  Tensor manual = s.clone();
  for (int64_t i = 0; i < manual.numel(); ++i) manual.data<float>()[i] += bias.data<float>()[i % 12];
  expect_close(run_op1("Softmax", {rt(s), rt(bias)}), run_op1("Softmax", {rt(manual)}), 1e-6);
  expect_close(run_op("Softmax", {rt(s), rt(bias)}, {}, 1, "sm", /*fast=*/true).at(0), run_op1("Softmax", {rt(manual)}), 1e-5);
  EXPECT_THROW(run_op1("Softmax", {rt(s), rt(random_f32({4, 1}, rng2))}, {{"axis", int_attr(1)}}), Error);
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// One cascaded-attention head as the exporters write it: Split -> depthwise Conv on q -> Reshapes
// -> (q^T k) * scale + bias -> Softmax -> v @ attn^T. `head` adds one to `b` and returns its output
// ([batch, vd, N]); options break the pattern in one place each.
struct HeadOptions {
  int64_t kd = 4, vd = 6, h = 3, w = 5, kernel = 3;
  int64_t dw_stride = 1;
  bool same_size_stride = false;  // pad the strided depthwise conv until its output keeps q's size
  int64_t softmax_axis = -1;
  bool plain_scores = false;      // Softmax straight on the scores MatMul: no scale, no bias
  bool k_read_twice = false;
  bool quantized_dw = false;  // the depthwise conv in QDQ form (int8 q, weights and bias)
  // ONNX Runtime's QDQ layout besides: a uint8 Q -> DQ pair on the depthwise conv's output and on
  // every MatMul input and output, after the Transpose or Reshape that feeds it.
  bool ort_qdq = false;
};

ValueId attention_head_graph(GraphBuilder& b, ValueId qkv, const HeadOptions& o, std::mt19937& rng, const std::string& tag) {
  const int64_t n = o.h * o.w;
  const auto parts = b.node_n("Split", {qkv, b.constant(tag + "split", i64s({o.kd, o.kd, o.vd}))}, 3, {{"axis", int_attr(1)}});
  const int64_t pad = o.kernel / 2;
  // A stride-2 conv padded so its output keeps the input's size: (in + 2p - k) / 2 + 1 = in.
  const int64_t pad_h = o.same_size_stride ? (o.h - 1) * o.dw_stride + o.kernel - o.h : 2 * pad;
  const int64_t pad_w = o.same_size_stride ? (o.w - 1) * o.dw_stride + o.kernel - o.w : 2 * pad;
  ValueId q_in = parts[0], weight, bias;
  if (o.quantized_dw) {
    // int8 q at scale 0.02; int8 weights with one scale per channel; int32 bias at 0.02 * w_scale.
    const Tensor zero = Tensor::from_vector<int8_t>({}, {0});
    const ValueId sx = b.constant(tag + "sx", f32s({}, {0.02f}));
    const ValueId xq = b.node("QuantizeLinear", {parts[0], sx, b.constant(tag + "zx", zero)});
    q_in = b.node("DequantizeLinear", {xq, sx, b.constant(tag + "zx2", zero)});
    std::vector<int8_t> wq(static_cast<size_t>(o.kd * o.kernel * o.kernel));
    for (auto& v : wq) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    std::vector<float> w_scale(static_cast<size_t>(o.kd)), b_scale(static_cast<size_t>(o.kd));
    std::vector<int32_t> bq(static_cast<size_t>(o.kd));
    for (size_t c = 0; c < w_scale.size(); ++c) {
      w_scale[c] = 0.001f * static_cast<float>(1 + c);
      b_scale[c] = 0.02f * w_scale[c];
      bq[c] = static_cast<int32_t>(rng() % 2001) - 1000;
    }
    weight = b.node("DequantizeLinear", {b.constant(tag + "wq", Tensor::from_vector<int8_t>({o.kd, 1, o.kernel, o.kernel}, wq)),
                                         b.constant(tag + "sw", f32s({o.kd}, w_scale))},
                    {{"axis", int_attr(0)}});
    bias = b.node("DequantizeLinear", {b.constant(tag + "bq", Tensor::from_vector<int32_t>({o.kd}, bq)),
                                       b.constant(tag + "sb", f32s({o.kd}, b_scale))},
                  {{"axis", int_attr(0)}});
  } else {
    weight = b.constant(tag + "dw_w", random_f32({o.kd, 1, o.kernel, o.kernel}, rng));
    bias = b.constant(tag + "dw_b", random_f32({o.kd}, rng));
  }
  const ValueId q = b.node("Conv", {q_in, weight, bias},
                           {{"group", int_attr(o.kd)},
                            {"pads", ints_attr({pad_h / 2, pad_w / 2, pad_h - pad_h / 2, pad_w - pad_w / 2})},
                            {"strides", ints_attr({o.dw_stride, o.dw_stride})}});
  const int64_t qn = o.dw_stride == 1 || o.same_size_stride
                         ? n
                         : ((o.h + o.dw_stride - 1) / o.dw_stride) * ((o.w + o.dw_stride - 1) / o.dw_stride);
  auto flat = [&](ValueId v, int64_t c, int64_t pixels) {
    return b.node("Reshape", {v, b.constant(tag + "shape" + std::to_string(v), i64s({-1, c, pixels}))});
  };
  // A uint8 round trip (as ONNX Runtime writes one) when the options ask for them.
  auto qdq = [&](ValueId v, float scale, uint8_t zero) {
    if (!o.ort_qdq) return v;
    const std::string id = tag + "rt" + std::to_string(v);
    const ValueId sv = b.constant(id + "s", f32s({}, {scale}));
    const ValueId zv = b.constant(id + "z", Tensor::from_vector<uint8_t>({}, {zero}));
    return b.node("DequantizeLinear", {b.node("QuantizeLinear", {v, sv, zv}), sv, zv});
  };
  const ValueId qf = flat(qdq(q, 0.03f, 120), o.kd, qn), kf = qdq(flat(parts[1], o.kd, n), 0.02f, 130),
                vf = qdq(flat(parts[2], o.vd, n), 0.025f, 128);
  const ValueId qt = qdq(b.node("Transpose", {qf}, {{"perm", ints_attr({0, 2, 1})}}), 0.035f, 125);
  const ValueId scores = qdq(b.node("MatMul", {qt, kf}), 0.05f, 100);
  ValueId logits = scores;
  if (!o.plain_scores) {
    const ValueId scaled = b.node("Mul", {scores, b.constant(tag + "scale", f32s({}, {0.5f}))});
    logits = b.node("Add", {scaled, b.constant(tag + "bias", random_f32({qn, n}, rng))});
  }
  const ValueId probs = b.node("Softmax", {logits}, {{"axis", int_attr(o.softmax_axis)}});
  const ValueId pt = qdq(b.node("Transpose", {probs}, {{"perm", ints_attr({0, 2, 1})}}), 1.f / 255.f, 0);
  if (o.k_read_twice) b.output(kf);
  return qdq(b.node("MatMul", {vf, pt}), 0.03f, 128);
}

// What the Model does before fuse_attention_head: the shape-free folds, then specialisation.
Graph optimized_for_heads(Graph g, const std::vector<Shape>& shapes) {
  fold_qdq_into_conv(g);
  g = specialize(g, shapes);
  fold_transpose_into_matmul(g);
  fuse_attention_scores(g);
  return g;
}

TEST(FuseAttentionHead, OneKernelPerHeadSameResults) {
  std::mt19937 rng(93);
  for (int64_t kernel : {3, 5}) {
    HeadOptions o;
    o.kernel = kernel;
    GraphBuilder b;
    const int64_t c = 2 * o.kd + o.vd;
    const ValueId x = b.input("x", DType::f32, {2, c, o.h, o.w});
    // Two cascaded heads: the second reads the first's output added to the input's next slice.
    const ValueId first = attention_head_graph(b, x, o, rng, "h0");
    const ValueId back = b.node("Reshape", {first, b.constant("back", i64s({-1, o.vd, o.h, o.w}))});
    const ValueId next = b.node("Conv", {back, b.constant("qkv_w", random_f32({c, o.vd, 1, 1}, rng))});
    b.output(attention_head_graph(b, next, o, rng, "h1"));
    const Graph before = specialize(b.graph, {{2, c, o.h, o.w}});
    Graph after = optimized_for_heads(b.graph, {{2, c, o.h, o.w}});
    EXPECT_EQ(fuse_attention_head(after), 2);
    EXPECT_EQ(count_ops(after, "effvit.AttentionHead"), 2);
    for (const char* gone : {"Split", "Softmax", "MatMul", "Transpose"}) EXPECT_EQ(count_ops(after, gone), 0) << gone;
    EXPECT_EQ(count_ops(after, "Conv"), 1);  // only the qkv conv between the heads
    expect_same_results(before, after, {random_f32({2, c, o.h, o.w}, rng)}, 1e-5);
  }
}

// The int8 form: the integer depthwise conv and the QuantizeLinear in front of it go into the head.
TEST(FuseAttentionHead, QuantizedDepthwiseConv) {
  std::mt19937 rng(95);
  HeadOptions o;
  o.kernel = 5;
  o.h = o.w = 7;
  o.quantized_dw = true;
  GraphBuilder b;
  const int64_t c = 2 * o.kd + o.vd;
  const ValueId x = b.input("x", DType::f32, {4, c, o.h, o.w});
  b.output(attention_head_graph(b, x, o, rng, "h"));
  const Graph before = specialize(b.graph, {{4, c, o.h, o.w}});
  Graph after = optimized_for_heads(b.graph, {{4, c, o.h, o.w}});
  ASSERT_EQ(count_ops(after, "Conv"), 1);
  EXPECT_EQ(fuse_attention_head(after), 1);
  EXPECT_EQ(count_ops(after, "QuantizeLinear") + count_ops(after, "Conv") + count_ops(after, "DequantizeLinear"), 0);
  const Node& head = after.nodes.back();
  ASSERT_EQ(head.op, "effvit.AttentionHead");
  EXPECT_FLOAT_EQ(head.attr_float("q_step", 0.f), 0.02f);
  EXPECT_EQ(head.attr_float("q_lo", 0.f), -128.f);
  EXPECT_EQ(head.attr_float("q_hi", 0.f), 127.f);
  expect_same_results(before, after, {random_f32({4, c, o.h, o.w}, rng, -4.f, 4.f)}, 1e-5);
}

// ONNX Runtime's QDQ head: the round trips on q', k, v, the scores and P go into the head, which
// rounds each where the graph did; the output's round trip stays after it.
TEST(FuseAttentionHead, RoundTripsOfOnnxRuntimeQdq) {
  std::mt19937 rng(97);
  HeadOptions o;
  o.kernel = 5;
  o.h = o.w = 7;
  o.kd = 16;
  o.vd = 32;
  o.quantized_dw = o.ort_qdq = true;
  GraphBuilder b;
  const int64_t c = 2 * o.kd + o.vd;
  const ValueId x = b.input("x", DType::f32, {4, c, o.h, o.w});
  b.output(attention_head_graph(b, x, o, rng, "h"));
  const Graph before = specialize(b.graph, {{4, c, o.h, o.w}});
  Graph after = b.graph;
  optimize_structure(after);
  after = specialize(after, {{4, c, o.h, o.w}});
  fuse_attention_scores(after);
  EXPECT_EQ(fuse_attention_head(after), 1);
  EXPECT_EQ(count_ops(after, "effvit.AttentionHead"), 1);
  for (const char* gone : {"MatMul", "Softmax", "Conv", "Transpose", "Mul"}) EXPECT_EQ(count_ops(after, gone), 0) << gone;
  EXPECT_EQ(count_ops(after, "effvit.QuantizeDequantize"), 1);  // the output's
  const Node* head = nullptr;
  for (const Node& n : after.nodes)
    if (n.op == "effvit.AttentionHead") head = &n;
  ASSERT_NE(head, nullptr);
  for (const char* grid : {"k_grid", "v_grid", "scores_grid", "probs_grid"}) EXPECT_TRUE(head->has(grid)) << grid;
  ASSERT_TRUE(head->has("q_grids"));
  EXPECT_EQ(head->attrs.at("q_grids").floats.size(), 12u);

  // The head's float sums run in another order than the unfused MatMuls', so a value within float
  // rounding of a half step may round the other way: almost every output equals the unfused
  // graph's, none is further than a few of the output's steps (0.03).
  const Tensor input = random_f32({4, c, o.h, o.w}, rng, -3.f, 3.f);
  const Tensor want = interpret(before, {input}).at(0), got = interpret(after, {input}).at(0);
  ASSERT_EQ(got.shape(), want.shape());
  int64_t equal = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const float w = want.data<float>()[i], g = got.data<float>()[i];
    equal += std::fabs(g - w) <= 1e-5f * (1.f + std::fabs(w));
    ASSERT_LE(std::fabs(g - w), 0.1f) << i;
  }
  EXPECT_GE(equal, want.numel() * 98 / 100);
  // Without the intermediates' grids the head would compute another function: the test sees them.
  Graph unrounded = after;
  for (Node& n : unrounded.nodes)
    for (const char* grid : {"q_grids", "k_grid", "v_grid", "scores_grid", "probs_grid"}) n.attrs.erase(grid);
  const Tensor loose = interpret(unrounded, {input}).at(0);
  int64_t moved = 0;
  for (int64_t i = 0; i < want.numel(); ++i) moved += loose.data<float>()[i] != want.data<float>()[i];
  EXPECT_GE(moved, want.numel() / 10);
}

TEST(FuseAttentionHead, LeavesWhatItCannotFuse) {
  std::mt19937 rng(94);
  HeadOptions strided, same_size_stride, other_axis, column_softmax, shared;
  strided.dw_stride = 2;                // q no longer has k's pixels
  same_size_stride.dw_stride = 2;       // same size, other pixels: only the pass's stride check stops it
  same_size_stride.same_size_stride = true;
  other_axis.softmax_axis = 1;          // not a row softmax (and the scale/bias stay unfused)
  column_softmax.softmax_axis = 1;      // a column softmax straight on the scores: only the pass's
  column_softmax.plain_scores = true;   // axis check stops it
  shared.k_read_twice = true;           // an intermediate someone else reads
  for (const HeadOptions& o : {strided, same_size_stride, other_axis, column_softmax, shared}) {
    GraphBuilder b;
    const int64_t c = 2 * o.kd + o.vd;
    const ValueId x = b.input("x", DType::f32, {1, c, o.h, o.w});
    b.output(attention_head_graph(b, x, o, rng, "h"));
    Graph g = optimized_for_heads(b.graph, {{1, c, o.h, o.w}});
    const size_t nodes = g.nodes.size();
    EXPECT_EQ(fuse_attention_head(g), 0);
    EXPECT_EQ(g.nodes.size(), nodes);
  }
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// The quantized model's input chain: image bytes -> float -> Sub mean -> Mul scale -> QuantizeLinear.
struct ImageChain {
  bool nv12 = true;
  bool reverse = false;  // a Slice reversing the channels after the conversion (bgr <-> rgb)
  bool is_signed = false;
  bool mean_per_column = false;  // a mean that varies along the width is not per channel
};

Graph image_chain_graph(const ImageChain& o, const Shape& image_shape, std::mt19937& rng) {
  GraphBuilder b;
  const ValueId image = b.input("image", DType::u8, image_shape);
  ValueId as_float = o.nv12 ? b.node("effvit.Nv12ToRgb", {image}, {{"rgb", int_attr(0)}})
                            : b.node("Cast", {image}, {{"to", int_attr(1)}});
  if (o.reverse) {
    const int64_t c = o.nv12 ? 3 : image_shape[1];
    as_float = b.node("Slice", {as_float, b.constant("starts", i64s({c - 1})), b.constant("ends", i64s({-(c + 1)})),
                                b.constant("axes", i64s({1})), b.constant("steps", i64s({-1}))});
  }
  const int64_t channels = o.nv12 ? 3 : image_shape[1];
  const int64_t width = image_shape[o.nv12 ? 2 : 3];
  const Tensor mean = o.mean_per_column ? random_f32({1, 1, 1, width}, rng, 0.f, 255.f) : random_f32({1, channels, 1, 1}, rng, 0.f, 255.f);
  const ValueId centred = b.node("Sub", {as_float, b.constant("mean", mean)});
  const ValueId scaled = b.node("Mul", {b.constant("scale", random_f32({channels, 1, 1}, rng, 0.01f, 0.03f)), centred});
  const Tensor zero = o.is_signed ? Tensor::from_vector<int8_t>({}, {3}) : Tensor::from_vector<uint8_t>({}, {128});
  b.output(b.node("QuantizeLinear", {scaled, b.constant("y_scale", f32s({}, {0.0123f})), b.constant("y_zero", zero)}));
  return b.graph;
}

void expect_same_bytes(const Graph& before, const Graph& after, const Tensor& image) {
  const Tensor want = interpret(before, {image}).at(0);
  expect_identical(interpret(after, {image}).at(0), want, "reference");
  Plan plan(after, KernelOptions{});
  expect_identical(plan.run({image}).at(0), want, "plan");
}

TEST(FuseImageQuantize, OneNodeSameBytes) {
  std::mt19937 rng(96);
  for (const bool nv12 : {true, false})
    for (const bool is_signed : {false, true})
      for (const bool reverse : {false, true}) {
      ImageChain o;
      o.nv12 = nv12;
      o.is_signed = is_signed;
      o.reverse = reverse;
      const Shape shape = nv12 ? Shape{2, 12, 6, 1} : Shape{2, 3, 5, 7};
      const Graph before = specialize(image_chain_graph(o, shape, rng), {shape});
      Graph after = before;
      EXPECT_EQ(fuse_image_quantize(after), 1);
      ASSERT_EQ(after.nodes.size(), 1u);
      EXPECT_EQ(after.nodes[0].op, "effvit.QuantizeImage");
      Tensor image(DType::u8, shape);
      for (int64_t i = 0; i < image.numel(); ++i) image.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
      expect_same_bytes(before, after, image);
    }
}

TEST(FuseImageQuantize, LeavesWhatItCannotFuse) {
  std::mt19937 rng(97);
  ImageChain o;
  o.mean_per_column = true;
  Graph g = specialize(image_chain_graph(o, {1, 12, 6, 1}, rng), {{1, 12, 6, 1}});
  EXPECT_EQ(fuse_image_quantize(g), 0);
  EXPECT_EQ(g.nodes.size(), 4u);
}

// DequantizeLinear -> [f] -> QuantizeLinear on 8-bit codes (other tools' QDQ files between their
// convs; QLinearLeakyRelu and QLinearSigmoid as imported) becomes one effvit.Requantize: every one
// of the 256 input codes gives the chain's bytes, in the reference and in the plan's vector kernel,
// for each pair of 8-bit types and each f. The scales put results on rounding ties (half to even
// both ways) and past both ends of the range.
Graph requantize_chain(DType in, DType out, const std::string& function, float in_scale, float out_scale, bool relu_also_output,
                       bool per_channel) {
  GraphBuilder b;
  const ValueId x = b.input("x", in, {1, 4, 8, 8});
  const ValueId zx = in == DType::i8 ? b.constant("zx", Tensor::from_vector<int8_t>({}, {-3})) : b.constant("zx", Tensor::from_vector<uint8_t>({}, {131}));
  const ValueId sx = per_channel ? b.constant("sx", f32s({4}, {in_scale, in_scale, in_scale, in_scale})) : b.constant("sx", f32s({}, {in_scale}));
  const ValueId zx_used = per_channel ? b.constant("zx4", in == DType::i8 ? Tensor::from_vector<int8_t>({4}, {-3, -3, -3, -3})
                                                                           : Tensor::from_vector<uint8_t>({4}, {131, 131, 131, 131}))
                                      : zx;
  ValueId v = b.node("DequantizeLinear", {x, sx, zx_used});
  if (!function.empty()) v = b.node(function, {v}, function == "LeakyRelu" ? Attrs{{"alpha", float_attr(0.3f)}} : Attrs{});
  if (relu_also_output) b.output(v);
  const ValueId zy = out == DType::i8 ? b.constant("zy", Tensor::from_vector<int8_t>({}, {5})) : b.constant("zy", Tensor::from_vector<uint8_t>({}, {7}));
  b.output(b.node("QuantizeLinear", {v, b.constant("sy", f32s({}, {out_scale})), zy}));
  return specialize(b.graph, {{1, 4, 8, 8}});
}

TEST(FoldRequantize, OneNodeSameBytesForEveryCode) {
  for (DType in : {DType::u8, DType::i8})
    for (DType out : {DType::u8, DType::i8})
      for (const std::string function : {"", "Relu", "LeakyRelu", "Sigmoid"})
        for (auto [in_scale, out_scale] : {std::pair{0.5f, 1.f}, std::pair{0.25f, 0.5f}, std::pair{0.1f, 0.037f}, std::pair{0.02f, 0.9f}}) {
          SCOPED_TRACE(std::string(dtype_name(in)) + " -> " + dtype_name(out) + " " + function + " scales " +
                       std::to_string(in_scale) + " " + std::to_string(out_scale));
          const Graph before = requantize_chain(in, out, function, in_scale, out_scale, false, false);
          Graph after = before;
          ASSERT_EQ(fold_requantize(after), 1);
          ASSERT_EQ(after.nodes.size(), 1u);
          EXPECT_EQ(after.nodes[0].op, "effvit.Requantize");
          Tensor codes(in, {1, 4, 8, 8});
          auto* bytes = static_cast<uint8_t*>(codes.raw());
          for (int64_t i = 0; i < codes.numel(); ++i) bytes[i] = static_cast<uint8_t>(i);
          expect_same_bytes(before, after, codes);
        }
}

TEST(FoldRequantize, LeavesWhatItCannotFold) {
  // The Relu's float output has another reader; per-channel dequantization.
  Graph shared = requantize_chain(DType::u8, DType::u8, "Relu", 0.1f, 0.05f, true, false);
  EXPECT_EQ(fold_requantize(shared), 0);
  Graph per_channel = requantize_chain(DType::u8, DType::u8, "", 0.1f, 0.05f, false, true);
  EXPECT_EQ(fold_requantize(per_channel), 0);
}

// An integer conv writing 8-bit codes read only by an effvit.Requantize (another tool's conv ->
// Q -> DQ -> Relu -> Q) takes in the Requantize as a code table: the same bytes as before, in the
// reference and in the plan, for a 1x1 conv on one pixel (effvit's 8-bit pointwise kernel where
// the CPU has it) and on 5x5 pixels (oneDNN's conv, then the table), each output type, with and
// without the Relu.
Graph conv_requantize_chain(int64_t hw, DType out, const std::string& function, bool codes_also_output, std::mt19937& rng) {
  GraphBuilder b;
  const int64_t c = 32;
  const ValueId x = b.input("x", DType::u8, {1, c, hw, hw});
  std::vector<int8_t> w(static_cast<size_t>(c * c));
  for (int8_t& v : w) v = static_cast<int8_t>(rng());
  std::vector<int32_t> bias(static_cast<size_t>(c));
  for (int32_t& v : bias) v = static_cast<int32_t>(rng() % 20001) - 10000;
  std::vector<float> w_scale(static_cast<size_t>(c));
  for (float& v : w_scale) v = 0.001f * static_cast<float>(1 + rng() % 9);
  const ValueId codes = b.node("Conv",
                               {x, b.constant("w", Tensor::from_vector<int8_t>({c, c, 1, 1}, w)), b.constant("b", Tensor::from_vector<int32_t>({c}, bias)),
                                b.constant("ws", f32s({c}, w_scale))},
                               Attrs{{"effvit.x_scale", float_attr(0.02f)}, {"effvit.y_scale", float_attr(0.1f)}, {"effvit.y_zero_point", int_attr(120)}});
  if (codes_also_output) b.output(codes);
  const ValueId zy = out == DType::i8 ? b.constant("zy", Tensor::from_vector<int8_t>({}, {-5})) : b.constant("zy", Tensor::from_vector<uint8_t>({}, {3}));
  Attrs requantize;
  if (!function.empty()) requantize["function"] = string_attr(function);
  b.output(b.node("effvit.Requantize",
                  {codes, b.constant("sc", f32s({}, {0.1f})), b.constant("zc", Tensor::from_vector<uint8_t>({}, {120})), b.constant("sy", f32s({}, {0.07f})), zy},
                  requantize));
  return specialize(b.graph, {{1, c, hw, hw}});
}

TEST(FoldRequantizeIntoConv, TheConvMapsItsCodesThroughTheTable) {
  std::mt19937 rng(131);
  for (const int64_t hw : {int64_t{1}, int64_t{5}})
    for (DType out : {DType::u8, DType::i8})
      for (const std::string function : {"", "Relu"}) {
        SCOPED_TRACE(std::to_string(hw) + "x" + std::to_string(hw) + " -> " + dtype_name(out) + " " + function);
        const Graph before = conv_requantize_chain(hw, out, function, false, rng);
        Graph after = before;
        ASSERT_EQ(fold_requantize_into_conv(after), 1);
        ASSERT_EQ(after.nodes.size(), 1u);
        EXPECT_EQ(after.nodes[0].op, "Conv");
        EXPECT_EQ(after.nodes[0].attr_ints("effvit.table").size(), 256u);
        for (int trial = 0; trial < 3; ++trial) {
          Tensor x(DType::u8, {1, 32, hw, hw});
          for (int64_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
          // Plan against plan: the integer conv's kernel rounds with its combined scale (a code
          // exactly between two steps may differ from the reference's), the same before and after.
          expect_identical(interpret(after, {x}).at(0), interpret(before, {x}).at(0), "reference");
          expect_identical(Plan(after, KernelOptions{}).run({x}).at(0), Plan(before, KernelOptions{}).run({x}).at(0), "plan");
        }
      }
}

TEST(FoldRequantizeIntoConv, LeavesCodesThatOthersRead) {
  std::mt19937 rng(132);
  Graph g = conv_requantize_chain(1, DType::u8, "Relu", true, rng);
  EXPECT_EQ(fold_requantize_into_conv(g), 0);
}

// An integer conv whose 8-bit codes only an effvit.QuantizedAdd reads adds the residual itself:
// the same bytes as before, in the reference and in the plan, for a 1x1 conv on one pixel (effvit's
// 8-bit pointwise kernel where the CPU has it) and on 5x5 pixels (oneDNN's conv, then the add
// kernel), the conv's codes as either operand, each residual and sum type. Scales put sums on ties.
Graph conv_add_chain(int64_t hw, bool conv_first, DType residual, DType sum, bool codes_also_output, std::mt19937& rng,
                     bool residual_made_after = false) {
  GraphBuilder b;
  const int64_t c = 32;
  const ValueId x = b.input("x", DType::u8, {1, c, hw, hw});
  ValueId r = b.input("r", residual, {1, c, hw, hw});
  std::vector<int8_t> w(static_cast<size_t>(c * c));
  for (int8_t& v : w) v = static_cast<int8_t>(rng());
  std::vector<float> w_scale(static_cast<size_t>(c));
  for (float& v : w_scale) v = 0.001f * static_cast<float>(1 + rng() % 9);
  const ValueId codes = b.node("Conv", {x, b.constant("w", Tensor::from_vector<int8_t>({c, c, 1, 1}, w)), kNoValue, b.constant("ws", f32s({c}, w_scale))},
                               Attrs{{"effvit.x_scale", float_attr(0.02f)}, {"effvit.y_scale", float_attr(0.25f)}, {"effvit.y_zero_point", int_attr(120)}});
  if (codes_also_output) b.output(codes);
  const auto zero = [&](const char* name, DType t, int v) {
    return t == DType::i8 ? b.constant(name, Tensor::from_vector<int8_t>({}, {static_cast<int8_t>(v - 128)}))
                          : b.constant(name, Tensor::from_vector<uint8_t>({}, {static_cast<uint8_t>(v)}));
  };
  // The residual computed by a node listed after the conv (a shortcut exported after its branch).
  if (residual_made_after)
    r = b.node("effvit.Requantize", {r, b.constant("sq", f32s({}, {0.25f})), zero("zq", residual, 128), b.constant("sq2", f32s({}, {0.125f})),
                                     zero("zq2", residual, 128)});
  const std::vector<ValueId> own{codes, b.constant("sc", f32s({}, {0.25f})), zero("zc", DType::u8, 120)};
  const std::vector<ValueId> other{r, b.constant("sr", f32s({}, {0.125f})), zero("zr", residual, 131)};
  const std::vector<ValueId>& first = conv_first ? own : other;
  const std::vector<ValueId>& second = conv_first ? other : own;
  b.output(b.node("effvit.QuantizedAdd", {first[0], first[1], first[2], second[0], second[1], second[2], b.constant("sy", f32s({}, {0.5f})),
                                          zero("zy", sum, 125)}));
  return specialize(b.graph, {{1, c, hw, hw}, {1, c, hw, hw}});
}

TEST(FoldQuantizedAddIntoConv, TheConvAddsTheResidual) {
  std::mt19937 rng(133);
  for (const int64_t hw : {int64_t{1}, int64_t{5}})
    for (const bool conv_first : {true, false})
      for (DType residual : {DType::u8, DType::i8})
        for (DType sum : {DType::u8, DType::i8}) {
          SCOPED_TRACE(std::to_string(hw) + "x" + std::to_string(hw) + (conv_first ? " conv first " : " residual first ") +
                       dtype_name(residual) + " -> " + dtype_name(sum));
          const Graph before = conv_add_chain(hw, conv_first, residual, sum, false, rng);
          Graph after = before;
          ASSERT_EQ(fold_quantized_add_into_conv(after), 1);
          ASSERT_EQ(after.nodes.size(), 1u);
          EXPECT_EQ(after.nodes[0].op, "Conv");
          EXPECT_TRUE(has_residual(after.nodes[0]));
          for (int trial = 0; trial < 3; ++trial) {
            Tensor x(DType::u8, {1, 32, hw, hw}), r(residual, {1, 32, hw, hw});
            for (int64_t i = 0; i < x.numel(); ++i) static_cast<uint8_t*>(x.raw())[i] = static_cast<uint8_t>(rng());
            for (int64_t i = 0; i < r.numel(); ++i) static_cast<uint8_t*>(r.raw())[i] = static_cast<uint8_t>(rng());
            // Plan against plan, as for the folded Requantize above.
            expect_identical(interpret(after, {x, r}).at(0), interpret(before, {x, r}).at(0), "reference");
            expect_identical(Plan(after, KernelOptions{}).run({x, r}).at(0), Plan(before, KernelOptions{}).run({x, r}).at(0), "plan");
          }
        }
}

// The fused conv takes the Add's place: a residual made by a node after the conv is computed first
// (a review found the conv left in place reading it before it was written).
TEST(FoldQuantizedAddIntoConv, ResidualMadeAfterTheConv) {
  std::mt19937 rng(135);
  for (const int64_t hw : {int64_t{1}, int64_t{5}}) {
    const Graph before = conv_add_chain(hw, true, DType::u8, DType::u8, false, rng, true);
    Graph after = before;
    ASSERT_EQ(fold_quantized_add_into_conv(after), 1);
    ASSERT_EQ(after.nodes.size(), 2u);
    EXPECT_EQ(after.nodes[0].op, "effvit.Requantize");
    EXPECT_EQ(after.nodes[1].op, "Conv");
    Tensor x(DType::u8, {1, 32, hw, hw}), r(DType::u8, {1, 32, hw, hw});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
    for (int64_t i = 0; i < r.numel(); ++i) r.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
    expect_identical(interpret(after, {x, r}).at(0), interpret(before, {x, r}).at(0), "reference");
    expect_identical(Plan(after, KernelOptions{}).run({x, r}).at(0), Plan(before, KernelOptions{}).run({x, r}).at(0), "plan");
  }
}

TEST(FoldQuantizedAddIntoConv, LeavesCodesThatOthersRead) {
  std::mt19937 rng(134);
  Graph g = conv_add_chain(1, true, DType::u8, DType::u8, true, rng);
  EXPECT_EQ(fold_quantized_add_into_conv(g), 0);
}

// DequantizeLinear(a), DequantizeLinear(b) -> Add -> QuantizeLinear (a QDQ file's residual
// connection) becomes one effvit.QuantizedAdd: every code gives the chain's bytes, in the reference
// and in the plan's kernel; halves as scales put sums on exact ties. Both operands read the one
// input here, through different grids.
Graph quantized_add_chain(float a_scale, float b_scale, float y_scale, bool sum_also_output) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::u8, {1, 4, 8, 8});
  auto code = [&](const char* name, uint8_t z) { return b.constant(name, Tensor::from_vector<uint8_t>({}, {z})); };
  const ValueId fa = b.node("DequantizeLinear", {x, b.constant("sa", f32s({}, {a_scale})), code("za", 131)});
  const ValueId fb = b.node("DequantizeLinear", {x, b.constant("sb", f32s({}, {b_scale})), code("zb", 3)});
  const ValueId sum = b.node("Add", {fa, fb});
  if (sum_also_output) b.output(sum);
  b.output(b.node("QuantizeLinear", {sum, b.constant("sy", f32s({}, {y_scale})), code("zy", 120)}));
  return specialize(b.graph, {{1, 4, 8, 8}});
}

TEST(FoldQuantizedAdd, OneNodeSameBytesForEveryCode) {
  for (auto [a_scale, b_scale, y_scale] : {std::tuple{0.5f, 0.5f, 1.f}, std::tuple{0.0137f, 0.0291f, 0.0383f}, std::tuple{0.1f, 0.2f, 0.001f}}) {
    SCOPED_TRACE("scales " + std::to_string(a_scale) + " " + std::to_string(b_scale) + " " + std::to_string(y_scale));
    const Graph before = quantized_add_chain(a_scale, b_scale, y_scale, false);
    Graph after = before;
    ASSERT_EQ(fold_quantized_add(after), 1);
    ASSERT_EQ(after.nodes.size(), 1u);
    EXPECT_EQ(after.nodes[0].op, "effvit.QuantizedAdd");
    Tensor codes(DType::u8, {1, 4, 8, 8});
    for (int64_t i = 0; i < codes.numel(); ++i) codes.data<uint8_t>()[i] = static_cast<uint8_t>(i);
    expect_same_bytes(before, after, codes);
  }
  // The float sum has another reader: it stays.
  Graph shared = quantized_add_chain(0.1f, 0.2f, 0.3f, true);
  EXPECT_EQ(fold_quantized_add(shared), 0);
}

// A Q -> DQ pair (16- or 8-bit) becomes one effvit.QuantizeDequantize with the same bytes out; a Q
// whose codes something else reads stays.
Graph qdq_pair(DType code, bool codes_also_output) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {1, 3, 4, 4});
  const ValueId s = b.constant("s", f32s({}, {0.01f}));
  const ValueId z = code == DType::i16 ? b.constant("z", Tensor::from_vector<int16_t>({}, {-77}))
                                       : b.constant("z", Tensor::from_vector<uint8_t>({}, {100}));
  const ValueId q = b.node("QuantizeLinear", {x, s, z});
  if (codes_also_output) b.output(q);
  b.output(b.node("DequantizeLinear", {q, s, z}));
  return specialize(b.graph, {{1, 3, 4, 4}});
}

TEST(FoldQuantizeDequantize, PairsWhoseCodesNothingElseReads) {
  std::mt19937 rng(5);
  for (DType code : {DType::i16, DType::u8}) {
    const Graph before = qdq_pair(code, false);
    Graph after = before;
    ASSERT_EQ(fold_quantize_dequantize(after), 1);
    ASSERT_EQ(after.nodes.size(), 1u);
    EXPECT_EQ(after.nodes[0].op, "effvit.QuantizeDequantize");
    expect_same_bytes(before, after, random_f32({1, 3, 4, 4}, rng, -400.f, 400.f));  // past both ranges at 0.01
    Graph shared = qdq_pair(code, true);
    EXPECT_EQ(fold_quantize_dequantize(shared), 0);
  }
}

// The round trip ONNX Runtime puts after a Transpose or Reshape moves above it; the results stay
// bit for bit, and the Transpose is again next to its MatMul.
TEST(HoistQuantizeDequantize, AboveTransposeAndReshapeSameBytes) {
  std::mt19937 rng(31);
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {2, 4, 6});
  const ValueId flat = b.node("Reshape", {x, b.constant("shape", i64s({2, 6, 4}))});
  const ValueId t = b.node("Transpose", {flat}, {{"perm", ints_attr({0, 2, 1})}});
  const ValueId s = b.constant("s", f32s({}, {0.05f}));
  const ValueId z = b.constant("z", Tensor::from_vector<uint8_t>({}, {128}));
  const ValueId rounded = b.node("DequantizeLinear", {b.node("QuantizeLinear", {t, s, z}), s, z});
  b.output(b.node("MatMul", {rounded, b.constant("w", random_f32({6, 3}, rng))}));
  // A Reshape whose output the graph also returns: its round trip stays after it.
  const ValueId shared = b.node("Reshape", {x, b.constant("shape2", i64s({48}))});
  b.output(shared);
  b.output(b.node("DequantizeLinear", {b.node("QuantizeLinear", {shared, s, z}), s, z}));
  Graph g = specialize(b.graph, {{2, 4, 6}});
  const Graph before = g;
  ASSERT_EQ(fold_quantize_dequantize(g), 2);
  EXPECT_EQ(hoist_quantize_dequantize(g), 2);  // above the Transpose, then above the first Reshape
  const Node& first = g.nodes.front();
  EXPECT_EQ(first.op, "effvit.QuantizeDequantize");
  EXPECT_EQ(first.inputs[0], x);
  EXPECT_EQ(fold_transpose_into_matmul(g), 1);
  const Tensor x_in = random_f32({2, 4, 6}, rng, -8.f, 8.f);
  const std::vector<Tensor> want = interpret(before, {x_in}), got = interpret(g, {x_in});
  for (size_t i = 0; i < want.size(); ++i) expect_identical(got[i], want[i], "output " + std::to_string(i));
  // The plan's MatMul sums in oneDNN's order.
  Plan plan(g, KernelOptions{});
  expect_close(plan.run({x_in}).at(0), want[0], 1e-5, "plan");
}

// ONNX Runtime's default QDQ: int8 activations with non-zero zero points. Read only by
// DequantizeLinears they become uint8 with the zero point 128 higher: the same bytes out (values
// past the int8 range saturate the same), and the conv then folds into an integer conv.
struct Int8QdqConv {
  Graph graph;
  ValueId quantized;
};

Int8QdqConv int8_qdq_conv(std::mt19937& rng, int8_t zero, int8_t reader_zero, bool extra_reshape, bool quantized_output) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {1, 16, 5, 5});
  const ValueId sx = b.constant("sx", f32s({}, {0.02f}));
  const ValueId zx = b.constant("zx", Tensor::from_vector<int8_t>({}, {zero}));
  const ValueId xq = b.node("QuantizeLinear", {x, sx, zx});
  const ValueId zr = reader_zero == zero ? zx : b.constant("zr", Tensor::from_vector<int8_t>({}, {reader_zero}));
  const ValueId xd = b.node("DequantizeLinear", {xq, sx, zr});
  Tensor wq(DType::i8, {32, 16, 1, 1});
  std::uniform_int_distribution<int> weight(-127, 127);
  for (int64_t i = 0; i < wq.numel(); ++i) wq.data<int8_t>()[i] = static_cast<int8_t>(weight(rng));
  const ValueId wd = b.node("DequantizeLinear", {b.constant("wq", wq), b.constant("sw", f32s({}, {0.01f})),
                                                 b.constant("zw", Tensor::from_vector<int8_t>({}, {0}))});
  b.output(b.node("Conv", {xd, wd}));
  if (extra_reshape) b.output(b.node("Reshape", {xq, b.constant("flat", i64s({1, -1}))}));
  if (quantized_output) b.output(xq);
  return {b.graph, xq};
}

TEST(ShiftInt8Activations, ReadOnlyByDequantizeBecomesUint8SameBytes) {
  std::mt19937 rng(98);
  const Int8QdqConv m = int8_qdq_conv(rng, -3, -3, false, false);
  // As a Model runs it: on the structural graph, before specialisation folds the weights' DQ.
  Graph g = m.graph;
  const Graph before = g;
  ASSERT_EQ(shift_int8_activations_to_uint8(g), 1);
  EXPECT_EQ(g.value(m.quantized).dtype, DType::u8);
  for (const Node& n : g.nodes)
    if (n.op == "QuantizeLinear" || (n.op == "DequantizeLinear" && n.inputs[0] == m.quantized)) {
      ASSERT_EQ(g.value(n.inputs[2]).dtype, DType::u8) << n.describe();
      EXPECT_EQ(g.value(n.inputs[2]).constant.data<uint8_t>()[0], 125) << n.describe();
    }
  // Inputs from far below to far above the int8 range: saturation at both ends.
  const Tensor x = random_f32({1, 16, 5, 5}, rng, -4.f, 4.f);
  expect_identical(interpret(g, {x}).at(0), interpret(before, {x}).at(0), "shifted against int8");
  Graph folded = g;
  EXPECT_EQ(fold_qdq_into_conv(folded), 1) << "the uint8 activation did not fold into an integer conv";
  Graph unshifted = before;
  EXPECT_EQ(fold_qdq_into_conv(unshifted), 0) << "int8 with a zero point folds without the shift: the test shows nothing";
}

TEST(ShiftInt8Activations, LeavesWhatOthersReadOrNeedsNoShift) {
  std::mt19937 rng(99);
  struct Case {
    const char* what;
    int8_t zero, reader_zero;
    bool reshape, output;
  };
  for (const Case& c : {Case{"zero point 0", 0, 0, false, false}, Case{"a Reshape reads the int8 tensor", -3, -3, true, false},
                        Case{"the int8 tensor is a graph output", -3, -3, false, true},
                        Case{"a reader with another zero point", -3, 5, false, false}}) {
    const Int8QdqConv m = int8_qdq_conv(rng, c.zero, c.reader_zero, c.reshape, c.output);
    Graph g = m.graph;
    EXPECT_EQ(shift_int8_activations_to_uint8(g), 0) << c.what;
    for (const Node& n : g.nodes)
      if (n.op == "QuantizeLinear") EXPECT_EQ(g.value(n.inputs[2]).dtype, DType::i8) << c.what;
  }
}

}  // namespace
}  // namespace effvit
