// Quantization building blocks: the calibration histogram's percentile against a sorted reference,
// and BatchNorm folding on ONNX protos against running the unfolded model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "effvit/model.h"
#include "onnx/onnx_pb.h"
#include "import/onnx_import.h"
#include "passes/passes.h"
#include "quant/qdq_model.h"
#include "runtime/plan.h"
#include "quant/range_observer.h"
#include "onnx_builder.h"
#include "test_util.h"

namespace effvit::quant {
namespace {

using namespace effvit::test;

TEST(RangeObserver, PercentileWithinOneBinOfTheSortedReference) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 5; ++trial) {
    RangeObserver obs;
    std::vector<float> all;
    // Batches of growing spread, so the histogram has to widen (and merge bins) as it goes.
    for (int batch = 0; batch < 6; ++batch) {
      std::normal_distribution<float> dist(0.f, 0.5f * static_cast<float>(batch + 1));
      std::vector<float> v(5000);
      for (float& x : v) x = dist(rng);
      if (batch == 4) v[17] = 60.f;  // one outlier the percentile must ignore and the max must not
      obs.observe(v.data(), v.size());
      all.insert(all.end(), v.begin(), v.end());
    }
    std::vector<float> mags(all.size());
    std::transform(all.begin(), all.end(), mags.begin(), [](float x) { return std::fabs(x); });
    std::sort(mags.begin(), mags.end());
    EXPECT_EQ(obs.abs_bound(1.0), 60.f);
    EXPECT_EQ(obs.max(), 60.f);
    EXPECT_LT(obs.min(), 0.f);
    for (double p : {0.5, 0.9, 0.999, 0.99999}) {
      const float want = mags[static_cast<size_t>(std::ceil(p * static_cast<double>(mags.size()))) - 1];
      const float bin = 120.f / RangeObserver::kBins;  // its range doubles from the first batch's max: under 2 x 60
      EXPECT_GE(obs.abs_bound(p), want - 1e-6f) << p;
      EXPECT_LE(obs.abs_bound(p), want + bin) << p;
    }
  }
  RangeObserver zeros;
  const std::vector<float> z(10, 0.f);
  zeros.observe(z.data(), z.size());
  EXPECT_EQ(zeros.abs_bound(0.99), 0.f);
  EXPECT_GE(zeros.min(), 0.f);
}

// KL and MSE trade clipping against resolution. On a Gaussian both keep (nearly) its whole range.
// A lone far outlier (40) max must keep; MSE trims it part way (clipping it to 20-32 costs less than
// everyone's coarser steps at 40), KL, which compares the histogram's shape, clips it to the bulk.
// Twenty outliers cost MSE more clipped (20 x 36^2) than kept, so it keeps them; KL still clips. ReLU's zeros (half the values) must not drag KL's bound down:
// exact zeros are exact at any scale.
TEST(RangeObserver, KlAndMseTradeClippingAgainstResolution) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (const bool relu : {false, true}) {
    const int steps = relu ? 255 : 128;
    std::vector<float> bulk(200000);
    for (float& x : bulk) x = relu ? std::max(0.f, dist(rng)) : dist(rng);
    auto observed = [&](int outliers) {
      std::vector<float> v = bulk;
      for (int i = 0; i < outliers; ++i) v[static_cast<size_t>(i) * 997] = relu || i % 2 ? 40.f : -40.f;
      RangeObserver o;
      o.observe(v.data(), v.size());
      return o;
    };
    const RangeObserver gaussian = observed(0), one = observed(1), twenty = observed(20);
    for (const float b : {gaussian.kl_bound(steps), gaussian.mse_bound(steps)}) {
      EXPECT_GT(b, 3.f) << "relu " << relu;  // most of a unit Gaussian's ~4.5 sigma range
      EXPECT_LE(b, gaussian.abs_bound(1.0));
    }
    EXPECT_EQ(one.abs_bound(1.0), 40.f);
    for (const float b : {one.kl_bound(steps), twenty.kl_bound(steps)}) {
      EXPECT_GT(b, 2.5f) << "relu " << relu;
      EXPECT_LT(b, 20.f) << "relu " << relu;  // the outliers are clipped
    }
    EXPECT_LT(one.mse_bound(steps), 38.f) << "relu " << relu;
    EXPECT_GT(one.mse_bound(steps), 10.f) << "relu " << relu;
    EXPECT_GT(twenty.mse_bound(steps), 38.f) << "relu " << relu;
  }
  // Exact zeros (ReLU outputs) are exact at any scale: adding any number of them moves neither bound.
  std::exponential_distribution<float> exp1(1.f);
  std::vector<float> values(50000);
  for (float& x : values) x = exp1(rng);
  RangeObserver plain, with_zeros;
  plain.observe(values.data(), values.size());
  with_zeros.observe(values.data(), values.size());
  const std::vector<float> many_zeros(500000, 0.f);
  with_zeros.observe(many_zeros.data(), many_zeros.size());
  EXPECT_EQ(with_zeros.mse_bound(255), plain.mse_bound(255));
  EXPECT_EQ(with_zeros.kl_bound(255), plain.kl_bound(255));
  RangeObserver zeros;
  const std::vector<float> z(10, 0.f);
  zeros.observe(z.data(), z.size());
  EXPECT_EQ(zeros.kl_bound(128), 0.f);
  EXPECT_EQ(zeros.mse_bound(128), 0.f);
}

