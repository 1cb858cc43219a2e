// Each reference op, driven through its OpDef (infer, then compute), against a naive computation
// written here from the ONNX definition.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>
#include <numeric>
#include <limits>
#include <random>

#include "ops/op.h"
#include "ops/parallel.h"
#include "test_util.h"

namespace effvit {
namespace {

using namespace effvit::test;

int64_t uniform(std::mt19937& rng, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }

Shape random_shape(std::mt19937& rng, size_t min_rank, size_t max_rank, int64_t max_dim = 4) {
  Shape s(static_cast<size_t>(uniform(rng, static_cast<int64_t>(min_rank), static_cast<int64_t>(max_rank))));
  for (int64_t& d : s) d = uniform(rng, 1, max_dim);
  return s;
}

// A shape that broadcasts to `out`: some leading dims dropped, some others set to 1.
Shape broadcastable_to(const Shape& out, std::mt19937& rng) {
  Shape s(out.begin() + uniform(rng, 0, static_cast<int64_t>(out.size())), out.end());
  for (int64_t& d : s)
    if (uniform(rng, 0, 2) == 0) d = 1;
  return s;
}

// Offset into a tensor of shape `s` read as if broadcast to the index `idx` of a larger shape.
int64_t broadcast_offset(const std::vector<int64_t>& idx, const Shape& s) {
  const size_t lead = idx.size() - s.size();
  int64_t flat = 0;
  for (size_t d = 0; d < s.size(); ++d) flat = flat * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
  return flat;
}

Shape naive_broadcast(const Shape& a, const Shape& b) {
  Shape out(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1, db = i < b.size() ? b[b.size() - 1 - i] : 1;
    out[out.size() - 1 - i] = std::max(da, db);
  }
  return out;
}

template <typename T, typename R, typename F>
Tensor naive_binary(const Tensor& a, const Tensor& b, F f) {
  const Shape out_shape = naive_broadcast(a.shape(), b.shape());
  Tensor out(DTypeOf<R>::value, out_shape);
  for (int64_t i = 0; i < out.numel(); ++i) {
    const auto idx = unravel(i, out_shape);
    out.data<R>()[i] = f(a.data<T>()[broadcast_offset(idx, a.shape())], b.data<T>()[broadcast_offset(idx, b.shape())]);
  }
  return out;
}

Tensor as_bool(const Tensor& u8) {
  Tensor t(DType::bool8, u8.shape());
  if (t.bytes()) std::memcpy(t.raw(), u8.raw(), t.bytes());
  return t;
}

Tensor bools(const std::vector<uint8_t>& v) { return as_bool(Tensor::from_vector<uint8_t>({static_cast<int64_t>(v.size())}, v)); }

// Divisors away from zero so float quotients stay tame.
Tensor random_divisor(const Shape& s, std::mt19937& rng) {
  Tensor t = random_f32(s, rng, 0.5f, 2.f);
  for (int64_t i = 0; i < t.numel(); ++i)
    if (uniform(rng, 0, 1)) t.data<float>()[i] = -t.data<float>()[i];
  return t;
}

TEST(Ops, BinaryFloatBroadcasting) {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 60; ++trial) {
    const Shape out = random_shape(rng, 0, 4);
    const Shape sa = broadcastable_to(out, rng), sb = trial % 2 ? out : broadcastable_to(out, rng);
    const Tensor a = random_f32(sa, rng), b = random_f32(sb, rng), d = random_divisor(sb, rng);
    SCOPED_TRACE(shape_str(sa) + " with " + shape_str(sb));
    expect_identical(run_op1("Add", {rt(a), rt(b)}), naive_binary<float, float>(a, b, [](float x, float y) { return x + y; }));
    expect_identical(run_op1("Sub", {rt(a), rt(b)}), naive_binary<float, float>(a, b, [](float x, float y) { return x - y; }));
    expect_identical(run_op1("Mul", {rt(a), rt(b)}), naive_binary<float, float>(a, b, [](float x, float y) { return x * y; }));
    expect_identical(run_op1("Div", {rt(a), rt(d)}), naive_binary<float, float>(a, d, [](float x, float y) { return x / y; }));
    // Operand order matters for broadcasting shape and for Sub/Div.
    expect_identical(run_op1("Sub", {rt(b), rt(a)}), naive_binary<float, float>(b, a, [](float x, float y) { return x - y; }));
  }
}

// ONNX integer Div truncates toward zero (C semantics); Mod with fmod=0 takes the divisor's sign
// (Python semantics); Mod with fmod=1 takes the dividend's sign (C fmod).
int64_t trunc_div(int64_t a, int64_t b) { return static_cast<int64_t>(std::trunc(static_cast<double>(a) / static_cast<double>(b))); }
int64_t python_mod(int64_t a, int64_t b) { return a - static_cast<int64_t>(std::floor(static_cast<double>(a) / static_cast<double>(b))) * b; }
int64_t c_fmod(int64_t a, int64_t b) { return static_cast<int64_t>(std::fmod(static_cast<double>(a), static_cast<double>(b))); }

TEST(Ops, BinaryInt64Broadcasting) {
  std::mt19937 rng(2);
  for (int trial = 0; trial < 40; ++trial) {
    const Shape out = random_shape(rng, 0, 4);
    const Shape sa = broadcastable_to(out, rng), sb = broadcastable_to(out, rng);
    const Tensor a = random_i64(sa, rng, -50, 50);
    Tensor b = random_i64(sb, rng, -9, 9);
    for (int64_t i = 0; i < b.numel(); ++i)
      if (b.data<int64_t>()[i] == 0) b.data<int64_t>()[i] = 7;
    SCOPED_TRACE(shape_str(sa) + " with " + shape_str(sb));
    using I = int64_t;
    expect_identical(run_op1("Add", {rt(a), rt(b)}), naive_binary<I, I>(a, b, [](I x, I y) { return x + y; }));
    expect_identical(run_op1("Sub", {rt(a), rt(b)}), naive_binary<I, I>(a, b, [](I x, I y) { return x - y; }));
    expect_identical(run_op1("Mul", {rt(a), rt(b)}), naive_binary<I, I>(a, b, [](I x, I y) { return x * y; }));
    expect_identical(run_op1("Div", {rt(a), rt(b)}), naive_binary<I, I>(a, b, trunc_div));
    expect_identical(run_op1("Mod", {rt(a), rt(b)}), naive_binary<I, I>(a, b, python_mod));
    expect_identical(run_op1("Mod", {rt(a), rt(b)}, {{"fmod", int_attr(1)}}), naive_binary<I, I>(a, b, c_fmod));
  }
}

TEST(Ops, Int64DivAndModSignRules) {
  const Tensor a = i64s({7, -7, 7, -7, 6, -6, 0, 1});
  const Tensor b = i64s({3, 3, -3, -3, -3, 3, 5, -4});
  expect_identical(run_op1("Div", {rt(a), rt(b)}), i64s({2, -2, -2, 2, -2, -2, 0, 0}));
  expect_identical(run_op1("Mod", {rt(a), rt(b)}), i64s({1, 2, -2, -1, 0, 0, 0, -3}));
  expect_identical(run_op1("Mod", {rt(a), rt(b)}, {{"fmod", int_attr(1)}}), i64s({1, -1, 1, -1, 0, 0, 0, 1}));
}

TEST(Ops, FloatFmod) {
  const Tensor a = f32s({4}, {5.5f, -5.5f, 5.5f, -5.5f});
  const Tensor b = f32s({4}, {2.f, 2.f, -2.f, -2.f});
  expect_identical(run_op1("Mod", {rt(a), rt(b)}, {{"fmod", int_attr(1)}}), f32s({4}, {1.5f, -1.5f, 1.5f, -1.5f}));
}

TEST(Ops, IntegerDivisionByZeroNamesTheNode) {
  expect_error([] { run_op1("Div", {rt(i64s({1, 2})), rt(i64s({1, 0}))}); }, {"Div node 'test_node'", "division by zero"});
  expect_error([] { run_op1("Mod", {rt(i64s({1, 2})), rt(i64s({0, 1}))}); }, {"Mod node 'test_node'", "division by zero"});
}

TEST(Ops, EqualAndWhere) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    const Shape out = random_shape(rng, 0, 4);
    const Shape sc = broadcastable_to(out, rng), sx = broadcastable_to(out, rng), sy = broadcastable_to(out, rng);
    SCOPED_TRACE(shape_str(sc) + ", " + shape_str(sx) + ", " + shape_str(sy));
    const Tensor p = random_i64(sc, rng, 0, 2), q = random_i64(sx, rng, 0, 2);
    const Tensor eq = run_op1("Equal", {rt(p), rt(q)});
    expect_identical(eq, as_bool(naive_binary<int64_t, uint8_t>(p, q, [](int64_t x, int64_t y) { return uint8_t{x == y}; })));
    Tensor pf(DType::f32, p.shape()), qf(DType::f32, q.shape());
    for (int64_t i = 0; i < p.numel(); ++i) pf.data<float>()[i] = static_cast<float>(p.data<int64_t>()[i]);
    for (int64_t i = 0; i < q.numel(); ++i) qf.data<float>()[i] = static_cast<float>(q.data<int64_t>()[i]);
    const Tensor eqf = run_op1("Equal", {rt(pf), rt(qf)});
    EXPECT_EQ(std::memcmp(eqf.raw(), eq.raw(), eq.bytes()), 0);

