// The oneDNN MatMul and Gemm kernels against the reference loops, on the shapes EfficientViT's
// attention and head produce and on random awkward ones.
#include <gtest/gtest.h>

#include <random>

#include "test_util.h"

namespace effvit {
namespace {

using namespace effvit::test;

void check(const std::string& op, const std::vector<Arg>& args, Attrs attrs = {}) {
  const Tensor want = run_op(op, args, attrs).at(0);
  const Tensor got = run_op(op, args, attrs, 1, "test_node", /*fast=*/true).at(0);
  expect_close(got, want, 1e-5, op);
}

TEST(MatMulKernel, AttentionShapes) {
  std::mt19937 rng(1);
  // q^T k and v attn^T for 4 windows of 49 tokens, key dim 16, value dim 64.
  check("MatMul", {rt(random_f32({4, 49, 16}, rng)), rt(random_f32({4, 16, 49}, rng))});
  check("MatMul", {rt(random_f32({4, 64, 49}, rng)), rt(random_f32({4, 49, 49}, rng))});
}

TEST(MatMulKernel, RandomBatchedAndBroadcast) {
  std::mt19937 rng(2);
  std::uniform_int_distribution<int64_t> dim(1, 37);
  for (int i = 0; i < 25; ++i) {
    const int64_t m = dim(rng), k = dim(rng), n = dim(rng), b1 = dim(rng) % 4 + 1, b2 = dim(rng) % 3 + 1;
    check("MatMul", {rt(random_f32({b1, b2, m, k}, rng)), rt(random_f32({b2, k, n}, rng))});
    check("MatMul", {rt(random_f32({b1, 1, m, k}, rng)), rt(random_f32({1, b2, k, n}, rng))});
    check("MatMul", {rt(random_f32({m, k}, rng)), cst(random_f32({k, n}, rng))});
  }
}

TEST(GemmKernel, HeadShapesAndTransposes) {
  std::mt19937 rng(3);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      const int64_t m = 3, k = 192, n = 1000;
      Tensor a = random_f32(ta ? Shape{k, m} : Shape{m, k}, rng);
      Tensor b = random_f32(tb ? Shape{n, k} : Shape{k, n}, rng);
      Attrs attrs{{"transA", int_attr(ta)}, {"transB", int_attr(tb)}};
      check("Gemm", {rt(a), cst(b), cst(random_f32({n}, rng))}, attrs);
      check("Gemm", {rt(a), cst(b), cst(random_f32({1, n}, rng))}, attrs);
      check("Gemm", {rt(a), cst(b)}, attrs);
    }
}

TEST(GemmKernel, DeclinesWhatItCannotDo) {
  std::mt19937 rng(4);
  Attrs alpha{{"alpha", float_attr(0.5f)}};
  EXPECT_THROW(run_op("Gemm", {rt(random_f32({2, 3}, rng)), cst(random_f32({3, 4}, rng))}, alpha, 1, "g", true),
               std::runtime_error);
  // A full [M, N] C is not a row bias; the reference handles it.
  EXPECT_THROW(run_op("Gemm", {rt(random_f32({2, 3}, rng)), cst(random_f32({3, 4}, rng)), cst(random_f32({2, 4}, rng))},
                      {}, 1, "g", true),
               std::runtime_error);
}

}  // namespace
}  // namespace effvit
