// A bf16 plan's 1x1 convs on small images, on effvit's own kernel (kernels/pointwise_conv_bf16.inl)
// instead of oneDNN's: on EfficientViT's 4x4 to 14x14 stages a conv's time is largely its weights'
// trip from memory, and this kernel reads them in one prefetched pass. Bigger images stay with
// oneDNN, whose blocking is made for them.
#include "ops/pointwise_conv_bf16.h"

#include <algorithm>
#include <vector>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/bf16_low_halves.h"
#include "ops/conv.h"
#include "ops/parallel.h"

namespace effvit {
namespace {

// Up to 16x16 pixels per image. bench/conv_bench.cpp, pointwise_bf16_cold against
// conv_dnnl_bf16_cold, AMD Zen 5, 1 thread: M5 4x4 35 us against 48, 7x7 49 against 61, 14x14
// 73 against 76 (hot: equal within 10 %, either way).
constexpr int64_t kMaxPixels = 256;

class PointwiseConvBf16 final : public Kernel {
 public:
  PointwiseConvBf16(const PointwiseConvDims& dims, int64_t batch, bool plain_input, const Value& weight, WeightCache* cache, int threads)
      : dims_(dims), batch_(batch), plain_input_(plain_input), threads_(threads), kernels_(*hardware().kernels) {
    const PointwiseConvDims d = dims;
    const size_t n = static_cast<size_t>(d.out_c * d.in_c);
    auto plain_pack = [d](const float* weights) {
      std::shared_ptr<void> packed = aligned_buffer(pointwise_bf16_weight_elems(d) * sizeof(uint16_t));
      pack_pointwise_bf16_weight(d, weights, static_cast<uint16_t*>(packed.get()));
      return packed;
    };
    if (!cache) {
      packed_ = plain_pack(weight.constant.data<float>());
    } else if (!weight.weight_id || cache->recoverable(weight.weight_id)) {
      // The cache will not hold this packing for the weight (too small to be released, or another
      // packing already holds it): nothing to recover from it.
      packed_ = cache->get(weight, "pointwise_bf16", [&](const void* plain) { return plain_pack(static_cast<const float*>(plain)); });
    } else {
      // Filled by pack, read by unpack: the packing plus what its rounding dropped gives the
      // float32 weights back, so the Model can hold this packing alone.
      auto low = std::make_shared<std::unique_ptr<Bf16LowHalves>>();
      auto pack = [&, n, low](const void* plain) {
        *low = std::make_unique<Bf16LowHalves>(static_cast<const float*>(plain), n);
        return plain_pack(static_cast<const float*>(plain));
      };
      auto unpack = [d, n, low](const std::shared_ptr<void>& packed, void* plain) {
        const auto* from = static_cast<const uint16_t*>(packed.get());
        std::vector<uint16_t> rounded(n);
        for (int64_t oc = 0; oc < d.out_c; ++oc)
          for (int64_t ic = 0; ic < d.in_c; ++ic) rounded[static_cast<size_t>(oc * d.in_c + ic)] = from[pointwise_bf16_weight_index(d, oc, ic)];
        (*low)->restore(rounded.data(), static_cast<float*>(plain));
      };
      packed_ = cache->get(weight, "pointwise_bf16", pack, unpack);
    }
    // Threads only for a conv of 250k multiply-adds or more, the rule oneDNN's convs follow here
    // (dnnl_threads_for): below it waking the second thread costs more than it saves.
    if (static_cast<double>(batch) * d.in_c * d.out_c * d.pixels < 250000) threads_ = 1;
  }

  std::string implementation() const override { return "effvit pointwise_conv_bf16"; }
  bool packed_input(size_t i) const override { return i == 1; }
  // A plain float32 input is converted here, every image before the conv.
  size_t workspace_bytes() const override {
    return plain_input_ ? static_cast<size_t>(batch_ * dims_.in_c * dims_.pixels) * sizeof(uint16_t) : 0;
  }
  void bind_workspace(void* base) override { converted_ = static_cast<uint16_t*>(base); }

