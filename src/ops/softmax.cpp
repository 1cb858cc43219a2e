// Softmax. Before opset 13 ONNX defined it on the input coerced to 2-D at `axis`
// (effvit.coerce_2d, set by the importer); from 13 on it is a plain softmax along `axis`. An
// optional second input (effvit's own, from passes/fuse_attention_scores.cpp) is a bias added to
// the input first; it spans the input's trailing axes and repeats over the leading ones.
#include <cmath>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/broadcast.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

void infer_softmax(InferContext& c) {
  c.require_f32(0, 1);
  const Shape& s = c.shape(0);
  const int64_t axis = normalize_axis(c.node.attr_int("axis", -1), s.size(), c.node);
  if (c.has_input(1)) {
    const Shape& b = c.shape(1);
    if (axis + 1 != static_cast<int64_t>(s.size()) || b.size() > s.size() || broadcast_shapes(b, s, c.node) != s)
      c.fail("bias of shape " + shape_str(b) + " does not fit a last-axis softmax of " + shape_str(s));
  }
  c.set_output(0, DType::f32, s);
}

void compute_softmax(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  Tensor biased;
  if (in.size() > 1 && in[1]) {
    biased = Tensor(DType::f32, s);
    const auto bs = broadcast_strides(in[1]->shape(), s);
    std::vector<int64_t> at(s.size(), 0);
    for (int64_t i = 0, e = in[0]->numel(); i < e; ++i) {
      int64_t off = 0;
      for (size_t d = 0; d < s.size(); ++d) off += at[d] * bs[d];
      biased.data<float>()[i] = in[0]->data<float>()[i] + in[1]->data<float>()[off];
      next_index(at, s);
    }
  }
  const size_t axis = static_cast<size_t>(normalize_axis(n.attr_int("axis", -1), s.size(), n));
  int64_t outer = 1, len = 1, inner = 1;
  for (size_t d = 0; d < s.size(); ++d) {
    if (d < axis) outer *= s[d];
    else if (d == axis || n.attr_int("effvit.coerce_2d", 0)) len *= s[d];
    else inner *= s[d];
  }
  const float* x = biased.defined() ? biased.data<float>() : in[0]->data<float>();
  float* y = out[0]->data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * len * inner + i;
      float mx = -INFINITY;
      for (int64_t j = 0; j < len; ++j) mx = std::max(mx, x[base + j * inner]);
      float sum = 0.f;
      for (int64_t j = 0; j < len; ++j) {
        const float e = std::exp(x[base + j * inner] - mx);
        y[base + j * inner] = e;
        sum += e;
      }
      const float inv = 1.f / sum;
      for (int64_t j = 0; j < len; ++j) y[base + j * inner] *= inv;
    }
}

// Rows go out in groups of `group` rows (the bias's rows, so each group starts at bias row 0).
class SoftmaxRows final : public Kernel {
 public:
  SoftmaxRows(int64_t rows, int64_t len, int64_t group, int threads)
      : rows_(rows), len_(len), group_(group), threads_(threads), softmax_(hardware().kernels->softmax_rows_f32) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    const float* x = in[0]->data<float>();
    const float* bias = in.size() > 1 && in[1] ? in[1]->data<float>() : nullptr;
    float* y = out[0]->data<float>();
    const int64_t groups = rows_ / group_, group_elems = group_ * len_;
    parallel_for(threads_, groups, std::max<int64_t>(1, 8192 / group_elems), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) softmax_(x + i * group_elems, bias, y + i * group_elems, group_, len_);
    });
  }

 private:
  int64_t rows_, len_, group_;
  int threads_;
  void (*softmax_)(const float*, const float*, float*, int64_t, int64_t);
};

// The fast path covers softmax over contiguous rows: the last axis, or any axis under the
// pre-13 coerce-to-2-D rule.
std::unique_ptr<Kernel> create_softmax(const Node& n, const Graph& g, const KernelOptions& options) {
  const Shape& s = g.value(n.inputs[0]).shape;
  const size_t axis = static_cast<size_t>(normalize_axis(n.attr_int("axis", -1), s.size(), n));
  if (axis + 1 != s.size() && !n.attr_int("effvit.coerce_2d", 0)) return nullptr;
  int64_t len = 1;
  for (size_t d = axis; d < s.size(); ++d) len *= s[d];
  if (len == 0) return nullptr;
  const int64_t rows = shape_numel(s) / len;
  int64_t group = 1;
  if (n.inputs.size() > 1 && n.inputs[1] != kNoValue) {
    // The bias must be one contiguous block of whole rows: without its leading 1s, exactly the
    // input's trailing axes (then it repeats over the leading ones).
    const Shape& b = g.value(n.inputs[1]).shape;
    size_t lead = 0;
    while (lead < b.size() && b[lead] == 1) ++lead;
    if (lead == b.size()) return nullptr;
    for (size_t d = lead; d < b.size(); ++d)
      if (b[d] != s[s.size() - b.size() + d]) return nullptr;
    group = shape_numel(b) / len;
  }
  return std::make_unique<SoftmaxRows>(rows, len, group, options.threads);
}

}  // namespace

const OpDef kSoftmaxOp{"Softmax", infer_softmax, compute_softmax, create_softmax};

}  // namespace effvit