// num_bin: KL searched on a coarser histogram gives a bound on that histogram's bin edges, still
// clipping the outlier and keeping the bulk; the full resolution is the default.
TEST(RangeObserver, KlOnACoarserHistogram) {
  std::mt19937 rng(8);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(200000);
  for (float& x : v) x = dist(rng);
  v[0] = 40.f;
  RangeObserver o;
  o.observe(v.data(), v.size());
  EXPECT_EQ(o.kl_bound(128), o.kl_bound(128, RangeObserver::kBins));
  for (const size_t bins : {512u, 1024u, 2048u}) {
    const float b = o.kl_bound(128, bins);
    EXPECT_GT(b, 2.5f) << bins;
    EXPECT_LT(b, 20.f) << bins;
    const float edge = o.histogram_range() / static_cast<float>(bins);
    EXPECT_NEAR(b / edge, std::round(b / edge), 1e-3) << bins;
  }
  EXPECT_THROW(o.kl_bound(128, 100), Error);
  // Uniform values lose nothing by keeping their whole range: the edge at the maximum is always a
  // candidate, whatever the stride from `levels` lands on.
  std::uniform_real_distribution<float> uniform(0.f, 1.f);
  for (float& x : v) x = uniform(rng);
  v[1] = 1.f;
  RangeObserver flat;
  flat.observe(v.data(), v.size());
  for (const size_t bins : {512u, 2048u, 4096u}) EXPECT_EQ(flat.kl_bound(255, bins), 1.f) << bins;
}

// x -> Conv 3x3 (bias) -> BatchNormalization -> Relu -> Conv 1x1 (no bias) -> BatchNormalization.
onnx::ModelProto conv_bn_model() {
  std::mt19937 rng(6);
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto& g = *m.mutable_graph();
  g.set_name("conv_bn");
  auto* in = g.add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {1, 4, 6, 6}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  g.add_output()->set_name("y");
  g.mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {1, 8, 6, 6}) g.mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  add_initializer(g, "w1", random_f32({8, 4, 3, 3}, rng));
  add_initializer(g, "b1", random_f32({8}, rng));
  add_initializer(g, "w2", random_f32({8, 8, 1, 1}, rng));
  for (const char* bn : {"bn1", "bn2"}) {
    add_initializer(g, std::string(bn) + "_scale", random_f32({8}, rng, 0.5f, 2.f));
    add_initializer(g, std::string(bn) + "_bias", random_f32({8}, rng));
    add_initializer(g, std::string(bn) + "_mean", random_f32({8}, rng));
    add_initializer(g, std::string(bn) + "_var", random_f32({8}, rng, 0.1f, 3.f));
  }
  auto node = [&](const std::string& op, std::vector<std::string> ins, const std::string& out) { return add_node(g, op, ins, out); };
  add_ints_attribute(*node("Conv", {"x", "w1", "b1"}, "c1"), "pads", {1, 1, 1, 1});
  node("BatchNormalization", {"c1", "bn1_scale", "bn1_bias", "bn1_mean", "bn1_var"}, "n1");
  node("Relu", {"n1"}, "r1");
  node("Conv", {"r1", "w2"}, "c2");
  node("BatchNormalization", {"c2", "bn2_scale", "bn2_bias", "bn2_mean", "bn2_var"}, "y");
  return m;
}

