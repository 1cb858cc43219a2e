// Mean reductions: ReduceMean (axes as attribute before opset 18, as input after) and
// GlobalAveragePool (mean over every spatial axis, kept as size 1).
#include <algorithm>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/broadcast.h"
#include "ops/op.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

std::vector<bool> reduced_axes(const Node& n, const Shape& s, const std::vector<int64_t>& axes) {
  std::vector<bool> reduce(s.size(), axes.empty());
  for (int64_t a : axes) reduce[static_cast<size_t>(normalize_axis(a, s.size(), n))] = true;
  return reduce;
}

Shape reduced_shape(const Shape& s, const std::vector<bool>& reduce, bool keepdims) {
  Shape out;
  for (size_t d = 0; d < s.size(); ++d) {
    if (!reduce[d]) out.push_back(s[d]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

std::vector<int64_t> mean_axes(const Node& n, const InferContext* c, const TensorIn* in) {
  if (n.inputs.size() > 1 && n.inputs[1] != kNoValue) {
    if (c) return c->constant_ints(1);
    return tensor_ints(*(*in)[1]);
  }
  return n.attr_ints("axes");
}

void infer_reduce_mean(InferContext& c) {
  if (c.input(0).dtype != DType::f32) c.fail("float32 input required");
  auto axes = mean_axes(c.node, &c, nullptr);
  if (axes.empty() && c.node.attr_int("noop_with_empty_axes", 0)) {
    c.set_output(0, DType::f32, c.shape(0));
    return;
  }
  auto reduce = reduced_axes(c.node, c.shape(0), axes);
  c.set_output(0, DType::f32, reduced_shape(c.shape(0), reduce, c.node.attr_int("keepdims", 1)));
}

// Mean over `reduce` axes; output laid out as the input with reduced axes removed.
void mean_over(const Tensor& x, const std::vector<bool>& reduce, Tensor& y) {
  const Shape& s = x.shape();
  Shape kept = reduced_shape(s, reduce, true);
  const auto strides = broadcast_strides(kept, s);
  const int64_t count = shape_numel(s) / std::max<int64_t>(1, shape_numel(kept));
  std::vector<double> acc(static_cast<size_t>(shape_numel(kept)), 0.0);
  std::vector<int64_t> idx(s.size(), 0);
  const float* px = x.data<float>();
  for (int64_t i = 0, e = x.numel(); i < e; ++i) {
    int64_t o = 0;
    for (size_t d = 0; d < s.size(); ++d) o += idx[d] * strides[d];
    acc[static_cast<size_t>(o)] += px[i];
    next_index(idx, s);
  }
  float* py = y.data<float>();
  for (size_t i = 0; i < acc.size(); ++i) py[i] = static_cast<float>(acc[i] / static_cast<double>(count));
}

void compute_reduce_mean(const Node& n, const TensorIn& in, const TensorOut& out) {
  auto axes = mean_axes(n, nullptr, &in);
  if (axes.empty() && n.attr_int("noop_with_empty_axes", 0)) {
    std::copy_n(in[0]->data<float>(), in[0]->numel(), out[0]->data<float>());
    return;
  }
  mean_over(*in[0], reduced_axes(n, in[0]->shape(), axes), *out[0]);
}

void infer_global_avg_pool(InferContext& c) {
  c.require_f32(0, 0);
  Shape s = c.shape(0);
  if (s.size() < 3) c.fail("input must have rank >= 3, got " + shape_str(s));
  for (size_t d = 2; d < s.size(); ++d) s[d] = 1;
  c.set_output(0, DType::f32, s);
}

void compute_global_avg_pool(const Node&, const TensorIn& in, const TensorOut& out) {
  std::vector<bool> reduce(in[0]->rank(), true);
  reduce[0] = reduce[1] = false;
  mean_over(*in[0], reduce, *out[0]);
}

// Mean over trailing axes that are contiguous in memory (spatial pooling, squeeze-excite): one
// pass over each row, no index arithmetic.
class RowMean final : public Kernel {
 public:
  RowMean(int64_t rows, int64_t len) : rows_(rows), len_(len) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    hardware().kernels->row_mean_f32(in[0]->data<float>(), out[0]->data<float>(), rows_, len_);
  }

 private:
  int64_t rows_, len_;
};

std::unique_ptr<Kernel> create_row_mean(const Node& n, const Graph& g, const KernelOptions&) {
  const Shape& s = g.value(n.inputs[0]).shape;
  std::vector<bool> reduce(s.size(), true);
  if (n.op == "GlobalAveragePool") {
    reduce[0] = reduce[1] = false;
  } else {
    if (n.inputs.size() > 1 && n.inputs[1] != kNoValue && !g.is_constant(n.inputs[1])) return nullptr;
    std::vector<int64_t> axes = n.attr_ints("axes");
    if (n.inputs.size() > 1 && n.inputs[1] != kNoValue) {
      axes = tensor_ints(g.value(n.inputs[1]).constant);
    }
    if (axes.empty()) return nullptr;
    reduce = reduced_axes(n, s, axes);
  }
  // Reduced axes must form one trailing block.
  size_t first = s.size();
  while (first > 0 && reduce[first - 1]) --first;
  for (size_t d = 0; d < first; ++d)
    if (reduce[d]) return nullptr;
  int64_t len = 1;
  for (size_t d = first; d < s.size(); ++d) len *= s[d];
  if (len == 0) return nullptr;
  return std::make_unique<RowMean>(shape_numel(s) / len, len);
}

}  // namespace

const OpDef kReduceMeanOp{"ReduceMean", infer_reduce_mean, compute_reduce_mean, create_row_mean};
const OpDef kGlobalAveragePoolOp{"GlobalAveragePool", infer_global_avg_pool, compute_global_avg_pool, create_row_mean};

}  // namespace effvit
