// MatMul (numpy semantics: batched, broadcasting, 1-D promotion) and Gemm. A MatMul may carry
// effvit.trans_a / effvit.trans_b (set by passes/fold_transpose_into_matmul.cpp): that operand is
// stored with its last two axes swapped, and is read through strides instead of being copied, and
// effvit.scale, a factor applied to the product (passes/fuse_attention_scores.cpp).
#include <cstring>

#include "ops/broadcast.h"
#include "ops/dnnl/kernels.h"
#include "ops/op.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

struct MatMulShapes {
  bool trans_a = false, trans_b = false;
  Shape a, b;          // logical operands (after trans_*) promoted to rank >= 2
  Shape batch;         // broadcast batch dims
  int64_t m, k, n;
  Shape out;           // final output (1-D promotions removed)
};

MatMulShapes matmul_shapes(const Node& node, Shape a, Shape b) {
  if (a.empty() || b.empty()) fail_node(node, "MatMul of a scalar");
  MatMulShapes s;
  s.trans_a = node.attr_int("effvit.trans_a", 0) && a.size() >= 2;
  s.trans_b = node.attr_int("effvit.trans_b", 0) && b.size() >= 2;
  if (s.trans_a) std::swap(a[a.size() - 1], a[a.size() - 2]);
  if (s.trans_b) std::swap(b[b.size() - 1], b[b.size() - 2]);
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  if (a.back() != b[b.size() - 2])
    fail_node(node, "inner dimensions differ: " + shape_str(a) + " x " + shape_str(b));
  s.m = a[a.size() - 2];
  s.k = a.back();
  s.n = b.back();
  s.batch = broadcast_shapes(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2), node);
  s.a = a;
  s.b = b;
  s.out = s.batch;
  if (!a_vec) s.out.push_back(s.m);
  if (!b_vec) s.out.push_back(s.n);
  return s;
}

void infer_matmul(InferContext& c) {
  c.require_f32(0, 1);
  c.set_output(0, DType::f32, matmul_shapes(c.node, c.shape(0), c.shape(1)).out);
}

// C[m x n] (+)= A[m x k] * B[k x n], rows of B streamed so the inner loop vectorises.
void gemm_rows(const float* a, int64_t lda_row, int64_t lda_col, const float* b, int64_t ldb_row, int64_t ldb_col,
               float* c, int64_t m, int64_t k, int64_t n) {
  for (int64_t i = 0; i < m; ++i) {
    float* crow = c + i * n;
    for (int64_t p = 0; p < k; ++p) {
      const float av = a[i * lda_row + p * lda_col];
      const float* brow = b + p * ldb_row;
      if (ldb_col == 1) {
        for (int64_t j = 0; j < n; ++j) crow[j] += av * brow[j];
      } else {
        for (int64_t j = 0; j < n; ++j) crow[j] += av * brow[j * ldb_col];
      }
    }
  }
}

void compute_matmul(const Node& node, const TensorIn& in, const TensorOut& out) {
  const MatMulShapes s = matmul_shapes(node, in[0]->shape(), in[1]->shape());
  const Shape a_batch(s.a.begin(), s.a.end() - 2), b_batch(s.b.begin(), s.b.end() - 2);
  const auto sa = broadcast_strides(a_batch, s.batch), sb = broadcast_strides(b_batch, s.batch);
  float* y = out[0]->data<float>();
  std::memset(y, 0, out[0]->bytes());
  const int64_t batches = shape_numel(s.batch);
  std::vector<int64_t> idx(s.batch.size(), 0);
  for (int64_t t = 0; t < batches; ++t) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < idx.size(); ++d) {
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
    }
    gemm_rows(in[0]->data<float>() + oa * s.m * s.k, s.trans_a ? 1 : s.k, s.trans_a ? s.m : 1,
              in[1]->data<float>() + ob * s.k * s.n, s.trans_b ? 1 : s.n, s.trans_b ? s.k : 1, y + t * s.m * s.n, s.m,
              s.k, s.n);
    next_index(idx, s.batch);
  }
  if (node.has("effvit.scale")) {
    const float scale = node.attr_float("effvit.scale", 1.f);
    for (int64_t i = 0, e = out[0]->numel(); i < e; ++i) y[i] *= scale;
  }
}

void infer_gemm(InferContext& c) {
  c.require_f32(0, 2);
  const Shape& a = c.shape(0);
  const Shape& b = c.shape(1);
  if (a.size() != 2 || b.size() != 2) c.fail("Gemm needs rank-2 inputs, got " + shape_str(a) + " and " + shape_str(b));
  const bool ta = c.node.attr_int("transA", 0), tb = c.node.attr_int("transB", 0);
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb) c.fail("inner dimensions differ: " + shape_str(a) + " x " + shape_str(b));
  // C broadcasts one way only: a C that would widen the result is not a valid bias.
  if (c.has_input(2) && broadcast_shapes(c.shape(2), {m, n}, c.node) != Shape{m, n})
    c.fail("C of shape " + shape_str(c.shape(2)) + " does not broadcast to the result " + shape_str({m, n}));
  c.set_output(0, DType::f32, {m, n});
}

void compute_gemm(const Node& node, const TensorIn& in, const TensorOut& out) {
  const Shape& as = in[0]->shape();
  const Shape& bs = in[1]->shape();
  const bool ta = node.attr_int("transA", 0), tb = node.attr_int("transB", 0);
  const float alpha = node.attr_float("alpha", 1.f), beta = node.attr_float("beta", 1.f);
  const int64_t m = ta ? as[1] : as[0], k = ta ? as[0] : as[1], n = tb ? bs[0] : bs[1];
  Tensor acc(DType::f32, {m, n});
  gemm_rows(in[0]->data<float>(), ta ? 1 : k, ta ? m : 1, in[1]->data<float>(), tb ? 1 : n, tb ? k : 1,
            acc.data<float>(), m, k, n);
  float* y = out[0]->data<float>();
  const float* pc = in.size() > 2 && in[2] ? in[2]->data<float>() : nullptr;
  const auto sc = pc ? broadcast_strides(in[2]->shape(), {m, n}) : std::vector<int64_t>{0, 0};
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float v = alpha * acc.data<float>()[i * n + j];
      if (pc) v += beta * pc[i * sc[0] + j * sc[1]];
      y[i * n + j] = v;
    }
}

}  // namespace

const OpDef kMatMulOp{"MatMul", infer_matmul, compute_matmul, create_matmul_dnnl};
const OpDef kGemmOp{"Gemm", infer_gemm, compute_gemm, create_gemm_dnnl};

}  // namespace effvit
