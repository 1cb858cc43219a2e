// BatchNormalization in inference form: y = (x - mean) / sqrt(var + eps) * scale + bias, channel
// axis 1, any rank >= 2 (BN_Linear heads apply it to [N, C]).
#include <cmath>

#include "ops/op.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

void infer_bn(InferContext& c) {
  c.require_f32(0, 4);
  const Shape& x = c.shape(0);
  if (x.size() < 2) c.fail("input must have rank >= 2, got " + shape_str(x));
  if (x[1] <= 0) c.fail("input " + shape_str(x) + " has no channels");
  for (size_t i = 1; i <= 4; ++i)
    if (c.shape(i) != Shape{x[1]}) c.fail("parameter " + std::to_string(i) + " has shape " + shape_str(c.shape(i)) + ", expected [" + std::to_string(x[1]) + "]");
  c.set_output(0, DType::f32, x);
}

void compute_bn(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  const int64_t channels = s[1];
  if (shape_numel(s) == 0) return;
  const int64_t inner = shape_numel(s) / (s[0] * channels);
  const float eps = n.attr_float("epsilon", 1e-5f);
  const float* x = in[0]->data<float>();
  float* y = out[0]->data<float>();
  for (int64_t c = 0; c < channels; ++c) {
    const float scale = in[1]->data<float>()[c] / std::sqrt(in[4]->data<float>()[c] + eps);
    const float shift = in[2]->data<float>()[c] - in[3]->data<float>()[c] * scale;
    for (int64_t b = 0; b < s[0]; ++b) {
      const int64_t base = (b * channels + c) * inner;
      for (int64_t i = 0; i < inner; ++i) y[base + i] = x[base + i] * scale + shift;
    }
  }
}

}  // namespace

const OpDef kBatchNormOp{"BatchNormalization", infer_bn, compute_bn};

}  // namespace effvit