TEST(QdqModel, BatchNormFoldingKeepsTheResult) {
  onnx::ModelProto original = conv_bn_model();
  onnx::ModelProto folded = original;
  EXPECT_EQ(fold_batchnorm_into_conv(folded), 2);
  for (const auto& n : folded.graph().node()) EXPECT_NE(n.op_type(), "BatchNormalization");
  EXPECT_EQ(folded.graph().node_size(), 3);
  const std::string a = original.SerializeAsString(), b = folded.SerializeAsString();
  std::mt19937 rng(7);
  const Tensor x = random_f32({1, 4, 6, 6}, rng);
  const Tensor want = Session(Model::load_from_memory(a.data(), a.size())).run(x);
  const Tensor got = Session(Model::load_from_memory(b.data(), b.size())).run(x);
  expect_close(got, want, 1e-5);
}

// x [1,2,4,4] -> Conv 1x1 with bias. Output channel 0 has near-dead weights (1e-9) and bias 2.0:
// at activation scale 0.01 its int32 bias would need 2.0 / (0.01 * 1e-9 / 64), far past int32.
onnx::ModelProto dead_channel_model() {
  onnx::ModelProto m = model_x_to_y("dead_channel", {1, 2, 4, 4}, {1, 2, 4, 4});
  auto& g = *m.mutable_graph();
  Tensor w(DType::f32, {2, 2, 1, 1}), b(DType::f32, {2});
  const float wv[] = {1e-9f, -1e-9f, 0.5f, -0.25f}, bv[] = {2.f, 0.125f};
  std::copy(wv, wv + 4, w.data<float>());
  std::copy(bv, bv + 2, b.data<float>());
  add_initializer(g, "w", w);
  add_initializer(g, "b", b);
  add_node(g, "Conv", {"x", "w", "b"}, "y");
  return m;
}

template <typename T>
std::vector<T> initializer_values(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) {
      std::vector<T> v(t.raw_data().size() / sizeof(T));
      std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(T));
      return v;
    }
  ADD_FAILURE() << "no initializer " << name;
  return {};
}

TEST(QdqModel, ASaturatingBiasWidensThatChannelsWeightScale) {
  for (bool per_channel : {true, false}) {
    onnx::ModelProto m = dead_channel_model();
    QuantConfig config;
    const std::vector<QuantTarget> targets = find_targets(m, config);
    ASSERT_EQ(targets.size(), 1u);
    ActivationQuant a;
    a.scale = 0.01f;
    a.is_unsigned = true;
    a.zero_point = 128;
    std::vector<std::string> notes;
    insert_qdq(m, targets, {{"x", a}}, 64, per_channel, &notes);
    const std::vector<int32_t> bq = initializer_values<int32_t>(m, "effvit_q/y/bias/quantized");
    const std::vector<float> b_scale = initializer_values<float>(m, "effvit_q/y/bias/scale");
    const std::vector<float> w_scale = initializer_values<float>(m, "effvit_q/y/weight/scale");
    ASSERT_EQ(bq.size(), 2u);
    // Both biases come back from their int32 values, none clamped.
    EXPECT_NEAR(bq[0] * b_scale[0], 2.f, 1e-6f) << per_channel;
    EXPECT_NEAR(bq[1] * b_scale[per_channel ? 1 : 0], 0.125f, 1e-6f) << per_channel;
    EXPECT_LT(std::abs(static_cast<int64_t>(bq[0])), int64_t{INT32_MAX}) << per_channel;
    // Per channel, only the dead channel's scale moved; the healthy one keeps max|w| / 64.
    // One scale per tensor is the healthy channel's, which holds both biases: nothing to widen.
    if (per_channel) {
      EXPECT_FLOAT_EQ(w_scale[1], 0.5f / 64);
      ASSERT_EQ(notes.size(), 1u);
      EXPECT_NE(notes[0].find("channel 0"), std::string::npos) << notes[0];
    } else {
      EXPECT_TRUE(notes.empty());
    }
    // And the engine's int8 run gives channel 0 its bias of 2 (the weights are ~0).
    const std::string bytes = m.SerializeAsString();
    Tensor x(DType::f32, {1, 2, 4, 4});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 0.01f * static_cast<float>(i % 7);
    const Tensor y = Session(Model::load_from_memory(bytes.data(), bytes.size())).run(x);
    for (int64_t i = 0; i < 16; ++i) EXPECT_NEAR(y.data<float>()[i], 2.f, 1e-3f) << i;
  }
}

