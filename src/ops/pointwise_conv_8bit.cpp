// An int8 plan's 1x1 convs on images up to 16x16 pixels, on effvit's own kernel
// (kernels/pointwise_conv_8bit.inl) instead of oneDNN's brgconv_1x1: on EfficientViT's 4x4 and 7x7
// stages a conv's time is largely its weights' trip from memory, and this kernel reads them in one
// prefetched pass; on 14x14 it measured 10% faster in the model too. Bigger images stay with oneDNN.
#include "ops/pointwise_conv_8bit.h"

#include <algorithm>
#include <vector>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/conv.h"
#include "ops/parallel.h"

namespace effvit {
namespace {

constexpr int64_t kMaxPixels = 256;

class PointwiseConv8bit final : public Kernel {
 public:
  PointwiseConv8bit(const Node& n, const Graph& graph, const Pointwise8bitDims& dims, int64_t batch, WeightCache* cache, int threads)
      : dims_(dims), batch_(batch), threads_(threads), conv_(hardware().kernels->pointwise_conv_8bit) {
    table_ = code_table(n);
    if (!table_.empty()) dims_.table = table_.data();
    if (has_residual(n)) dims_.add = residual_add_params(n, graph);
    residual_ = has_residual(n);
    const Pointwise8bitDims d = dims;
    const size_t n_weights = static_cast<size_t>(d.out_c * d.in_c);
    auto pack = [d, n_weights](const void* plain) {
      std::shared_ptr<void> packed = aligned_buffer(n_weights);
      pack_pointwise_8bit_weight(d, static_cast<const int8_t*>(plain), static_cast<int8_t*>(packed.get()));
      return packed;
    };
    // int8 weights are never released (the Model releases float32 ones only): no unpacking.
    const Value& weight = graph.value(n.inputs[1]);
    packed_ = cache ? cache->get(weight, "pointwise_8bit", pack) : pack(weight.constant.raw());

    // The kernel reads uint8 codes: an int8 activation is shifted by 128 (x + 128 = x ^ 0x80), so
    // sum (x - x_zero) w = sum (x + 128) w - (x_zero + 128) sum w, and the second term joins the bias.
    const bool signed_x = graph.value(n.inputs[0]).dtype == DType::i8;
    shift_x_ = signed_x;
    const int64_t x_zero = n.attr_int("effvit.x_zero_point", 0) + (signed_x ? 128 : 0);
    const int32_t* bias = n.inputs[2] != kNoValue ? graph.value(n.inputs[2]).constant.data<int32_t>() : nullptr;
    const auto* w = static_cast<const int8_t*>(packed_.get());
    offset_.resize(static_cast<size_t>(d.out_c));
    for (int64_t oc = 0; oc < d.out_c; ++oc) {
      int64_t sum = 0;
      for (int64_t ic = 0; ic < d.in_c; ++ic) sum += w[pointwise_8bit_weight_index(d, oc, ic)];
      // Wraps like the kernel's int32 sums, so offset + sums is right whenever the whole sum fits
      // in int32. (One that does not, a bias near 2^31, wraps here where oneDNN, summing in float,
      // saturates: never from a real quantizer.)
      offset_[static_cast<size_t>(oc)] = static_cast<int32_t>(static_cast<uint32_t>((bias ? bias[oc] : 0) - x_zero * sum));
    }
    // oneDNN's int8 conv's per-channel scale (ops/dnnl/qconv_dnnl.cpp), the same float32 product.
    const float x_scale = n.attr_float("effvit.x_scale", 1.f);
    const float y_scale = d.output == Pointwise8bitOutput::u8 || d.output == Pointwise8bitOutput::s8 ? n.attr_float("effvit.y_scale", 1.f) : 1.f;
    const float* w_scale = graph.value(n.inputs[3]).constant.data<float>();
    scale_.resize(static_cast<size_t>(d.out_c));
    for (int64_t oc = 0; oc < d.out_c; ++oc) scale_[static_cast<size_t>(oc)] = x_scale * w_scale[oc] / y_scale;
    // Threads only for a conv of 250k multiply-adds or more (dnnl_threads_for's rule).
    if (static_cast<double>(batch) * d.in_c * d.out_c * d.pixels < 250000) threads_ = 1;
  }

  std::string implementation() const override { return "int8 conv effvit pointwise_conv_8bit"; }
  // The weights, bias and scales are packed, a residual's grids copied; the residual is read.
  bool packed_input(size_t i) const override { return i >= 1 && i != kConvResidual; }
  size_t workspace_bytes() const override { return shift_x_ ? static_cast<size_t>(batch_ * dims_.in_c * dims_.pixels) : 0; }
  void bind_workspace(void* base) override { shifted_ = static_cast<uint8_t*>(base); }

