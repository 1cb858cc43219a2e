// BatchNormalization in inference form: y = (x - mean) / sqrt(var + eps) * scale + bias, channel
// axis 1, any rank >= 2 (BN_Linear heads apply it to [N, C]).
#include <cmath>
#include <vector>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/op.h"
#include "ops/parallel.h"
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

// The per-channel multiply-add BN reduces to: scale = gamma / sqrt(var + eps), shift = beta - mean * scale.
void scale_and_shift(const Node& n, const Tensor& gamma, const Tensor& beta, const Tensor& mean, const Tensor& var, std::vector<float>& scale,
                     std::vector<float>& shift) {
  const float eps = n.attr_float("epsilon", 1e-5f);
  scale.resize(static_cast<size_t>(gamma.numel()));
  shift.resize(scale.size());
  for (size_t c = 0; c < scale.size(); ++c) {
    scale[c] = gamma.data<float>()[c] / std::sqrt(var.data<float>()[c] + eps);
    shift[c] = beta.data<float>()[c] - mean.data<float>()[c] * scale[c];
  }
}

void compute_bn(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  const int64_t channels = s[1];
  if (shape_numel(s) == 0) return;
  const int64_t inner = shape_numel(s) / (s[0] * channels);
  std::vector<float> scales, shifts;
  scale_and_shift(n, *in[1], *in[2], *in[3], *in[4], scales, shifts);
  const float* x = in[0]->data<float>();
  float* y = out[0]->data<float>();
  for (int64_t c = 0; c < channels; ++c) {
    const float scale = scales[static_cast<size_t>(c)], shift = shifts[static_cast<size_t>(c)];
    for (int64_t b = 0; b < s[0]; ++b) {
      const int64_t base = (b * channels + c) * inner;
      for (int64_t i = 0; i < inner; ++i) y[base + i] = x[base + i] * scale + shift;
    }
  }
}

// A BatchNormalization that fold_batchnorm_into_conv could not fold (no Conv right before it: in
// another tool's QDQ file a DequantizeLinear sits between them): per channel scale and shift
// computed once (scale_and_shift, as compute_bn), then one vectorised multiply-add per element
// (fused where the tier has FMA: within one rounding of the reference). Channels-last inside an
// int8 chain (passes/nhwc_layout.cpp), where the channel is the innermost axis.
class BatchNormKernel final : public Kernel {
 public:
  BatchNormKernel(std::vector<float> scale, std::vector<float> shift, int64_t batch, int64_t inner, bool channels_last)
      : scale_(std::move(scale)), shift_(std::move(shift)), batch_(batch), inner_(inner), channels_last_(channels_last),
        kernels_(*hardware().kernels) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    const int64_t channels = static_cast<int64_t>(scale_.size()), image = channels * inner_;
    const float* x = in[0]->data<float>();
    float* y = out[0]->data<float>();
    if (channels_last_) {
      // Rows of one pixel's channels, shared among the Session's threads.
      parallel_for(omp_get_max_threads(), batch_ * inner_, std::max<int64_t>(1, 32768 / channels), [&](int64_t first, int64_t last) {
        kernels_.affine_columns_f32(x + first * channels, scale_.data(), shift_.data(), y + first * channels, last - first, channels);
      });
      return;
    }
    parallel_for(omp_get_max_threads(), batch_ * channels, std::max<int64_t>(1, 32768 / std::max<int64_t>(inner_, 1)), [&](int64_t first, int64_t last) {
      for (int64_t r = first; r < last;) {
        const int64_t b = r / channels, c = r % channels, rows = std::min(last - r, channels - c);
        kernels_.affine_rows_f32(x + b * image + c * inner_, scale_.data() + c, shift_.data() + c, y + b * image + c * inner_, rows, inner_);
        r += rows;
      }
    });
  }

 private:
  std::vector<float> scale_, shift_;
  int64_t batch_, inner_;
  bool channels_last_;
  const KernelTable& kernels_;
};

std::unique_ptr<Kernel> create_bn(const Node& n, const Graph& g, const KernelOptions&) {
  const Value& x = g.value(n.inputs[0]);
  const bool channels_last = x.layout == Layout::Nhwc;
  if ((x.layout != Layout::Plain && !channels_last) || x.layout != g.value(n.outputs[0]).layout || x.dtype != DType::f32 ||
      shape_numel(x.shape) == 0)
    return nullptr;
  for (size_t i = 1; i <= 4; ++i)
    if (!g.is_constant(n.inputs[i])) return nullptr;
  const int64_t channels = x.shape[1];
  std::vector<float> scale, shift;
  auto param = [&](size_t i) -> const Tensor& { return g.value(n.inputs[i]).constant; };
  scale_and_shift(n, param(1), param(2), param(3), param(4), scale, shift);
  return std::make_unique<BatchNormKernel>(std::move(scale), std::move(shift), x.shape[0], shape_numel(x.shape) / (x.shape[0] * channels),
                                           channels_last);
}

}  // namespace

const OpDef kBatchNormOp{"BatchNormalization", infer_bn, compute_bn, create_bn};

}  // namespace effvit