// One scale per tensor (per_channel False, or opset < 13) whose every weight is tiny: the one scale
// widens for the largest bias, and the note says so once.
TEST(QdqModel, ASaturatingBiasWidensAPerTensorScale) {
  onnx::ModelProto m = dead_channel_model();
  for (auto& t : *m.mutable_graph()->mutable_initializer())
    if (t.name() == "w") {
      const float tiny[] = {1e-9f, -1e-9f, 2e-9f, 1e-9f};
      t.set_raw_data(std::string(reinterpret_cast<const char*>(tiny), sizeof tiny));
    }
  ActivationQuant a;
  a.scale = 0.01f;
  std::vector<std::string> notes;
  insert_qdq(m, find_targets(m, QuantConfig{}), {{"x", a}}, 64, false, &notes);
  const std::vector<int32_t> bq = initializer_values<int32_t>(m, "effvit_q/y/bias/quantized");
  const std::vector<float> b_scale = initializer_values<float>(m, "effvit_q/y/bias/scale");
  ASSERT_EQ(bq.size(), 2u);
  ASSERT_EQ(b_scale.size(), 1u);
  EXPECT_NEAR(bq[0] * b_scale[0], 2.f, 1e-6f);
  EXPECT_NEAR(bq[1] * b_scale[0], 0.125f, 1e-6f);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("the tensor (bias 2:"), std::string::npos) << notes[0];
  EXPECT_EQ(notes[0].find("the tensor", notes[0].find("the tensor") + 1), std::string::npos) << notes[0];
}

TEST(QdqModel, Int16AndCpuNodesStayInFloat) {
  onnx::ModelProto m = dead_channel_model();
  QuantConfig config;
  ASSERT_EQ(find_targets(m, config).size(), 1u);
  config.node_info["y"].input_bits = 16;
  EXPECT_TRUE(find_targets(m, config).empty());
  config.node_info["y"] = NodePrecision{};
  config.node_info["y"].output_bits = 16;
  EXPECT_TRUE(find_targets(m, config).empty());
  config.node_info["y"] = NodePrecision{};
  config.node_info["y"].integer = false;
  EXPECT_TRUE(find_targets(m, config).empty());
  config.node_info["y"] = NodePrecision{};
  EXPECT_EQ(find_targets(m, config).size(), 1u);
}

// input_layout_rt NHWC on an NCHW-trained featuremap model: the deployed input is NHWC and gives
// the model the same values as the NCHW tensor it stands for.
TEST(QdqModel, InputLayoutRtGivesTheDeployedInputThatLayout) {
  onnx::ModelProto m = model_x_to_y("identity", {1, 3, 4, 5}, {1, 3, 4, 5});
  add_node(*m.mutable_graph(), "Identity", {"x"}, "y");
  for (InputKind kind : {InputKind::featuremap, InputKind::rgb}) {
    onnx::ModelProto deployed = m;
    QuantConfig config;
    config.path = "test.yaml";
    config.input_type_rt = config.input_type_train = kind;
    config.input_layout_train = "NCHW";
    config.input_layout_rt = "NHWC";
    prepend_preprocessing(deployed, config);
    const std::string bytes = deployed.SerializeAsString();
    const auto model = Model::load_from_memory(bytes.data(), bytes.size(), "layout");
    ASSERT_EQ(model->summary().inputs[0].shape, (Shape{1, 4, 5, 3}));
    const DType type = kind == InputKind::rgb ? DType::u8 : DType::f32;
    Tensor x(type, {1, 4, 5, 3});
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (type == DType::u8) x.data<uint8_t>()[i] = static_cast<uint8_t>(i);
      else x.data<float>()[i] = static_cast<float>(i);
    }
    const Tensor y = Session(model).run(x);
    ASSERT_EQ(y.shape(), (Shape{1, 3, 4, 5}));
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t p = 0; p < 20; ++p) EXPECT_EQ(y.data<float>()[c * 20 + p], static_cast<float>(p * 3 + c));
  }
}

}  // namespace
}  // namespace effvit::quant

