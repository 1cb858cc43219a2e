// Sessions sharing one Model: concurrent streams and several batch sizes must give the results a
// lone session gives (they share optimised graphs and packed weights).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <limits>
#include <random>
#include <thread>

#include <omp.h>

#include "cpu/hardware.h"
#include "effvit/model.h"
#include "onnx/onnx_pb.h"
#include "onnx_builder.h"
#include "test_util.h"

namespace effvit {
namespace {

using namespace effvit::test;

// x[N,16,8,8] -> Conv 3x3 (32) -> Relu -> Conv 1x1 (32) -> Add -> GlobalAveragePool -> Flatten -> Gemm (10)
std::string write_model(const std::string& path) {
  std::mt19937 rng(70);
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("small");
  auto* in = g.add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("batch");
  for (int64_t d : {16, 8, 8}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  g.add_output()->set_name("y");
  auto* out_type = g.mutable_output(0)->mutable_type()->mutable_tensor_type();
  out_type->set_elem_type(onnx::TensorProto::FLOAT);
  out_type->mutable_shape()->add_dim()->set_dim_param("batch");
  out_type->mutable_shape()->add_dim()->set_dim_value(10);
  add_initializer(g, "w1", random_f32({32, 16, 3, 3}, rng));
  add_initializer(g, "w2", random_f32({32, 32, 1, 1}, rng));
  add_initializer(g, "wh", random_f32({10, 32}, rng));
  add_initializer(g, "bh", random_f32({10}, rng));
  auto node = [&](const std::string& op, std::vector<std::string> ins, const std::string& out) { return add_node(g, op, ins, out); };
  add_ints_attribute(*node("Conv", {"x", "w1"}, "c1"), "pads", {1, 1, 1, 1});
  node("Relu", {"c1"}, "r1");
  node("Conv", {"r1", "w2"}, "c2");
  node("Add", {"c2", "r1"}, "s");
  node("GlobalAveragePool", {"s"}, "p");
  node("Flatten", {"p"}, "f");
  auto* gemm = node("Gemm", {"f", "wh", "bh"}, "y");
  auto* tb = gemm->add_attribute();
  tb->set_name("transB");
  tb->set_type(onnx::AttributeProto::INT);
  tb->set_i(1);
  std::ofstream(path, std::ios::binary) << m.SerializeAsString();
  return path;
}

// The small model above, loaded from a file of its own (removed again once loaded).
std::shared_ptr<const Model> load_small_model(const std::string& tag) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("effvit_" + tag + "_" + std::to_string(::getpid()) + ".onnx")).string();
  auto model = Model::load(write_model(path));
  std::filesystem::remove(path);
  return model;
}

TEST(Session, ConcurrentStreamsAndBatchSizesAgreeWithALoneSession) {
  const auto model = load_small_model("session");
  std::mt19937 rng(71);
  std::vector<Tensor> inputs, want;
  Session lone(model);
  for (int64_t batch : {1, 3, 2}) {
    inputs.push_back(random_f32({batch, 16, 8, 8}, rng));
    want.push_back(lone.run(inputs.back()));
  }
  // Batch b must equal b independent batch-1 runs.
  for (int64_t b = 0; b < 3; ++b) {
    Tensor one(DType::f32, {1, 16, 8, 8});
    std::copy_n(inputs[1].data<float>() + b * 16 * 64, 16 * 64, one.data<float>());
    const Tensor got = lone.run(one);
    for (int k = 0; k < 10; ++k) EXPECT_NEAR(got.data<float>()[k], want[1].data<float>()[b * 10 + k], 1e-4);
  }
  std::vector<std::thread> streams;
  std::vector<int> mismatches(2, 0);
  for (int s = 0; s < 2; ++s)
    streams.emplace_back([&, s] {
      Session session(model);
      for (int round = 0; round < 20; ++round)
        for (size_t i = 0; i < inputs.size(); ++i) {
          const Tensor got = session.run(inputs[(i + static_cast<size_t>(s)) % inputs.size()]);
          const Tensor& ref = want[(i + static_cast<size_t>(s)) % inputs.size()];
          if (got.shape() != ref.shape() || std::memcmp(got.raw(), ref.raw(), ref.bytes()) != 0) ++mismatches[static_cast<size_t>(s)];
        }
    });
  for (auto& t : streams) t.join();
  EXPECT_EQ(mismatches[0], 0);
  EXPECT_EQ(mismatches[1], 0);
}

// An fp32 and a bf16 Session on one Model, on two threads at once, each making its plans while the
// other runs: each gives what it gives alone (the Model keeps a graph per precision and the weight
// cache a packing per type; the bf16 packing must never stand in for the float32 weights).
TEST(Session, Fp32AndBf16SessionsShareOneModel) {
  if (!hardware().has(IsaTier::avx512)) GTEST_SKIP() << "no bf16 convs below AVX-512";
  // oneDNN's emulation where there are no bf16 units, for this test only.
  const bool forced = !hardware().has(IsaTier::avx512_bf16) && setenv("EFFVIT_TEST_FORCE_BF16", "1", 1) == 0;
  const std::shared_ptr<void> unforce(nullptr, [forced](void*) {
    if (forced) unsetenv("EFFVIT_TEST_FORCE_BF16");
  });
  std::mt19937 rng(72);
  std::vector<Tensor> inputs;
  for (int64_t batch : {1, 2, 3}) inputs.push_back(random_f32({batch, 16, 8, 8}, rng));
  std::vector<Tensor> want[2];
  for (int p = 0; p < 2; ++p) {
    Session alone(load_small_model("alone"), {.precision = p ? Precision::bf16 : Precision::fp32});
    for (const Tensor& x : inputs) want[p].push_back(alone.run(x));
  }
  EXPECT_NE(std::memcmp(want[0][0].raw(), want[1][0].raw(), want[0][0].bytes()), 0) << "bf16 ran float32";
  const auto model = load_small_model("shared");
  std::vector<int> mismatches(2, 0);
  std::vector<std::thread> streams;
  for (int p = 0; p < 2; ++p)
    streams.emplace_back([&, p] {
      for (int round = 0; round < 5; ++round) {
        Session session(model, {.precision = p ? Precision::bf16 : Precision::fp32});
        EXPECT_EQ(session.precision(), p ? "bf16" : "fp32");
        for (size_t i = 0; i < inputs.size(); ++i) {
          const Tensor got = session.run(inputs[(i + static_cast<size_t>(round)) % inputs.size()]);
          const Tensor& ref = want[p][(i + static_cast<size_t>(round)) % inputs.size()];
          if (got.shape() != ref.shape() || std::memcmp(got.raw(), ref.raw(), ref.bytes()) != 0) ++mismatches[static_cast<size_t>(p)];
        }
      }
    });
  for (auto& t : streams) t.join();
  EXPECT_EQ(mismatches[0], 0) << "fp32";
  EXPECT_EQ(mismatches[1], 0) << "bf16";
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

// A host application's OpenMP setting survives a run at another thread count.
TEST(Session, RunRestoresTheCallersOpenMPThreadCount) {
  std::mt19937 rng(83);
  const auto model = load_small_model("session_omp");
  const int saved = omp_get_max_threads();
  omp_set_num_threads(3);
  Session session(model, {.threads = 1});
  session.run(random_f32({1, 16, 8, 8}, rng));
  EXPECT_EQ(omp_get_max_threads(), 3);
  omp_set_num_threads(saved);
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

// Threads that meet a batch size nobody has run yet build its graph and plans at the same time
// (the Model's shared per-shape graph and packed weights under contention); every result must
// still equal a lone Session's, computed afterwards.
TEST(Session, ConcurrentFirstRunsOfNewShapes) {
  const auto model = load_small_model("first");
  std::mt19937 rng(72);
  std::vector<Tensor> inputs;
  for (int64_t batch : {4, 5, 6, 7}) inputs.push_back(random_f32({batch, 16, 8, 8}, rng));
  std::vector<std::vector<Tensor>> got(3);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t)
    threads.emplace_back([&, t] {
      Session session(model);
      for (size_t i = 0; i < inputs.size(); ++i) got[t].push_back(session.run(inputs[(i + t) % inputs.size()]));
    });
  for (auto& th : threads) th.join();
  Session lone(model);
  for (size_t t = 0; t < got.size(); ++t)
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor want = lone.run(inputs[(i + t) % inputs.size()]);
      ASSERT_EQ(got[t][i].shape(), want.shape());
      EXPECT_EQ(std::memcmp(got[t][i].raw(), want.raw(), want.bytes()), 0) << "thread " << t << " input " << i;
    }
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

// A Session that meets many batch sizes keeps its plans within plan_cache_bytes (least recently
// used dropped first), rebuilds a dropped one on demand with the same results, and can drop all.
TEST(Session, PlanCacheStaysWithinItsBudget) {
  const auto model = load_small_model("cache");
  std::mt19937 rng(73);
  const Tensor first = random_f32({1, 16, 8, 8}, rng);
  Session unbounded(model);
  const Tensor want = unbounded.run(first);
  SessionOptions small;
  small.plan_cache_bytes = 64 << 10;  // a few small plans
  Session session(model, small);
  session.run(first);
  for (int64_t batch = 2; batch <= 24; ++batch) {
    session.run(random_f32({batch, 16, 8, 8}, rng));
    EXPECT_LE(session.cached_plans(), 6u) << "batch " << batch;
    EXPECT_GE(session.cached_plans(), 1u);
  }
  // The batch-1 plan was dropped long ago: rebuilt, it gives the same bits.
  const Tensor again = session.run(first);
  EXPECT_EQ(std::memcmp(again.raw(), want.raw(), want.bytes()), 0);
  session.clear_cache();
  EXPECT_EQ(session.cached_plans(), 0u);
  EXPECT_EQ(std::memcmp(session.run(first).raw(), want.raw(), want.bytes()), 0);
  // An unbounded session keeps one plan per shape.
  for (int64_t batch = 2; batch <= 5; ++batch) unbounded.run(random_f32({batch, 16, 8, 8}, rng));
  EXPECT_EQ(unbounded.cached_plans(), 5u);
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

std::string small_model_bytes() {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("effvit_bytes_" + std::to_string(::getpid()) + ".onnx")).string();
  write_model(path);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  return bytes;
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  } catch (...) {
    ADD_FAILURE() << "a non-effvit exception escaped the public API";
    return ErrorKind::internal;
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::internal;
}

TEST(PublicApi, LoadFromMemoryMatchesLoadFromFile) {
  const std::string bytes = small_model_bytes();
  const auto from_memory = Model::load_from_memory(bytes.data(), bytes.size(), "small.onnx");
  EXPECT_EQ(from_memory->path(), "small.onnx");
  const auto from_file = load_small_model("api_file");
  std::mt19937 rng(90);
  const Tensor x = random_f32({2, 16, 8, 8}, rng);
  const Tensor a = Session(from_memory).run(x), b = Session(from_file).run(x);
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.bytes()), 0);
}