    Tensor cond(DType::bool8, sc);
    for (int64_t i = 0; i < cond.numel(); ++i) cond.data<uint8_t>()[i] = static_cast<uint8_t>(uniform(rng, 0, 1));
    const Tensor x = random_f32(sx, rng), y = random_f32(sy, rng);
    const Tensor got = run_op1("Where", {rt(cond), rt(x), rt(y)});
    const Shape want_shape = naive_broadcast(naive_broadcast(sc, sx), sy);
    ASSERT_EQ(got.shape(), want_shape);
    for (int64_t i = 0; i < got.numel(); ++i) {
      const auto idx = unravel(i, want_shape);
      const float want = cond.data<uint8_t>()[broadcast_offset(idx, sc)] ? x.data<float>()[broadcast_offset(idx, sx)]
                                                                          : y.data<float>()[broadcast_offset(idx, sy)];
      ASSERT_EQ(got.data<float>()[i], want) << "element " << i;
    }
  }
}

TEST(Ops, ReluAndSigmoid) {
  std::mt19937 rng(4);
  for (int trial = 0; trial < 5; ++trial) {
    const Tensor x = random_f32(random_shape(rng, 0, 4, 6), rng, -8.f, 8.f);
    const Tensor relu = run_op1("Relu", {rt(x)});
    const Tensor sigmoid = run_op1("Sigmoid", {rt(x)});
    Tensor want_relu(DType::f32, x.shape()), want_sigmoid(DType::f32, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float v = x.data<float>()[i];
      want_relu.data<float>()[i] = std::max(v, 0.f);
      want_sigmoid.data<float>()[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double{v})));
    }
    expect_identical(relu, want_relu);
    expect_close(sigmoid, want_sigmoid, 1e-6);
  }
}

TEST(Ops, Cast) {
  const Tensor f = f32s({6}, {-2.7f, -0.5f, 0.f, 0.5f, 2.7f, 100.f});
  expect_identical(run_op1("Cast", {rt(f)}, {{"to", int_attr(7)}}), i64s({-2, 0, 0, 0, 2, 100}));
  expect_identical(run_op1("Cast", {rt(f)}, {{"to", int_attr(9)}}), bools({1, 1, 0, 1, 1, 1}));
  expect_identical(run_op1("Cast", {rt(i64s({-3, 0, 1 << 20}))}, {{"to", int_attr(1)}}), f32s({3}, {-3.f, 0.f, 1048576.f}));
  const Tensor i32 = run_op1("Cast", {rt(i64s({-3, 5}))}, {{"to", int_attr(6)}});
  ASSERT_EQ(i32.dtype(), DType::i32);
  EXPECT_EQ(i32.data<int32_t>()[0], -3);
  EXPECT_EQ(i32.data<int32_t>()[1], 5);
  expect_identical(run_op1("Cast", {rt(f)}, {{"to", int_attr(1)}}), f);
  expect_error([&] { run_op1("Cast", {rt(f)}, {{"to", int_attr(11)}}); }, {"Cast node 'test_node'", "11"});
  // int32 sums (ConvInteger's) and uint8 codes to float32 on the tier's kernel: the reference's
  // values, past 2^24 (rounded to even) and at both ends of int32.
  const Tensor sums = Tensor::from_vector<int32_t>({7}, {-2147483647 - 1, -16777217, -3, 0, 16777217, 16777219, 2147483647});
  expect_identical(run_op("Cast", {rt(sums)}, {{"to", int_attr(1)}}, 1, "test_node", true).at(0), run_op1("Cast", {rt(sums)}, {{"to", int_attr(1)}}));
  const Tensor codes = Tensor::from_vector<uint8_t>({4}, {0, 1, 128, 255});
  expect_identical(run_op("Cast", {rt(codes)}, {{"to", int_attr(1)}}, 1, "test_node", true).at(0), run_op1("Cast", {rt(codes)}, {{"to", int_attr(1)}}));
}

// MatMul by its definition: 1-D operands promoted and the promoted axis removed afterwards.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  if (a_vec) sa.insert(sa.begin(), 1);
  if (b_vec) sb.push_back(1);
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  const Shape batch = naive_broadcast(ba, bb);
  Shape full = batch;
  full.push_back(m);
  full.push_back(n);
  Tensor out(DType::f32, full);
  for (int64_t i = 0; i < out.numel(); ++i) {
    auto idx = unravel(i, full);
    const int64_t col = idx.back(), row = idx[idx.size() - 2];
    idx.resize(batch.size());
    const int64_t oa = broadcast_offset(idx, ba), ob = broadcast_offset(idx, bb);
    double acc = 0;
    for (int64_t p = 0; p < k; ++p) acc += double{a.data<float>()[(oa * m + row) * k + p]} * b.data<float>()[(ob * k + p) * n + col];
    out.data<float>()[i] = static_cast<float>(acc);
  }
  Shape final_shape = batch;
  if (!a_vec) final_shape.push_back(m);
  if (!b_vec) final_shape.push_back(n);
  return out.reshaped(final_shape);
}

TEST(Ops, MatMul) {
  std::mt19937 rng(5);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {4, 5}},       {{2, 3, 4}, {2, 4, 5}},  {{2, 1, 3, 4}, {5, 4, 6}}, {{1, 3, 4}, {2, 4, 5}},
      {{3, 4}, {2, 2, 4, 5}}, {{4}, {4, 5}},           {{2, 3, 4}, {4}},          {{4}, {4}},
      {{4}, {2, 4, 3}},       {{2, 1, 1, 7}, {3, 7, 1}},  {{1, 17}, {17, 9}},        {{6, 1}, {1, 5}}};
  for (const auto& [sa, sb] : cases) {
    SCOPED_TRACE(shape_str(sa) + " x " + shape_str(sb));
    const Tensor a = random_f32(sa, rng), b = random_f32(sb, rng);
    expect_close(run_op1("MatMul", {rt(a), rt(b)}), naive_matmul(a, b), 1e-5);
  }
  for (int trial = 0; trial < 30; ++trial) {
    const int64_t m = uniform(rng, 1, 6), k = uniform(rng, 1, 6), n = uniform(rng, 1, 6);
    const Shape batch = random_shape(rng, 0, 3, 3);
    Shape sa = broadcastable_to(batch, rng), sb = broadcastable_to(batch, rng);
    sa.insert(sa.end(), {m, k});
    sb.insert(sb.end(), {k, n});
    SCOPED_TRACE(shape_str(sa) + " x " + shape_str(sb));
    const Tensor a = random_f32(sa, rng), b = random_f32(sb, rng);
    expect_close(run_op1("MatMul", {rt(a), rt(b)}), naive_matmul(a, b), 1e-5);
  }
  expect_error([&] { run_op1("MatMul", {rt(Tensor(DType::f32, {2, 3})), rt(Tensor(DType::f32, {4, 2}))}); },
               {"MatMul node 'test_node'", "inner dimensions"});
}

TEST(Ops, Gemm) {
  std::mt19937 rng(6);
  const int64_t m = 4, k = 5, n = 3;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const Shape& sc : std::vector<Shape>{{}, {n}, {m, 1}, {1, n}, {m, n}, {1}})
        for (bool with_c : {true, false}) {
          if (!with_c && !sc.empty()) continue;
          SCOPED_TRACE("transA=" + std::to_string(ta) + " transB=" + std::to_string(tb) + " C=" + (with_c ? shape_str(sc) : "none"));
          const Tensor a = random_f32(ta ? Shape{k, m} : Shape{m, k}, rng);
          const Tensor b = random_f32(tb ? Shape{n, k} : Shape{k, n}, rng);
          const Tensor c = random_f32(sc, rng);
          const float alpha = 0.75f, beta = -1.5f;
          Attrs attrs{{"transA", int_attr(ta)}, {"transB", int_attr(tb)}, {"alpha", float_attr(alpha)}, {"beta", float_attr(beta)}};
          std::vector<Arg> args{rt(a), rt(b)};
          if (with_c) args.push_back(rt(c));
          Tensor want(DType::f32, {m, n});
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double acc = 0;
              for (int64_t p = 0; p < k; ++p)
                acc += double{a.data<float>()[ta ? p * m + i : i * k + p]} * b.data<float>()[tb ? j * k + p : p * n + j];
              double v = alpha * acc;
              if (with_c) v += beta * c.data<float>()[broadcast_offset({i, j}, sc)];
              want.data<float>()[i * n + j] = static_cast<float>(v);
            }
          expect_close(run_op1("Gemm", args, attrs), want, 1e-5);
        }
  // Defaults: alpha = beta = 1, no transposes.
  const Tensor a = random_f32({2, 3}, rng), b = random_f32({3, 2}, rng), c = random_f32({2}, rng);
  Tensor want = naive_matmul(a, b);
  for (int64_t i = 0; i < 4; ++i) want.data<float>()[i] += c.data<float>()[i % 2];
  expect_close(run_op1("Gemm", {rt(a), rt(b), rt(c)}), want, 1e-6);
}