  void run(const TensorIn& in, const TensorOut& out) override {
    const auto* w = static_cast<const int8_t*>(packed_.get());
    const int64_t image_in = dims_.in_c * dims_.pixels, image_out = dims_.out_c * dims_.pixels;
    const auto* x = static_cast<const uint8_t*>(in[0]->raw());
    if (shift_x_) {
      for (int64_t i = 0; i < batch_ * image_in; ++i) shifted_[i] = static_cast<uint8_t>(x[i] ^ 0x80);
      x = shifted_;
    }
    auto* y = static_cast<char*>(out[0]->raw());
    const size_t out_element = dims_.output == Pointwise8bitOutput::u8 || dims_.output == Pointwise8bitOutput::s8 ? 1 : sizeof(float);
    // Images inside the pair loop: a pair's weights, read from memory for the first image, come
    // from the cache for the others.
    const auto* residual = residual_ ? static_cast<const uint8_t*>(in[kConvResidual]->raw()) : nullptr;
    parallel_for(threads_, pointwise_8bit_pairs(dims_), 1, [&](int64_t first, int64_t last) {
      Pointwise8bitDims d = dims_;
      for (int64_t pair = first; pair < last; ++pair)
        for (int64_t b = 0; b < batch_; ++b) {
          if (residual) d.residual = residual + b * image_out;
          conv_(d, x + b * image_in, w, offset_.data(), scale_.data(), y + static_cast<size_t>(b * image_out) * out_element, pair, pair + 1);
        }
    });
  }

 private:
  Pointwise8bitDims dims_;
  int64_t batch_;
  int threads_;
  decltype(KernelTable::pointwise_conv_8bit) conv_;
  std::shared_ptr<void> packed_;
  std::vector<int32_t> offset_;
  std::vector<float> scale_;
  std::vector<uint8_t> table_;  // a folded code table (dims_.table points here), or empty
  bool residual_ = false;       // a folded residual Add reads input kConvResidual
  bool shift_x_ = false;
  uint8_t* shifted_ = nullptr;
};

// Channels-last, or any layout when there is one pixel (both are then the same bytes).
bool channels_last(const Value& v, int64_t pixels) { return v.layout == Layout::Nhwc || (pixels == 1 && v.layout == Layout::Plain); }

}  // namespace

std::unique_ptr<Kernel> create_pointwise_conv_8bit(const Node& n, const Graph& graph, const KernelOptions& options) {
  if (!hardware().kernels->pointwise_conv_8bit || !is_quantized_conv(n)) return nullptr;
  const std::string activation = n.attr_string("effvit.activation", "");
  if (!activation.empty() && activation != "Relu") return nullptr;
  const Value& x = graph.value(n.inputs[0]);
  const Value& w = graph.value(n.inputs[1]);
  const Value& y = graph.value(n.outputs[0]);
  if (!w.is_constant || !w.constant.defined()) return nullptr;
  for (size_t i : {size_t{2}, size_t{3}})
    if (i < n.inputs.size() && n.inputs[i] != kNoValue && !graph.value(n.inputs[i]).constant.defined()) return nullptr;
  if (x.dtype != DType::u8 && x.dtype != DType::i8) return nullptr;
  const ConvGeometry g = conv_geometry(n, x.shape, w.shape);
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.groups == 1 && g.pad_t == 0 &&
                         g.pad_l == 0 && g.pad_b == 0 && g.pad_r == 0 && g.dil_h == 1 && g.dil_w == 1;
  const int64_t pixels = g.in_h * g.in_w;
  if (!pointwise || g.in_c % 4 || g.out_c % 16 || pixels > kMaxPixels || !channels_last(x, pixels)) return nullptr;
  Pointwise8bitOutput output;
  if (y.dtype == DType::u8 || y.dtype == DType::i8) {
    if (!channels_last(y, pixels)) return nullptr;
    output = n.attr_int("effvit.y_signed", 0) ? Pointwise8bitOutput::s8 : Pointwise8bitOutput::u8;
  } else if (y.layout == Layout::Nhwc) {
    output = Pointwise8bitOutput::f32_nhwc;
  } else if (y.layout == Layout::Plain) {
    output = Pointwise8bitOutput::f32_plain;
  } else {
    return nullptr;
  }
  const float y_zero = static_cast<float>(n.attr_int("effvit.y_zero_point", 0));
  if (!residual_fits(n, graph, y.layout)) return nullptr;
  const Pointwise8bitDims dims{g.in_c, g.out_c, pixels, output, activation == "Relu", y_zero, nullptr, nullptr, {}};
  return std::make_unique<PointwiseConv8bit>(n, graph, dims, g.batch, options.weights, std::max(1, options.threads));
}

}  // namespace effvit