TEST(PublicApi, EveryFailureIsAnErrorOfTheRightKind) {
  const std::string bytes = small_model_bytes();
  EXPECT_EQ(kind_of([&] { Model::load_from_memory(bytes.data(), bytes.size() / 2, "half.onnx"); }), ErrorKind::invalid_model);
  EXPECT_EQ(kind_of([&] { Model::load_from_memory("not onnx", 8); }), ErrorKind::invalid_model);
  EXPECT_EQ(kind_of([&] { Model::load_from_memory(nullptr, 0); }), ErrorKind::invalid_model);
  EXPECT_EQ(kind_of([&] { Model::load_from_memory(nullptr, 5); }), ErrorKind::invalid_input);
  EXPECT_EQ(kind_of([&] { Tensor(DType::f32, {-2, 3}); }), ErrorKind::invalid_input);
  EXPECT_EQ(kind_of([&] { Tensor(DType::f32, {2, 3}).dim(2); }), ErrorKind::invalid_input);
  EXPECT_EQ(kind_of([&] { Tensor(DType::f32, {2, 3}).reshaped({7}); }), ErrorKind::invalid_input);
  EXPECT_EQ(kind_of([&] { Model::load("/nonexistent/m.onnx"); }), ErrorKind::invalid_input);
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(bytes));
  m.mutable_graph()->mutable_node(1)->set_op_type("Selu");  // Relu -> an op effvit lacks
  const std::string unsupported = m.SerializeAsString();
  EXPECT_EQ(kind_of([&] { Model::load_from_memory(unsupported.data(), unsupported.size()); }), ErrorKind::unsupported);

  const auto model = Model::load_from_memory(bytes.data(), bytes.size());
  Session session(model);
  EXPECT_EQ(kind_of([&] { session.run(Tensor(DType::f32, {1, 16, 9, 8})); }), ErrorKind::invalid_input);
  EXPECT_EQ(kind_of([&] { session.run(Tensor(DType::i64, {1, 16, 8, 8})); }), ErrorKind::invalid_input);
  EXPECT_EQ(kind_of([&] { session.run(std::vector<Tensor>{}); }), ErrorKind::invalid_input);
  EXPECT_EQ(kind_of([&] { session.run(Tensor::view(DType::f32, {1, 16, 8, 8}, nullptr)); }), ErrorKind::invalid_input);
  EXPECT_EQ(kind_of([&] { Session(nullptr); }), ErrorKind::invalid_input);
  EXPECT_EQ(kind_of([&] { Session(model, SessionOptions{1 << 20}); }), ErrorKind::invalid_input);
  EXPECT_EQ(kind_of([&] { session.run(Tensor(DType::f32, {1, 16, 8, 8})).data<int64_t>(); }), ErrorKind::invalid_input);
}