TEST(Ops, GemmRejectsCThatDoesNotBroadcastToTheResult) {
  // C must broadcast one way, to [M, N]; a C that would grow the result is a malformed model.
  const Tensor a(DType::f32, {1, 3}), b(DType::f32, {3, 4});
  expect_error([&] { run_op1("Gemm", {rt(a), rt(b), rt(Tensor(DType::f32, {2, 4}))}); }, {"Gemm node 'test_node'", "[2,4]", "[1,4]"});
  expect_error([&] { run_op1("Gemm", {rt(a), rt(b), rt(Tensor(DType::f32, {2, 1, 4}))}); }, {"Gemm node 'test_node'", "[2,1,4]"});
  expect_error([&] { run_op1("Gemm", {rt(a), rt(b), rt(Tensor(DType::f32, {3}))}); }, {"Gemm node 'test_node'", "[3]"});
}

Tensor naive_softmax(const Tensor& x, size_t axis, bool coerce_2d) {
  const Shape& s = x.shape();
  Tensor out(DType::f32, s);
  // Every element belongs to one group: the elements sharing all indices outside the softmax axes.
  auto group_of = [&](const std::vector<int64_t>& idx) {
    std::vector<int64_t> g;
    for (size_t d = 0; d < s.size(); ++d)
      if (d < axis || (d > axis && !coerce_2d)) g.push_back(idx[d]);
    return g;
  };
  std::map<std::vector<int64_t>, std::pair<double, double>> stats;  // group -> (max, sum)
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto [it, fresh] = stats.try_emplace(group_of(unravel(i, s)), -INFINITY, 0.0);
    it->second.first = std::max(it->second.first, double{x.data<float>()[i]});
  }
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto& st = stats[group_of(unravel(i, s))];
    st.second += std::exp(x.data<float>()[i] - st.first);
  }
  for (int64_t i = 0; i < x.numel(); ++i) {
    const auto& st = stats[group_of(unravel(i, s))];
    out.data<float>()[i] = static_cast<float>(std::exp(x.data<float>()[i] - st.first) / st.second);
  }
  return out;
}

TEST(Ops, Softmax) {
  std::mt19937 rng(7);
  const Tensor x = random_f32({2, 3, 4, 5}, rng, -5.f, 5.f);
  expect_close(run_op1("Softmax", {rt(x)}, {{"axis", int_attr(-1)}}), naive_softmax(x, 3, false), 1e-6, "axis -1");
  expect_close(run_op1("Softmax", {rt(x)}), naive_softmax(x, 3, false), 1e-6, "default axis");
  expect_close(run_op1("Softmax", {rt(x)}, {{"axis", int_attr(1)}}), naive_softmax(x, 1, false), 1e-6, "axis 1");
  expect_close(run_op1("Softmax", {rt(x)}, {{"axis", int_attr(1)}, {"effvit.coerce_2d", int_attr(1)}}),
               naive_softmax(x, 1, true), 1e-6, "axis 1, coerced to 2-D");
  expect_close(run_op1("Softmax", {rt(x)}, {{"axis", int_attr(-2)}, {"effvit.coerce_2d", int_attr(1)}}),
               naive_softmax(x, 2, true), 1e-6, "axis -2, coerced to 2-D");
  // Large logits must not overflow.
  const Tensor big = f32s({1, 3}, {1000.f, 1001.f, 999.f});
  expect_close(run_op1("Softmax", {rt(big)}), naive_softmax(big, 1, false), 1e-6, "large logits");
}

TEST(Ops, TransposeRandomPermutations) {
  std::mt19937 rng(8);
  // Then the window attention's NCHW <-> NHWC forms on sizes past the kernels' 8x8 tiles, which
  // run as batched 2-D transposes.
  const std::vector<std::pair<Shape, std::vector<int64_t>>> tiled = {
      {{1, 19, 13, 11}, {0, 2, 3, 1}}, {{1, 13, 11, 19}, {0, 3, 1, 2}}, {{3, 9, 17, 10}, {0, 3, 1, 2}}, {{2, 8, 16}, {0, 2, 1}},
      {{1, 37, 41, 3}, {0, 3, 1, 2}}};  // 3 output rows: fewer bands than threads, the columns split
  const OmpThreadScope two_threads(2);
  for (int trial = 0; trial < 30 + static_cast<int>(tiled.size()); ++trial) {
    const bool fixed = trial >= 30;
    const Shape s = fixed ? tiled[static_cast<size_t>(trial - 30)].first : random_shape(rng, 1, 5);
    std::vector<int64_t> perm(s.size());
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    if (fixed) perm = tiled[static_cast<size_t>(trial - 30)].second;
    const bool default_perm = !fixed && trial % 5 == 0;
    if (default_perm) std::sort(perm.rbegin(), perm.rend());  // what an omitted perm means
    SCOPED_TRACE(shape_str(s) + " perm " + shape_str(perm));
    const Tensor x = trial % 3 ? random_f32(s, rng) : random_i64(s, rng, -1000, 1000);
    Attrs attrs;
    if (!default_perm) attrs["perm"] = ints_attr(perm);
    const Tensor got = run_op1("Transpose", {rt(x)}, attrs);
    Shape os;
    for (int64_t p : perm) os.push_back(s[static_cast<size_t>(p)]);
    ASSERT_EQ(got.shape(), os);
    const size_t es = dtype_size(x.dtype());
    for (int64_t i = 0; i < got.numel(); ++i) {
      const auto oidx = unravel(i, os);
      std::vector<int64_t> iidx(s.size());
      for (size_t d = 0; d < s.size(); ++d) iidx[static_cast<size_t>(perm[d])] = oidx[d];
      ASSERT_EQ(std::memcmp(static_cast<const char*>(got.raw()) + i * es,
                            static_cast<const char*>(x.raw()) + ravel(iidx, s) * es, es), 0);
    }
  }
}

TEST(Ops, ReshapeFlattenSqueezeUnsqueeze) {
  std::mt19937 rng(9);
  const Tensor x = random_f32({2, 3, 4}, rng);
  auto reshape = [&](const Tensor& t, std::vector<int64_t> target) { return run_op1("Reshape", {rt(t), cst(i64s(target))}); };
  expect_identical(reshape(x, {0, -1}), x.reshaped({2, 12}));
  expect_identical(reshape(x, {-1}), x.reshaped({24}));
  expect_identical(reshape(x, {4, 0, 2}), x.reshaped({4, 3, 2}));
  expect_identical(reshape(x, {0, 0, -1, 1}), x.reshaped({2, 3, 4, 1}));
  expect_identical(reshape(x, {1, -1, 6}), x.reshaped({1, 4, 6}));
  expect_identical(reshape(x.reshaped({24}), {2, 3, 4}), x);
  const Tensor ints = random_i64({3, 4}, rng, -5, 5);
  expect_identical(reshape(ints, {-1, 2}), ints.reshaped({6, 2}));

  expect_identical(run_op1("Flatten", {rt(x)}), x.reshaped({2, 12}));
  expect_identical(run_op1("Flatten", {rt(x)}, {{"axis", int_attr(0)}}), x.reshaped({1, 24}));
  expect_identical(run_op1("Flatten", {rt(x)}, {{"axis", int_attr(2)}}), x.reshaped({6, 4}));
  expect_identical(run_op1("Flatten", {rt(x)}, {{"axis", int_attr(-1)}}), x.reshaped({6, 4}));
  expect_identical(run_op1("Flatten", {rt(x)}, {{"axis", int_attr(3)}}), x.reshaped({24, 1}));

  const Tensor y = random_f32({2, 1, 3, 1}, rng);
  expect_identical(run_op1("Squeeze", {rt(y)}, {{"axes", ints_attr({1})}}), y.reshaped({2, 3, 1}));
  expect_identical(run_op1("Squeeze", {rt(y), cst(i64s({-1}))}), y.reshaped({2, 1, 3}));
  expect_identical(run_op1("Squeeze", {rt(y), cst(i64s({1, 3}))}), y.reshaped({2, 3}));
  expect_identical(run_op1("Squeeze", {rt(y)}), y.reshaped({2, 3}));
  expect_error([&] { run_op1("Squeeze", {rt(y)}, {{"axes", ints_attr({0})}}); }, {"Squeeze node 'test_node'", "cannot squeeze"});

  const Tensor z = random_f32({2, 3}, rng);
  expect_identical(run_op1("Unsqueeze", {rt(z)}, {{"axes", ints_attr({0, 3})}}), z.reshaped({1, 2, 3, 1}));
  expect_identical(run_op1("Unsqueeze", {rt(z), cst(i64s({-1}))}), z.reshaped({2, 3, 1}));
  expect_identical(run_op1("Unsqueeze", {rt(z), cst(i64s({1, -1}))}), z.reshaped({2, 1, 3, 1}));
  expect_identical(run_op1("Unsqueeze", {rt(i64_scalar(5)), cst(i64s({0}))}), i64s({5}));
}

