// A float32 plan's 1x1 convs on small images, on effvit's own kernel (kernels/pointwise_conv_f32.inl)
// instead of oneDNN's: on EfficientViT's 4x4 to 14x14 stages a conv's time is largely its weights'
// trip from memory, and this kernel reads them in one prefetched pass in the order it packed them.
// bench/conv_bench.cpp, pointwise_f32_cold against conv_dnnl_f32_cold, AMD Zen 5, one thread, M5:
// 4x4 FFN 64 against 102 us, 7x7 FFN 90 against 115, 14x14 146 against 152 (hot: equal).
#include "ops/pointwise_conv_f32.h"

#include <algorithm>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/conv.h"
#include "ops/parallel.h"

namespace effvit {
namespace {

constexpr int64_t kMaxPixels = 256;

class PointwiseConvF32 final : public Kernel {
 public:
  PointwiseConvF32(const PointwiseConvDims& dims, int64_t batch, const Value& weight, WeightCache* cache, int threads)
      : dims_(dims), batch_(batch), threads_(threads), conv_(hardware().kernels->pointwise_conv_f32) {
    const PointwiseConvDims d = dims;
    const size_t n = static_cast<size_t>(d.out_c * d.in_c);
    auto pack = [d, n](const void* plain) {
      std::shared_ptr<void> packed = aligned_buffer(n * sizeof(float));
      pack_pointwise_f32_weight(d, static_cast<const float*>(plain), static_cast<float*>(packed.get()));
      return packed;
    };
    // A permutation: the packing gives the float32 weights back exactly, so the Model may hold it alone.
    auto unpack = [d](const std::shared_ptr<void>& packed, void* plain) {
      const auto* from = static_cast<const float*>(packed.get());
      auto* to = static_cast<float*>(plain);
      for (int64_t oc = 0; oc < d.out_c; ++oc)
        for (int64_t ic = 0; ic < d.in_c; ++ic) to[oc * d.in_c + ic] = from[pointwise_f32_weight_index(d, oc, ic)];
    };
    packed_ = cache ? cache->get(weight, "pointwise_f32", pack, unpack) : pack(weight.constant.raw());
    // Threads only for a conv of 250k multiply-adds or more (dnnl_threads_for's rule).
    if (static_cast<double>(batch) * d.in_c * d.out_c * d.pixels < 250000) threads_ = 1;
  }

  std::string implementation() const override { return "effvit pointwise_conv_f32"; }
  bool packed_input(size_t i) const override { return i == 1; }

  void run(const TensorIn& in, const TensorOut& out) override {
    const auto* w = static_cast<const float*>(packed_.get());
    const float* bias = in.size() > 2 && in[2] ? in[2]->data<float>() : nullptr;
    const float* x = in[0]->data<float>();
    float* y = out[0]->data<float>();
    const int64_t image_in = dims_.in_c * dims_.pixels, image_out = dims_.out_c * dims_.pixels;
    // Images inside the pair loop: a pair's weights, read from memory for the first image, come
    // from the cache for the others.
    parallel_for(threads_, pointwise_bf16_pairs(dims_), 1, [&](int64_t first, int64_t last) {
      for (int64_t pair = first; pair < last; ++pair)
        for (int64_t b = 0; b < batch_; ++b) conv_(dims_, x + b * image_in, w, bias, y + b * image_out, pair, pair + 1);
    });
  }

 private:
  PointwiseConvDims dims_;
  int64_t batch_;
  int threads_;
  void (*conv_)(const PointwiseConvDims&, const float*, const float*, const float*, float*, int64_t, int64_t);
  std::shared_ptr<void> packed_;
};

bool blocked_f32(const Value& v) { return v.layout == Layout::Blocked && v.channel_block == 16 && v.dtype == DType::f32; }

}  // namespace

std::unique_ptr<Kernel> create_pointwise_conv_f32(const Node& n, const Graph& graph, const KernelOptions& options) {
  if (!hardware().kernels->pointwise_conv_f32 || is_quantized_conv(n) || n.has("effvit.compute")) return nullptr;
  const std::string activation = n.attr_string("effvit.activation", "");
  if (!activation.empty() && activation != "Relu") return nullptr;
  const Value& x = graph.value(n.inputs[0]);
  const Value& w = graph.value(n.inputs[1]);
  const Value& y = graph.value(n.outputs[0]);
  if (!w.is_constant || w.dtype != DType::f32 || !blocked_f32(x) || !blocked_f32(y)) return nullptr;
  if (!options.weights && !w.constant.defined()) return nullptr;  // released: only a cache recovers it
  if (n.inputs.size() > 2 && n.inputs[2] != kNoValue && graph.value(n.inputs[2]).dtype != DType::f32) return nullptr;
  const ConvGeometry g = conv_geometry(n, x.shape, w.shape);
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.groups == 1 && g.pad_t == 0 &&
                         g.pad_l == 0 && g.pad_b == 0 && g.pad_r == 0 && g.dil_h == 1 && g.dil_w == 1;
  if (!pointwise || g.in_c % 16 || g.out_c % 16 || g.in_h * g.in_w > kMaxPixels) return nullptr;
  const PointwiseConvDims dims{g.in_c, g.out_c, g.in_h * g.in_w, activation == "Relu", false};
  return std::make_unique<PointwiseConvF32>(dims, g.batch, w, options.weights, std::max(1, options.threads));
}

}  // namespace effvit