namespace effvit::quant {
namespace {

using namespace effvit::test;

// The NV12 conversion `effvit quantize` writes as int32 ONNX ops, run op by op (the graph as
// imported), equals the one effvit.Nv12ToRgb node the engine fuses it into. An edited copy (U and V
// swapped: NV21; channels reordered) must not fuse, and still runs as written.
onnx::ModelProto nv12_identity_model(bool rgb, int opset) {
  onnx::ModelProto m = model_x_to_y("identity", {1, 3, 16, 18}, {1, 3, 16, 18});
  m.mutable_opset_import(0)->set_version(opset);
  add_node(*m.mutable_graph(), "Identity", {"x"}, "y");
  QuantConfig config;
  config.path = "test.yaml";
  config.input_type_rt = InputKind::nv12;
  config.input_type_train = rgb ? InputKind::rgb : InputKind::bgr;
  prepend_preprocessing(m, config);
  return m;
}

void set_int64_initializer(onnx::ModelProto& m, const std::string& name, int64_t value) {
  for (auto& t : *m.mutable_graph()->mutable_initializer())
    if (t.name() == name) t.set_raw_data(std::string(reinterpret_cast<const char*>(&value), sizeof value));
}

void expect_nv12_result(const onnx::ModelProto& m, bool want_fused, const std::string& what) {
  const std::string bytes = m.SerializeAsString();
  Tensor nv12(DType::u8, {1, 24, 18, 1});
  for (int64_t i = 0; i < nv12.numel(); ++i) nv12.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  Plan op_by_op(specialize(import_onnx_bytes(bytes.data(), bytes.size(), "nv12").graph, {{1, 24, 18, 1}}), KernelOptions{});
  const Tensor want = op_by_op.run({nv12}).at(0);
  const auto model = Model::load_from_memory(bytes.data(), bytes.size(), "nv12");
  Session session(model);
  bool fused = false;
  for (const auto& n : session.plan_info({{1, 24, 18, 1}}).nodes) fused = fused || n.op == "effvit.Nv12ToRgb";
  EXPECT_EQ(fused, want_fused) << what;
  expect_identical(session.run(nv12), want, what);
}

TEST(QdqModel, Nv12FusionEqualsTheOnnxOpsAndRefusesEditedCopies) {
  for (const int opset : {11, 13})
    for (const bool rgb : {true, false}) expect_nv12_result(nv12_identity_model(rgb, opset), true, rgb ? "rgb" : "bgr");
  onnx::ModelProto nv21 = nv12_identity_model(true, 13);
  set_int64_initializer(nv21, "effvit_pre/nv12/u_start", 1);
  set_int64_initializer(nv21, "effvit_pre/nv12/u_end", 2);
  set_int64_initializer(nv21, "effvit_pre/nv12/v_start", 0);
  set_int64_initializer(nv21, "effvit_pre/nv12/v_end", 1);
  expect_nv12_result(nv21, false, "U and V swapped");
  onnx::ModelProto rbg = nv12_identity_model(true, 13);
  for (auto& n : *rbg.mutable_graph()->mutable_node())
    if (n.op_type() == "Concat") {
      const std::string g = n.input(1);
      n.set_input(1, n.input(2));
      n.set_input(2, g);
    }
  expect_nv12_result(rbg, false, "channels reordered");
}

}  // namespace
}  // namespace effvit::quant