TEST(Ops, ReshapeErrorsNameTheNode) {
  const Tensor x(DType::f32, {2, 3, 4});
  expect_error([&] { run_op1("Reshape", {rt(x), cst(i64s({5, -1}))}); }, {"Reshape node 'test_node'", "[2,3,4]"});
  expect_error([&] { run_op1("Reshape", {rt(x), cst(i64s({5, 5}))}); }, {"Reshape node 'test_node'", "cannot reshape"});
  expect_error([&] { run_op1("Reshape", {rt(x), cst(i64s({-1, -1}))}); }, {"Reshape node 'test_node'", "two -1"});
  expect_error([&] { run_op1("Reshape", {rt(x), cst(i64s({2, 3, 4, 0}))}); }, {"Reshape node 'test_node'"});
  expect_error([&] { run_op1("Reshape", {rt(x), rt(i64s({24}))}); }, {"Reshape node 'test_node'", "constant"});
}

TEST(Ops, Split) {
  std::mt19937 rng(10);
  const Tensor x = random_f32({2, 6, 3}, rng);
  // Expected parts cut by the naive definition: element [i, start + j, k] of x.
  auto expect_parts = [&](const std::vector<Tensor>& parts, size_t axis, const std::vector<int64_t>& sizes) {
    ASSERT_EQ(parts.size(), sizes.size());
    int64_t start = 0;
    for (size_t p = 0; p < parts.size(); ++p) {
      Shape want_shape = x.shape();
      want_shape[axis] = sizes[p];
      ASSERT_EQ(parts[p].shape(), want_shape) << "part " << p;
      for (int64_t i = 0; i < parts[p].numel(); ++i) {
        auto idx = unravel(i, want_shape);
        idx[axis] += start;
        ASSERT_EQ(parts[p].data<float>()[i], x.data<float>()[ravel(idx, x.shape())]) << "part " << p << " element " << i;
      }
      start += sizes[p];
    }
  };
  expect_parts(run_op("Split", {rt(x)}, {{"axis", int_attr(1)}, {"split", ints_attr({1, 3, 2})}}, 3), 1, {1, 3, 2});
  expect_parts(run_op("Split", {rt(x), cst(i64s({4, 2}))}, {{"axis", int_attr(1)}}, 2), 1, {4, 2});
  expect_parts(run_op("Split", {rt(x)}, {{"axis", int_attr(-1)}}, 3), 2, {1, 1, 1});
  expect_parts(run_op("Split", {rt(x)}, {}, 2), 0, {1, 1});
  expect_parts(run_op("Split", {rt(x), omitted()}, {{"axis", int_attr(1)}}, 3), 1, {2, 2, 2});
  expect_error([&] { run_op("Split", {rt(x)}, {{"axis", int_attr(1)}}, 4); }, {"Split node 'test_node'", "evenly"});
  expect_error([&] { run_op("Split", {rt(x), cst(i64s({4, 3}))}, {{"axis", int_attr(1)}}, 2); }, {"Split node 'test_node'"});
}

// The indices ONNX Slice selects along one axis, from the spec's text: negative bounds count from
// the end, then starts clamp to [0, dim] ([0, dim-1] stepping backwards) and ends to [0, dim]
// ([-1, dim-1] backwards). This is Python's slice except for a start before the first element with
// a negative step, which Python treats as empty and ONNX (and onnxruntime) clamps to element 0.
std::vector<int64_t> onnx_slice(int64_t start, int64_t end, int64_t step, int64_t dim) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
  }
  std::vector<int64_t> picked;
  for (int64_t i = start; step > 0 ? i < end : i > end; i += step) picked.push_back(i);
  return picked;
}

TEST(Ops, SliceMatchesTheSpec) {
  std::mt19937 rng(11);
  auto bound = [&](int64_t dim) -> int64_t {
    switch (uniform(rng, 0, 5)) {
      case 0: return INT64_MAX;
      case 1: return INT64_MIN;
      case 2: return -INT64_MAX;
      default: return uniform(rng, -dim - 3, dim + 3);
    }
  };
  for (int trial = 0; trial < 200; ++trial) {
    const Shape s = random_shape(rng, 1, 4, 6);
    const int64_t rank = static_cast<int64_t>(s.size());
    std::vector<int64_t> axes(s.size());
    std::iota(axes.begin(), axes.end(), 0);
    std::shuffle(axes.begin(), axes.end(), rng);
    axes.resize(static_cast<size_t>(uniform(rng, 1, rank)));
    const bool give_axes = trial % 4 != 0 || static_cast<int64_t>(axes.size()) != rank;
    if (!give_axes) std::sort(axes.begin(), axes.end());
    const bool give_steps = trial % 3 != 0;
    std::vector<int64_t> starts, ends, steps, given_axes;
    std::vector<std::vector<int64_t>> picked(s.size());
    for (size_t d = 0; d < s.size(); ++d) {
      picked[d].resize(static_cast<size_t>(s[d]));
      std::iota(picked[d].begin(), picked[d].end(), 0);
    }
    for (int64_t axis : axes) {
      const int64_t dim = s[static_cast<size_t>(axis)];
      const int64_t step = give_steps ? std::vector<int64_t>{-3, -2, -1, 1, 2, 3}[static_cast<size_t>(uniform(rng, 0, 5))] : 1;
      starts.push_back(bound(dim));
      ends.push_back(bound(dim));
      steps.push_back(step);
      given_axes.push_back(uniform(rng, 0, 1) ? axis - rank : axis);
      picked[static_cast<size_t>(axis)] = onnx_slice(starts.back(), ends.back(), step, dim);
    }
    std::vector<Arg> args{rt(random_f32(s, rng)), cst(i64s(starts)), cst(i64s(ends))};
    if (give_axes || give_steps) args.push_back(give_axes ? cst(i64s(given_axes)) : omitted());
    if (give_steps) args.push_back(cst(i64s(steps)));
    SCOPED_TRACE(shape_str(s) + " starts " + shape_str(starts) + " ends " + shape_str(ends) + " axes " +
                 (give_axes ? shape_str(given_axes) : "-") + " steps " + (give_steps ? shape_str(steps) : "-"));
    const Tensor got = run_op1("Slice", args);
    Shape want_shape;
    for (const auto& p : picked) want_shape.push_back(static_cast<int64_t>(p.size()));
    ASSERT_EQ(got.shape(), want_shape);
    const Tensor& x = args[0].t;
    for (int64_t i = 0; i < got.numel(); ++i) {
      auto idx = unravel(i, want_shape);
      for (size_t d = 0; d < idx.size(); ++d) idx[d] = picked[d][static_cast<size_t>(idx[d])];
      ASSERT_EQ(got.data<float>()[i], x.data<float>()[ravel(idx, s)]) << "element " << i;
    }
  }
}

TEST(Ops, SliceCommonExporterPatterns) {
  const Tensor x = i64s({0, 1, 2, 3, 4, 5, 6, 7});
  auto slice = [&](std::vector<int64_t> st, std::vector<int64_t> en, std::vector<int64_t> step) {
    return run_op1("Slice", {rt(x), cst(i64s(st)), cst(i64s(en)), cst(i64s({0})), cst(i64s(step))});
  };
  expect_identical(slice({2}, {INT64_MAX}, {1}), i64s({2, 3, 4, 5, 6, 7}));
  expect_identical(slice({-1}, {INT64_MIN}, {-1}), i64s({7, 6, 5, 4, 3, 2, 1, 0}));
  expect_identical(slice({-1}, {-INT64_MAX}, {-2}), i64s({7, 5, 3, 1}));
  expect_identical(slice({-3}, {-1}, {1}), i64s({5, 6}));
  expect_identical(slice({6}, {1}, {-2}), i64s({6, 4, 2}));
  expect_identical(slice({100}, {-100}, {-3}), i64s({7, 4, 1}));
  expect_identical(slice({5}, {2}, {1}), i64s({}));
  expect_identical(slice({-100}, {INT64_MIN}, {-1}), i64s({0}));  // where ONNX and Python differ
}

