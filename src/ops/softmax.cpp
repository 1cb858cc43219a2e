// Softmax. Before opset 13 ONNX defined it on the input coerced to 2-D at `axis`
// (effvit.coerce_2d, set by the importer); from 13 on it is a plain softmax along `axis`.
#include <cmath>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

void infer_softmax(InferContext& c) {
  if (c.input(0).dtype != DType::f32) c.fail("float32 input required");
  normalize_axis(c.node.attr_int("axis", -1), c.shape(0).size(), c.node);
  c.set_output(0, DType::f32, c.shape(0));
}

void compute_softmax(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  const size_t axis = static_cast<size_t>(normalize_axis(n.attr_int("axis", -1), s.size(), n));
  int64_t outer = 1, len = 1, inner = 1;
  for (size_t d = 0; d < s.size(); ++d) {
    if (d < axis) outer *= s[d];
    else if (d == axis || n.attr_int("effvit.coerce_2d", 0)) len *= s[d];
    else inner *= s[d];
  }
  const float* x = in[0]->data<float>();
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

class SoftmaxRows final : public Kernel {
 public:
  SoftmaxRows(int64_t rows, int64_t len, int threads)
      : rows_(rows), len_(len), threads_(threads), softmax_(hardware().kernels->softmax_rows_f32) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    const float* x = in[0]->data<float>();
    float* y = out[0]->data<float>();
    parallel_for(threads_, rows_, std::max<int64_t>(1, 8192 / len_), [&](int64_t begin, int64_t end) {
      softmax_(x + begin * len_, y + begin * len_, end - begin, len_);
    });
  }

 private:
  int64_t rows_, len_;
  int threads_;
  void (*softmax_)(const float*, float*, int64_t, int64_t);
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
  return std::make_unique<SoftmaxRows>(shape_numel(s) / len, len, options.threads);
}

}  // namespace

const OpDef kSoftmaxOp{"Softmax", infer_softmax, compute_softmax, create_softmax};

}  // namespace effvit