TEST(PublicApi, RunNamedAndRunIntoAgreeWithRun) {
  const auto model = load_small_model("api_named");
  std::mt19937 rng(91);
  const Tensor x = random_f32({3, 16, 8, 8}, rng);
  Session session(model);
  const Tensor want = session.run(x);

  const auto named = session.run_named({{"x", x}});
  ASSERT_EQ(named.size(), 1u);
  ASSERT_EQ(named.count("y"), 1u);
  EXPECT_EQ(std::memcmp(named.at("y").raw(), want.raw(), want.bytes()), 0);
  EXPECT_EQ(kind_of([&] { session.run_named({}); }), ErrorKind::invalid_input);
  EXPECT_EQ(kind_of([&] { session.run_named({{"x", x}, {"z", x}}); }), ErrorKind::invalid_input);

  const Session::PlanInfo info = session.plan_info({{3, 16, 8, 8}});
  ASSERT_EQ(info.output_shapes, std::vector<Shape>{Shape({3, 10})});
  ASSERT_FALSE(info.nodes.empty());
  bool conv_on_onednn = false;
  for (const auto& n : info.nodes) {
    EXPECT_FALSE(n.implementation.empty()) << n.node;
    conv_on_onednn = conv_on_onednn || (n.op == "Conv" && n.implementation.find("conv ") == 0);
  }
  EXPECT_TRUE(conv_on_onednn);

  std::vector<float> buffer(30, -7.f);
  Tensor out = Tensor::view(DType::f32, {3, 10}, buffer.data());
  session.run_into({x}, {out});
  EXPECT_EQ(std::memcmp(buffer.data(), want.raw(), want.bytes()), 0);
  // A buffer of the wrong shape is refused before anything is written.
  std::vector<float> small(10, -7.f);
  EXPECT_EQ(kind_of([&] { session.run_into({x}, {Tensor::view(DType::f32, {1, 10}, small.data())}); }), ErrorKind::invalid_input);
  EXPECT_EQ(small, std::vector<float>(10, -7.f));
  EXPECT_EQ(kind_of([&] { session.run_into({x}, {}); }), ErrorKind::invalid_input);
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

// The shared weight cache under churn: Sessions on three threads whose plan caches hold about one
// plan each keep evicting and rebuilding plans for six batch sizes, so packed weights are dropped
// (their last kernel gone) and packed again while other threads look them up. Every result must
// equal a lone Session's. `make tsan` runs this too.
TEST(Session, SharedWeightCacheSurvivesEvictionChurn) {
  const auto model = load_small_model("churn");
  std::mt19937 rng(74);
  std::vector<Tensor> inputs, want;
  {
    Session lone(model);  // gone before the threads start: its kernels would keep every packing alive
    for (int64_t batch = 1; batch <= 6; ++batch) {
      inputs.push_back(random_f32({batch, 16, 8, 8}, rng));
      want.push_back(lone.run(inputs.back()));
    }
  }
  std::vector<int> mismatches(3, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < mismatches.size(); ++t)
    threads.emplace_back([&, t] {
      SessionOptions options;
      options.plan_cache_bytes = 1;  // only the current plan is kept
      Session session(model, options);
      for (int round = 0; round < 4; ++round)
        for (size_t i = 0; i < inputs.size(); ++i) {
          const size_t k = (i * (t + 1) + static_cast<size_t>(round)) % inputs.size();
          const Tensor got = session.run(inputs[k]);
          if (got.shape() != want[k].shape() || std::memcmp(got.raw(), want[k].raw(), got.bytes()) != 0) ++mismatches[t];
        }
      EXPECT_EQ(session.cached_plans(), 1u);
    });
  for (auto& th : threads) th.join();
  for (size_t t = 0; t < mismatches.size(); ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

// A NaN input is refused by default; a caller that has checked its inputs (the server, per
// request) turns the scan off, and the run goes through.
TEST(Session, CheckFiniteCanBeLeftToTheCaller) {
  std::mt19937 rng(84);
  const auto model = load_small_model("session_finite");
  Tensor x = random_f32({1, 16, 8, 8}, rng);
  x.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  Session checked(model);
  EXPECT_THROW(checked.run(x), Error);
  Session unchecked(model, {.check_finite = false});
  EXPECT_NO_THROW(unchecked.run(x));
}

}  // namespace
}  // namespace effvit