TEST(Ops, Concat) {
  std::mt19937 rng(12);
  for (int trial = 0; trial < 20; ++trial) {
    const Shape base = random_shape(rng, 1, 4);
    const int64_t rank = static_cast<int64_t>(base.size());
    const int64_t axis = uniform(rng, -rank, rank - 1);
    const size_t a = static_cast<size_t>(axis < 0 ? axis + rank : axis);
    std::vector<Tensor> parts;
    std::vector<Arg> args;
    for (int p = 0, n = static_cast<int>(uniform(rng, 1, 4)); p < n; ++p) {
      Shape s = base;
      s[a] = uniform(rng, 0, 3);
      parts.push_back(random_f32(s, rng));
      args.push_back(rt(parts.back()));
    }
    const Tensor got = run_op1("Concat", args, {{"axis", int_attr(axis)}});
    Shape want_shape = base;
    want_shape[a] = 0;
    for (const Tensor& t : parts) want_shape[a] += t.shape()[a];
    ASSERT_EQ(got.shape(), want_shape);
    for (int64_t i = 0; i < got.numel(); ++i) {
      auto idx = unravel(i, want_shape);
      size_t p = 0;
      while (idx[a] >= parts[p].shape()[a]) idx[a] -= parts[p++].shape()[a];
      ASSERT_EQ(got.data<float>()[i], parts[p].data<float>()[ravel(idx, parts[p].shape())]);
    }
  }
  expect_identical(run_op1("Concat", {rt(i64s({3})), rt(i64s({-1, 4})), rt(i64s({}))}), i64s({3, -1, 4}));
  expect_error([] { run_op1("Concat", {rt(Tensor(DType::f32, {2, 3})), rt(Tensor(DType::f32, {3, 3}))}, {{"axis", int_attr(1)}}); },
               {"Concat node 'test_node'", "differ"});
}

TEST(Ops, Gather) {
  std::mt19937 rng(13);
  const Tensor x = random_f32({4, 5, 3}, rng);
  for (int64_t axis : {0, 1, -1}) {
    const size_t a = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
    const int64_t len = x.shape()[a];
    for (const Shape& is : std::vector<Shape>{{}, {2}, {2, 3}}) {
      const Tensor idx = random_i64(is, rng, -len, len - 1);
      SCOPED_TRACE("axis " + std::to_string(axis) + " indices " + shape_str(is));
      const Tensor got = run_op1("Gather", {rt(x), rt(idx)}, {{"axis", int_attr(axis)}});
      Shape want_shape(x.shape().begin(), x.shape().begin() + static_cast<int64_t>(a));
      want_shape.insert(want_shape.end(), is.begin(), is.end());
      want_shape.insert(want_shape.end(), x.shape().begin() + static_cast<int64_t>(a) + 1, x.shape().end());
      ASSERT_EQ(got.shape(), want_shape);
      for (int64_t i = 0; i < got.numel(); ++i) {
        const auto oidx = unravel(i, want_shape);
        std::vector<int64_t> iidx(oidx.begin(), oidx.begin() + static_cast<int64_t>(a));
        const std::vector<int64_t> at(oidx.begin() + static_cast<int64_t>(a), oidx.begin() + static_cast<int64_t>(a + is.size()));
        int64_t j = idx.data<int64_t>()[ravel(at, is)];
        iidx.push_back(j < 0 ? j + len : j);
        iidx.insert(iidx.end(), oidx.begin() + static_cast<int64_t>(a + is.size()), oidx.end());
        ASSERT_EQ(got.data<float>()[i], x.data<float>()[ravel(iidx, x.shape())]) << "element " << i;
      }
    }
  }
  // The exporter's shape arithmetic: one dimension out of a Shape result, as a scalar.
  expect_identical(run_op1("Gather", {rt(i64s({8, 3, 224, 224})), rt(i64_scalar(0))}), i64_scalar(8));
  expect_identical(run_op1("Gather", {rt(i64s({8, 3, 224, 224})), rt(i64_scalar(-1))}), i64_scalar(224));
  const Tensor i32 = Tensor::from_vector<int32_t>({2}, {2, -4});
  expect_identical(run_op1("Gather", {rt(i64s({8, 3, 224, 225})), rt(i32)}), i64s({224, 8}));
}

TEST(Ops, GatherOutOfRangeNamesTheNode) {
  const Tensor x(DType::f32, {4, 5});
  expect_error([&] { run_op1("Gather", {rt(x), rt(i64s({0, 4}))}); }, {"Gather node 'test_node'", "index 4", "out of range"});
  expect_error([&] { run_op1("Gather", {rt(x), rt(i64s({-6}))}, {{"axis", int_attr(1)}}); }, {"Gather node 'test_node'", "index -6"});
}

// Pad's modes by their definitions: constant fills, edge repeats the border, reflect mirrors
// around the border element without repeating it.
int64_t pad_source(int64_t j, int64_t n, const std::string& mode) {
  if (mode == "edge") return std::clamp<int64_t>(j, 0, n - 1);
  while (j < 0 || j >= n) {
    if (j < 0) j = -j;
    if (j >= n) j = 2 * (n - 1) - j;
  }
  return j;
}

TEST(Ops, Pad) {
  std::mt19937 rng(14);
  for (const std::string mode : {"constant", "edge", "reflect"})
    for (int trial = 0; trial < 10; ++trial) {
      const Shape s = random_shape(rng, 1, 3, 5);
      const size_t rank = s.size();
      std::vector<int64_t> pads(2 * rank);
      for (size_t i = 0; i < pads.size(); ++i) pads[i] = uniform(rng, 0, mode == "reflect" ? s[i % rank] - 1 : 3);
      const Tensor x = random_f32(s, rng);
      const float fill = 2.5f;
      std::vector<Arg> args{rt(x), cst(i64s(pads))};
      if (mode == "constant" && trial % 2) args.push_back(rt(f32s({}, {fill})));
      SCOPED_TRACE(mode + " " + shape_str(s) + " pads " + shape_str(pads));
      const Tensor got = run_op1("Pad", args, {{"mode", string_attr(mode)}});
      Shape os = s;
      for (size_t d = 0; d < rank; ++d) os[d] += pads[d] + pads[d + rank];
      ASSERT_EQ(got.shape(), os);
      for (int64_t i = 0; i < got.numel(); ++i) {
        auto idx = unravel(i, os);
        bool inside = true;
        for (size_t d = 0; d < rank; ++d) {
          const int64_t j = idx[d] - pads[d];
          inside = inside && j >= 0 && j < s[d];
          idx[d] = mode == "constant" ? j : pad_source(j, s[d], mode);
        }
        const float want = mode == "constant" && !inside ? (args.size() > 2 ? fill : 0.f) : x.data<float>()[ravel(idx, s)];
        ASSERT_EQ(got.data<float>()[i], want) << "element " << i;
      }
    }
}

TEST(Ops, ReduceMean) {
  std::mt19937 rng(15);
  const Tensor x = random_f32({2, 3, 4, 5}, rng);
  struct Case {
    std::vector<int64_t> axes;
    int keepdims;
    bool as_input;
  };
  for (const Case& c : std::vector<Case>{{{1}, 1, false},
                                         {{1}, 0, false},
                                         {{-1, -2}, 1, false},
                                         {{2, 3}, 0, true},
                                         {{0, 2}, 0, true},
                                         {{}, 1, false},
                                         {{}, 0, false},
                                         {{3, 0, 1}, 1, true}}) {
    SCOPED_TRACE("axes " + shape_str(c.axes) + " keepdims " + std::to_string(c.keepdims));
    std::vector<bool> reduce(4, c.axes.empty());
    for (int64_t a : c.axes) reduce[static_cast<size_t>(a < 0 ? a + 4 : a)] = true;
    Shape kept;
    Shape want_shape;
    for (size_t d = 0; d < 4; ++d) {
      kept.push_back(reduce[d] ? 1 : x.shape()[d]);
      if (!reduce[d]) want_shape.push_back(x.shape()[d]);
      else if (c.keepdims) want_shape.push_back(1);
    }
    std::vector<double> sum(static_cast<size_t>(shape_numel(kept)), 0.0);
    for (int64_t i = 0; i < x.numel(); ++i) {
      auto idx = unravel(i, x.shape());
      for (size_t d = 0; d < 4; ++d)
        if (reduce[d]) idx[d] = 0;
      sum[static_cast<size_t>(ravel(idx, kept))] += x.data<float>()[i];
    }
    const double count = static_cast<double>(x.numel() / shape_numel(kept));
    Tensor want(DType::f32, want_shape);
    for (size_t i = 0; i < sum.size(); ++i) want.data<float>()[i] = static_cast<float>(sum[i] / count);
    Attrs attrs{{"keepdims", int_attr(c.keepdims)}};
    std::vector<Arg> args{rt(x)};
    if (c.as_input) args.push_back(cst(i64s(c.axes)));
    else if (!c.axes.empty()) attrs["axes"] = ints_attr(c.axes);
    expect_close(run_op1("ReduceMean", args, attrs), want, 1e-6);
  }
  expect_identical(run_op1("ReduceMean", {rt(x), cst(i64s({}))}, {{"noop_with_empty_axes", int_attr(1)}}), x);
}

TEST(Ops, GlobalAveragePool) {
  std::mt19937 rng(16);
  for (const Shape& s : std::vector<Shape>{{2, 3, 4, 5}, {1, 7, 1, 1}, {2, 2, 6}}) {
    const Tensor x = random_f32(s, rng);
    Shape os = s;
    for (size_t d = 2; d < s.size(); ++d) os[d] = 1;
    const int64_t spatial = x.numel() / (s[0] * s[1]);
    Tensor want(DType::f32, os);
    for (int64_t c = 0; c < s[0] * s[1]; ++c) {
      double acc = 0;
      for (int64_t i = 0; i < spatial; ++i) acc += x.data<float>()[c * spatial + i];
      want.data<float>()[c] = static_cast<float>(acc / static_cast<double>(spatial));
    }
    expect_close(run_op1("GlobalAveragePool", {rt(x)}), want, 1e-6, shape_str(s));
  }
}