  void run(const TensorIn& in, const TensorOut& out) override {
    const auto* w = static_cast<const uint16_t*>(packed_.get());
    const float* bias = in.size() > 2 && in[2] ? in[2]->data<float>() : nullptr;
    auto* y = static_cast<char*>(out[0]->raw());
    const size_t out_element = dims_.plain_f32_out ? sizeof(float) : sizeof(uint16_t);
    const int64_t image_in = dims_.in_c * dims_.pixels, image_out = dims_.out_c * dims_.pixels;
    const uint16_t* x = static_cast<const uint16_t*>(in[0]->raw());
    if (plain_input_) {
      for (int64_t b = 0; b < batch_; ++b)
        kernels_.plain_f32_to_blocked_bf16(in[0]->data<float>() + b * image_in, dims_.in_c, dims_.pixels, converted_ + b * image_in);
      x = converted_;
    }
    // Images inside the pair loop: a pair's weights, read from memory for the first image, come
    // from the cache for the others.
    parallel_for(threads_, pointwise_bf16_pairs(dims_), 1, [&](int64_t first, int64_t last) {
      for (int64_t pair = first; pair < last; ++pair)
        for (int64_t b = 0; b < batch_; ++b)
          kernels_.pointwise_conv_bf16(dims_, x + b * image_in, w, bias, y + static_cast<size_t>(b * image_out) * out_element, pair, pair + 1);
    });
  }

 private:
  PointwiseConvDims dims_;
  int64_t batch_;
  bool plain_input_;
  int threads_;
  const KernelTable& kernels_;
  uint16_t* converted_ = nullptr;
  std::shared_ptr<void> packed_;
};

bool blocked_bf16(const Value& v) { return v.layout == Layout::Blocked && v.channel_block == 16 && v.dtype == DType::bf16; }
bool plain_f32(const Value& v) { return v.layout == Layout::Plain && v.dtype == DType::f32; }

}  // namespace

std::unique_ptr<Kernel> create_pointwise_conv_bf16(const Node& n, const Graph& graph, const KernelOptions& options) {
  // On AMX CPUs oneDNN's tile kernels are the ones to run (not measured here: no AMX machine yet).
  if (hardware().info.tier >= IsaTier::amx || !hardware().kernels->pointwise_conv_bf16 || is_quantized_conv(n) || n.attr_string("effvit.compute", "") != "bf16") return nullptr;
  const std::string activation = n.attr_string("effvit.activation", "");
  if (!activation.empty() && activation != "Relu") return nullptr;
  const Value& x = graph.value(n.inputs[0]);
  const Value& w = graph.value(n.inputs[1]);
  const Value& y = graph.value(n.outputs[0]);
  if (!w.is_constant || !(blocked_bf16(x) || plain_f32(x)) || !(blocked_bf16(y) || plain_f32(y))) return nullptr;
  if (!options.weights && !w.constant.defined()) return nullptr;  // released: only a cache recovers it
  if (n.inputs.size() > 2 && n.inputs[2] != kNoValue && graph.value(n.inputs[2]).dtype != DType::f32) return nullptr;
  const ConvGeometry g = conv_geometry(n, x.shape, w.shape);
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.groups == 1 && g.pad_t == 0 &&
                         g.pad_l == 0 && g.pad_b == 0 && g.pad_r == 0;
  if (!pointwise || g.in_c % 16 || g.out_c % 16 || g.in_h * g.in_w > kMaxPixels) return nullptr;
  const PointwiseConvDims dims{g.in_c, g.out_c, g.in_h * g.in_w, activation == "Relu", plain_f32(y)};
  return std::make_unique<PointwiseConvBf16>(dims, g.batch, plain_f32(x), w, options.weights, std::max(1, options.threads));
}

}  // namespace effvit