TEST(Ops, BatchNormalization) {
  std::mt19937 rng(17);
  for (const Shape& s : std::vector<Shape>{{3, 5}, {2, 4, 3, 3}, {3, 37, 7, 9}}) {
    const int64_t c = s[1];
    const Tensor x = random_f32(s, rng, -3.f, 3.f);
    const Tensor scale = random_f32({c}, rng, 0.5f, 2.f), bias = random_f32({c}, rng);
    const Tensor mean = random_f32({c}, rng), var = random_f32({c}, rng, 0.1f, 2.f);
    const float eps = 1e-3f;
    Tensor want(DType::f32, s);
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t ch = unravel(i, s)[1];
      const double v = (x.data<float>()[i] - double{mean.data<float>()[ch]}) / std::sqrt(double{var.data<float>()[ch]} + eps);
      want.data<float>()[i] = static_cast<float>(v * scale.data<float>()[ch] + bias.data<float>()[ch]);
    }
    const std::vector<Arg> args{rt(x), cst(scale), cst(bias), cst(mean), cst(var)};
    expect_close(run_op1("BatchNormalization", args, {{"epsilon", float_attr(eps)}}), want, 1e-5, shape_str(s));
    // The plan's kernel (an unfolded BN in another tool's QDQ file): within a rounding of the
    // reference loop, at batch 2 and 3 to cross images.
    expect_close(run_op("BatchNormalization", args, {{"epsilon", float_attr(eps)}}, 1, "test_node", true).at(0),
                 run_op1("BatchNormalization", args, {{"epsilon", float_attr(eps)}}), 1e-6, "kernel " + shape_str(s));
  }
  expect_error([&] {
    run_op1("BatchNormalization", {rt(Tensor(DType::f32, {2, 3})), cst(Tensor(DType::f32, {4})), cst(Tensor(DType::f32, {3})),
                                   cst(Tensor(DType::f32, {3})), cst(Tensor(DType::f32, {3}))});
  }, {"BatchNormalization node 'test_node'", "[4]"});
}

TEST(Ops, ShapeConstantOfShapeRangeExpand) {
  const Tensor x(DType::f32, {2, 3, 5, 7});
  expect_identical(run_op1("Shape", {rt(x)}), i64s({2, 3, 5, 7}));
  expect_identical(run_op1("Shape", {rt(x)}, {{"start", int_attr(1)}, {"end", int_attr(-1)}}), i64s({3, 5}));
  expect_identical(run_op1("Shape", {rt(x)}, {{"start", int_attr(-2)}}), i64s({5, 7}));
  expect_identical(run_op1("Shape", {rt(x)}, {{"end", int_attr(10)}}), i64s({2, 3, 5, 7}));
  expect_identical(run_op1("Shape", {rt(x)}, {{"start", int_attr(3)}, {"end", int_attr(1)}}), i64s({}));
  expect_identical(run_op1("Shape", {rt(f32s({}, {1.f}))}), i64s({}));

  expect_identical(run_op1("ConstantOfShape", {cst(i64s({2, 3}))}), Tensor(DType::f32, {2, 3}));
  expect_identical(run_op1("ConstantOfShape", {cst(i64s({2}))}, {{"value", tensor_attr(f32s({1}, {2.5f}))}}), f32s({2}, {2.5f, 2.5f}));
  expect_identical(run_op1("ConstantOfShape", {cst(i64s({3}))}, {{"value", tensor_attr(i64s({7}))}}), i64s({7, 7, 7}));
  expect_identical(run_op1("ConstantOfShape", {cst(i64s({}))}, {{"value", tensor_attr(i64s({7}))}}), i64_scalar(7));

  auto range = [](Tensor a, Tensor b, Tensor c) { return run_op1("Range", {cst(a), cst(b), cst(c)}); };
  expect_identical(range(i64_scalar(0), i64_scalar(10), i64_scalar(3)), i64s({0, 3, 6, 9}));
  expect_identical(range(i64_scalar(10), i64_scalar(0), i64_scalar(-3)), i64s({10, 7, 4, 1}));
  expect_identical(range(i64_scalar(5), i64_scalar(0), i64_scalar(1)), i64s({}));
  expect_identical(range(f32s({}, {0.5f}), f32s({}, {2.f}), f32s({}, {0.5f})), f32s({3}, {0.5f, 1.f, 1.5f}));
  expect_error([&] { range(i64_scalar(0), i64_scalar(3), i64_scalar(0)); }, {"Range node 'test_node'", "delta"});

  std::mt19937 rng(18);
  for (const auto& [in, target] : std::vector<std::pair<Shape, std::vector<int64_t>>>{
           {{3, 1}, {2, 3, 4}}, {{1, 4}, {3, 1}}, {{}, {2, 2}}, {{2, 3}, {1}}, {{1, 3, 1}, {2, 1, 1, 5}}}) {
    const Tensor t = random_f32(in, rng);
    const Tensor got = run_op1("Expand", {rt(t), cst(i64s(target))});
    const Shape want_shape = naive_broadcast(in, Shape(target.begin(), target.end()));
    ASSERT_EQ(got.shape(), want_shape) << shape_str(in) << " to " << shape_str(target);
    for (int64_t i = 0; i < got.numel(); ++i)
      ASSERT_EQ(got.data<float>()[i], t.data<float>()[broadcast_offset(unravel(i, want_shape), in)]);
  }
}

TEST(Ops, BadBroadcastNamesTheNode) {
  expect_error([] { run_op1("Add", {rt(Tensor(DType::f32, {2, 3})), rt(Tensor(DType::f32, {4, 3}))}); },
               {"Add node 'test_node'", "cannot broadcast [2,3] with [4,3]"});
  expect_error([] { run_op1("Where", {rt(Tensor(DType::bool8, {2})), rt(Tensor(DType::f32, {3})), rt(Tensor(DType::f32, {1}))}); },
               {"Where node 'test_node'", "cannot broadcast"});
  expect_error([] { run_op1("Expand", {rt(Tensor(DType::f32, {3})), cst(i64s({2, 4}))}); }, {"Expand node 'test_node'", "cannot broadcast"});
  expect_error([] { run_op1("Mul", {rt(Tensor(DType::f32, {2})), rt(Tensor(DType::i64, {2}))}); }, {"Mul node 'test_node'", "types differ"});
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// The vectorised softmax against the reference on attention-sized and awkward rows, including
// large logits (overflow without max subtraction) and very negative ones (underflow to 0).
TEST(SoftmaxKernel, MatchesReference) {
  std::mt19937 rng(60);
  for (const Shape& s : {Shape{4, 49, 49}, Shape{1, 16, 16}, Shape{3, 1}, Shape{2, 5, 1000}, Shape{7, 33}}) {
    for (float scale : {1.f, 30.f, 200.f}) {
      Tensor x = random_f32(s, rng, -scale, scale);
      const Tensor want = run_op1("Softmax", {rt(x)}, {{"axis", int_attr(-1)}});
      const Tensor got = run_op("Softmax", {rt(x)}, {{"axis", int_attr(-1)}}, 1, "sm", /*fast=*/true).at(0);
      expect_close(got, want, 1e-5, "softmax " + shape_str(s) + " scale " + std::to_string(scale));
    }
  }
  // Legacy (opset < 13) semantics: rows are everything from `axis` on.
  Tensor x = random_f32({2, 3, 4}, rng);
  Attrs legacy{{"axis", int_attr(1)}, {"effvit.coerce_2d", int_attr(1)}};
  expect_close(run_op("Softmax", {rt(x)}, legacy, 1, "sm", true).at(0), run_op1("Softmax", {rt(x)}, legacy), 1e-5);
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

TEST(MeanKernel, TrailingAxesMatchReference) {
  std::mt19937 rng(61);
  const Tensor x = random_f32({2, 24, 7, 5}, rng);
  for (const auto& axes : {std::vector<int64_t>{2, 3}, std::vector<int64_t>{-1}, std::vector<int64_t>{1, 2, 3}}) {
    for (int64_t keep : {0, 1}) {
      Attrs attrs{{"axes", ints_attr(axes)}, {"keepdims", int_attr(keep)}};
      expect_close(run_op("ReduceMean", {rt(x)}, attrs, 1, "m", true).at(0), run_op1("ReduceMean", {rt(x)}, attrs), 1e-6);
    }
  }
  expect_close(run_op("GlobalAveragePool", {rt(x)}, {}, 1, "g", true).at(0), run_op1("GlobalAveragePool", {rt(x)}), 1e-6);
  // Axes that are not one trailing block go to the reference.
  EXPECT_THROW(run_op("ReduceMean", {rt(x)}, {{"axes", ints_attr({1})}}, 1, "m", true), std::runtime_error);
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

TEST(EltwiseKernel, FlatReluAndAddMatchReference) {
  std::mt19937 rng(62);
  for (const Shape& s : {Shape{1, 64, 14, 14}, Shape{3, 17}, Shape{1}}) {
    const Tensor a = random_f32(s, rng), b = random_f32(s, rng);
    expect_identical(run_op("Relu", {rt(a)}, {}, 1, "r", true).at(0), run_op1("Relu", {rt(a)}));
    expect_identical(run_op("Add", {rt(a), rt(b)}, {}, 1, "a", true).at(0), run_op1("Add", {rt(a), rt(b)}));
  }
  // Broadcasting adds stay with the reference.
  EXPECT_THROW(run_op("Add", {rt(random_f32({2, 3}, rng)), rt(random_f32({3}, rng))}, {}, 1, "a", true), std::runtime_error);
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

TEST(Ops, DropoutIsTheIdentityAtInference) {
  std::mt19937 rng(63);
  const Tensor x = random_f32({2, 5}, rng);
  const auto outs = run_op("Dropout", {rt(x), cst(f32s({}, {0.5f}))}, {}, 2);
  expect_identical(outs[0], x);
  for (int64_t i = 0; i < outs[1].numel(); ++i) EXPECT_EQ(outs[1].data<uint8_t>()[i], 1);
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// INT_MIN / -1 traps on x86 (SIGFPE), and load-time folding would hit it in a checker-valid model:
// it wraps like numpy, and the remainders are 0.
TEST(Ops, IntegerDivisionOfTheMinimumByMinusOneWraps) {
  const int64_t lo = std::numeric_limits<int64_t>::min();
  const Tensor a = i64s({lo, 7, -7}), b = i64s({-1, -1, -1});
  const Tensor q = run_op1("Div", {rt(a), rt(b)});
  EXPECT_EQ(q.data<int64_t>()[0], lo);
  EXPECT_EQ(q.data<int64_t>()[1], -7);
  EXPECT_EQ(q.data<int64_t>()[2], 7);
  for (int64_t fmod : {0, 1}) {
    const Tensor r = run_op1("Mod", {rt(a), rt(b)}, {{"fmod", int_attr(fmod)}});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(r.data<int64_t>()[i], 0) << "fmod " << fmod;
  }
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

TEST(TensorAccess, TypedAccessChecksTheElementType) {
  Tensor ints(DType::i64, {3});
  EXPECT_NO_THROW(ints.data<int64_t>());
  EXPECT_THROW(ints.data<float>(), Error);
  const Tensor flags(DType::bool8, {2});
  EXPECT_NO_THROW(flags.data<uint8_t>());  // bool is stored as uint8_t
  EXPECT_THROW(flags.data<int8_t>(), Error);
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

Tensor u8s(Shape shape, std::vector<uint8_t> v) { return Tensor::from_vector<uint8_t>(std::move(shape), v); }
Tensor i8s(Shape shape, std::vector<int8_t> v) { return Tensor::from_vector<int8_t>(std::move(shape), v); }

// Values worked out by hand from the ONNX definition: round half to even, then saturate.
TEST(Ops, QuantizeLinearRoundsHalfToEvenAndSaturates) {
  const Tensor x = f32s({8}, {0.f, 1.f, 2.5f, 3.5f, -2.5f, 100.f, -100.f, 0.74f});
  const Tensor scale = f32s({}, {0.5f});
  // x / 0.5 = 0, 2, 5, 7, -5, 200, -200, 1.48; plus the zero point, saturated to the type.
  expect_identical(run_op1("QuantizeLinear", {rt(x), rt(scale), rt(u8s({}, {10}))}),
                   u8s({8}, {10, 12, 15, 17, 5, 210, 0, 11}));
  expect_identical(run_op1("QuantizeLinear", {rt(x), rt(scale), rt(i8s({}, {-3}))}),
                   i8s({8}, {-3, -1, 2, 4, -8, 127, -128, -2}));
  // Ties: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2 (scale 1, zero point 0 by default: uint8).
  const Tensor ties = f32s({5}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f});
  expect_identical(run_op1("QuantizeLinear", {rt(ties), rt(f32s({}, {1.f})), rt(i8s({}, {0}))}), i8s({5}, {0, 2, 2, 0, -2}));
  expect_identical(run_op1("QuantizeLinear", {rt(ties), rt(f32s({}, {1.f}))}), u8s({5}, {0, 2, 2, 0, 0}));
}

TEST(Ops, QuantizeAndDequantizePerChannel) {
  // [2, 3, 2]: channel axis 1 with scales 1, 0.5, 0.25 and zero points 0, 1, -1.
  const Tensor x = f32s({2, 3, 2}, {1.f, -1.f, 1.f, -1.f, 1.f, -1.f, 2.f, 3.f, 0.25f, 0.75f, -0.25f, 0.5f});
  const Tensor scale = f32s({3}, {1.f, 0.5f, 0.25f});
  const Tensor zp = i8s({3}, {0, 1, -1});
  const Tensor q = run_op1("QuantizeLinear", {rt(x), rt(scale), rt(zp)});
  expect_identical(q, i8s({2, 3, 2}, {1, -1, 3, -1, 3, -5, 2, 3, 1, 3, -2, 1}));
  const Tensor back = run_op1("DequantizeLinear", {rt(q), rt(scale), rt(zp)});
  expect_identical(back, f32s({2, 3, 2}, {1.f, -1.f, 1.f, -1.f, 1.f, -1.f, 2.f, 3.f, 0.f, 1.f, -0.25f, 0.5f}));
  // Another axis, and int32 input (a bias) with no zero point.
  const Tensor q0 = run_op1("QuantizeLinear", {rt(x), rt(f32s({2}, {1.f, 0.5f})), rt(u8s({2}, {0, 128}))}, {{"axis", int_attr(0)}});
  expect_identical(q0, u8s({2, 3, 2}, {1, 0, 1, 0, 1, 0, 132, 134, 128, 130, 128, 129}));
  const Tensor bias = Tensor::from_vector<int32_t>({3}, {-70000, 0, 70000});
  expect_identical(run_op1("DequantizeLinear", {rt(bias), rt(f32s({}, {0.001f}))}), f32s({3}, {-70000 * 0.001f, 0.f, 70000 * 0.001f}));
}

TEST(Ops, QuantizeLinearRejectsMismatchedParameters) {
  const Tensor x = f32s({2, 3}, {0, 0, 0, 0, 0, 0});
  EXPECT_THROW(run_op1("QuantizeLinear", {rt(x), rt(f32s({2}, {1.f, 1.f}))}), Error);  // axis 1 has 3
  EXPECT_THROW(run_op1("QuantizeLinear", {rt(x), rt(f32s({3}, {1.f, 1.f, 1.f})), rt(u8s({2}, {0, 0}))}), Error);
  EXPECT_THROW(run_op1("DequantizeLinear", {rt(x), rt(f32s({}, {1.f}))}), Error);  // float input
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// The plan-time gathers (Slice, Transpose, Expand with constant parameters) against each op's
// reference loop, on random shapes, negative steps and broadcasts included.
TEST(Ops, GatherKernelsMatchTheirReference) {
  std::mt19937 rng(31);
  auto fast = [](const std::string& op, const std::vector<Arg>& args, Attrs attrs = {}) {
    return run_op(op, args, std::move(attrs), 1, "test_node", true).at(0);
  };
  for (int trial = 0; trial < 30; ++trial) {
    std::uniform_int_distribution<int64_t> dim(1, 5);
    const Shape s{dim(rng), dim(rng), dim(rng), dim(rng)};
    const Tensor x = random_f32(s, rng);
    // Transpose by a random permutation.
    std::vector<int64_t> perm{0, 1, 2, 3};
    std::shuffle(perm.begin(), perm.end(), rng);
    Attrs perm_attr{{"perm", ints_attr(perm)}};
    expect_identical(fast("Transpose", {rt(x)}, perm_attr), run_op1("Transpose", {rt(x)}, perm_attr));
    // Slice one axis with a random start, end and step (negative too).
    const int64_t axis = std::uniform_int_distribution<int64_t>(0, 3)(rng);
    const int64_t step = std::uniform_int_distribution<int64_t>(0, 1)(rng) ? 2 : -1;
    const int64_t start = std::uniform_int_distribution<int64_t>(-6, 6)(rng), end = std::uniform_int_distribution<int64_t>(-6, 6)(rng);
    const std::vector<Arg> slice{rt(x), cst(i64s({start})), cst(i64s({end})), cst(i64s({axis})), cst(i64s({step}))};
    expect_identical(fast("Slice", slice), run_op1("Slice", slice));
    // Expand a [1, C, 1, W] tensor to the full shape.
    const Tensor small = random_f32({1, s[1], 1, s[3]}, rng);
    const std::vector<Arg> expand{rt(small), cst(i64s(std::vector<int64_t>(s.begin(), s.end())))};
    expect_identical(fast("Expand", expand), run_op1("Expand", expand));
  }
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// MatMulInteger by its definition, (a - a_zero)(b - b_zero) in integers: the reference and the
// plan's kernel (b a constant, centred once), per-row and per-column zero points, batch broadcast.
TEST(Ops, MatMulIntegerMatchesItsDefinition) {
  std::mt19937 rng(34);
  Tensor a(DType::u8, {2, 3, 5}), b(DType::i8, {5, 4});
  for (int64_t i = 0; i < a.numel(); ++i) a.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
  for (int64_t i = 0; i < b.numel(); ++i) b.data<int8_t>()[i] = static_cast<int8_t>(rng());
  const Tensor za = Tensor::from_vector<uint8_t>({3}, {0, 128, 255}), zb = Tensor::from_vector<int8_t>({4}, {0, -128, 127, 5});
  const std::vector<Arg> args{rt(a), cst(b), cst(za), cst(zb)};
  const Tensor ref = run_op1("MatMulInteger", args);
  expect_identical(run_op("MatMulInteger", args, {}, 1, "test_node", true).at(0), ref);
  ASSERT_EQ(ref.shape(), (Shape{2, 3, 4}));
  for (int64_t t = 0; t < 2; ++t)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j) {
        int64_t sum = 0;
        for (int64_t p = 0; p < 5; ++p)
          sum += (int64_t{a.data<uint8_t>()[(t * 3 + i) * 5 + p]} - za.data<uint8_t>()[i]) * (int64_t{b.data<int8_t>()[p * 4 + j]} - zb.data<int8_t>()[j]);
        ASSERT_EQ(ref.data<int32_t>()[(t * 3 + i) * 4 + j], sum) << t << " " << i << " " << j;
      }
}

// Mul by a per-row scale (squeeze-excite's x * gate) runs as ScaleRows: bit-equal to the broadcast
// reference for either operand order and ranks aligned or not; other broadcasts keep the walk.
TEST(Ops, MulScaleRowsMatchesReference) {
  std::mt19937 rng(33);
  const std::vector<std::pair<Shape, Shape>> cases = {{{1, 37, 7, 7}, {1, 37, 1, 1}}, {{2, 5, 3, 4}, {2, 5, 1, 1}},
                                                      {{3, 17, 9}, {3, 1, 1}},       {{1, 4, 5}, {4, 1}},
                                                      {{2, 3, 4}, {2, 3, 4}},        {{6, 4, 5}, {4, 1}}};
  for (size_t c = 0; c < cases.size(); ++c) {
    const auto& [full, scale] = cases[c];
    const Tensor x = random_f32(full, rng), s = random_f32(scale, rng);
    for (bool scale_first : {false, true}) {
      const std::vector<Arg> args = scale_first ? std::vector<Arg>{rt(s), rt(x)} : std::vector<Arg>{rt(x), rt(s)};
      if (c < 4)
        expect_identical(run_op("Mul", args, {}, 1, "test_node", true).at(0), run_op1("Mul", args));
      else
        EXPECT_THROW(run_op("Mul", args, {}, 1, "test_node", true), std::runtime_error) << shape_str(full) << " x " << shape_str(scale);
    }
  }
}

// Sub of a per-row value (an image's per-channel mean, as `effvit quantize` writes a featuremap
// model's input) runs as ShiftRows: bit-equal to the broadcast reference, zeros of both signs and
// equal operands included; the mean first, or other broadcasts, keep the walk.
TEST(Ops, SubShiftRowsMatchesReference) {
  std::mt19937 rng(34);
  const std::vector<std::pair<Shape, Shape>> cases = {{{1, 3, 224, 224}, {1, 3, 1, 1}}, {{2, 5, 3, 4}, {2, 5, 1, 1}},
                                                      {{3, 17, 9}, {3, 1, 1}},           {{1, 4, 5}, {4, 1}},
                                                      {{2, 3, 4}, {2, 3, 4}},            {{6, 4, 5}, {4, 1}}};
  for (size_t c = 0; c < cases.size(); ++c) {
    const auto& [full, mean] = cases[c];
    Tensor x = random_f32(full, rng), m = random_f32(mean, rng);
    x.data<float>()[0] = -0.f;
    m.data<float>()[0] = 0.f;
    x.data<float>()[1] = m.data<float>()[0];
    const std::vector<Arg> args{rt(x), rt(m)};
    if (c < 4)
      expect_identical(run_op("Sub", args, {}, 1, "test_node", true).at(0), run_op1("Sub", args));
    else
      EXPECT_THROW(run_op("Sub", args, {}, 1, "test_node", true), std::runtime_error) << shape_str(full) << " - " << shape_str(mean);
    EXPECT_THROW(run_op("Sub", {rt(m), rt(x)}, {}, 1, "test_node", true), std::runtime_error) << "mean first";
  }
}

// Seventeen axes (a review found 16 as a silent limit of the allocation-free walks): an Add and a
// reversing Transpose, plan-time kernel and reference alike.
TEST(Ops, ManyAxesStillWork) {
  std::mt19937 rng(32);
  const Shape s(17, 2);
  const Tensor a = random_f32(s, rng), b = random_f32(s, rng);
  const Tensor sum = run_op1("Add", {rt(a), rt(b)});
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(sum.data<float>()[i], a.data<float>()[i] + b.data<float>()[i]);
  std::vector<int64_t> reverse(17);
  for (int64_t d = 0; d < 17; ++d) reverse[static_cast<size_t>(d)] = 16 - d;
  Attrs perm{{"perm", ints_attr(reverse)}};
  const Tensor t = run_op1("Transpose", {rt(a)}, perm);
  expect_identical(run_op("Transpose", {rt(a)}, perm, 1, "test_node", true).at(0), t);
  // Reversing all axes of a 2x...x2 tensor maps flat index i to the index with its bits reversed.
  for (int64_t i = 0; i < a.numel(); ++i) {
    int64_t j = 0;
    for (int bit = 0; bit < 17; ++bit) j |= ((i >> bit) & 1) << (16 - bit);
    ASSERT_EQ(t.data<float>()[j], a.data<float>()[i]);
  }
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// A host application may run one Session per thread of its own OpenMP region. A kernel sized for
// one thread must then use its first scratch slot, whatever the host thread's number: each host
// thread here runs its own kernel on its own workspace, followed by guard floats that must survive.
template <typename MakeKernel, typename Run>
void expect_scratch_stays_inside(MakeKernel make_kernel, Run run) {
  const int host_threads = 3;
  bool overflow[host_threads] = {};
#pragma omp parallel num_threads(host_threads)
  {
    std::unique_ptr<Kernel> kernel = make_kernel();
    const size_t floats = std::max<size_t>(kernel->workspace_bytes() / sizeof(float), 1);
    std::vector<float> workspace(floats * 8, 12345.f);
    kernel->bind_workspace(workspace.data());
    run(*kernel);
    for (size_t i = floats; i < workspace.size(); ++i)
      if (workspace[i] != 12345.f) overflow[omp_get_thread_num()] = true;
  }
  for (int t = 0; t < host_threads; ++t) EXPECT_FALSE(overflow[t]) << "host OpenMP thread " << t << " wrote past its workspace";
}

TEST(KernelScratch, StaysInsideItsWorkspaceInAHostOpenMPRegion) {
  std::mt19937 rng(77);
  // The attention head: 4 windows of 7x7, key_dim 16, value_dim 16, a 3x3 depthwise kernel.
  OneNode head = build_one_node("effvit.AttentionHead",
                                {rt(random_f32({4, 48, 7, 7}, rng)), cst(random_f32({16, 1, 3, 3}, rng)), omitted(), omitted()},
                                {{"key_dim", int_attr(16)}, {"pads", ints_attr({1, 1, 1, 1})}}, 1, "head");
  const Tensor qkv = random_f32({4, 48, 7, 7}, rng);
  const Tensor& weight = head.graph.value(head.node.inputs[1]).constant;
  expect_scratch_stays_inside([&] { return head.def->create(head.node, head.graph, KernelOptions{}); },
                              [&](Kernel& k) {
                                Tensor y(DType::f32, {4, 16, 49});
                                k.run({&qkv, &weight, nullptr, nullptr}, {&y});
                              });
  // The image quantizer: one NV12 frame.
  Tensor frame(DType::u8, {1, 24, 16, 1});
  for (int64_t i = 0; i < frame.numel(); ++i) frame.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
  Attribute mean, scale;
  mean.kind = scale.kind = Attribute::Kind::Floats;
  mean.floats = {120.f};
  scale.floats = {0.02f};
  OneNode image = build_one_node("effvit.QuantizeImage", {rt(frame)},
                                 {{"nv12", int_attr(1)}, {"mean", mean}, {"scale", scale}, {"y_scale", float_attr(0.03f)}}, 1, "image");
  expect_scratch_stays_inside([&] { return image.def->create(image.node, image.graph, KernelOptions{}); },
                              [&](Kernel& k) {
                                Tensor y(DType::u8, {1, 3, 16, 16});
                                k.run({&frame}, {&y});
                              });
}

}  // namespace
}  // namespace effvit
