// QuantizeLinear and DequantizeLinear (ONNX opsets 10-21): the two ops a standard QDQ model adds
// around every quantized tensor. Plain reference loops: a QDQ model runs exactly as written, and
// the int8 passes that fold DQ -> op -> Q into integer kernels are tested against it.
//
//   Quantize:   y = saturate(round_half_to_even(x / scale) + zero_point)   (uint8, int8, uint16, int16)
//   Dequantize: y = (x - zero_point) * scale                      (uint8, int8, uint16, int16, int32)
//
// 16-bit codes (opset 21's, or com.microsoft's Q/DQ below it) mostly sit in Q -> DQ pairs on float
// activations, which passes/fold_quantize_dequantize.cpp turns into one float op with a vector
// kernel; a 16-bit weight behind a DequantizeLinear is dequantized once, at load.
//
// Scale and zero point are scalars (per tensor) or 1-D along `axis` (per channel, default 1).
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

// The axis the parameters run along, or -1 for per-tensor ones; checks their shapes and dtypes.
int64_t parameter_axis(InferContext& c, DType scale_dtype) {
  const Shape& x = c.shape(0);
  const Shape& scale = c.shape(1);
  if (c.input(1).dtype != scale_dtype) c.fail(std::string("scale must be ") + dtype_name(scale_dtype));
  if (c.has_input(2) && c.shape(2) != scale) c.fail("zero point " + shape_str(c.shape(2)) + " and scale " + shape_str(scale) + " differ in shape");
  if (scale.size() > 1) c.fail("scale must be a scalar or 1-D, got " + shape_str(scale));
  if (shape_numel(scale) == 1) return -1;
  const int64_t axis = normalize_axis(c.node.attr_int("axis", 1), x.size(), c.node);
  if (scale[0] != x[static_cast<size_t>(axis)])
    c.fail("per-axis scale of " + std::to_string(scale[0]) + " values for axis " + std::to_string(axis) + " of " + shape_str(x));
  return axis;
}

void infer_quantize(InferContext& c) {
  c.require_f32(0, 1);
  parameter_axis(c, DType::f32);
  const DType out = c.has_input(2) ? c.input(2).dtype : DType::u8;
  if (out != DType::u8 && out != DType::i8 && out != DType::u16 && out != DType::i16)
    c.fail(std::string("zero point must be uint8, int8, uint16 or int16, got ") + dtype_name(out));
  c.set_output(0, out, c.shape(0));
}

void infer_dequantize(InferContext& c) {
  const DType in = c.input(0).dtype;
  if (in != DType::u8 && in != DType::i8 && in != DType::u16 && in != DType::i16 && in != DType::i32)
    c.fail(std::string("input must be uint8, int8, uint16, int16 or int32, got ") + dtype_name(in));
  if (c.has_input(2) && c.input(2).dtype != in) c.fail("zero point and input differ in type");
  parameter_axis(c, DType::f32);
  c.set_output(0, DType::f32, c.shape(0));
}

// Calls f(i, channel) for every element, with the index into per-axis parameters (0 per tensor).
template <typename F>
void for_each_with_channel(const Shape& s, const Tensor& scale, int64_t axis, F&& f) {
  const int64_t n = shape_numel(s);
  if (scale.numel() <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i, int64_t{0});
    return;
  }
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < s.size(); ++d) inner *= s[d];
  const int64_t channels = s[static_cast<size_t>(axis)];
  for (int64_t i = 0; i < n; ++i) f(i, (i / inner) % channels);
}

int64_t axis_of(const Node& n, const Tensor& x, const Tensor& scale) {
  return scale.numel() <= 1 ? 0 : normalize_axis(n.attr_int("axis", 1), x.rank(), n);
}

template <typename Q>
void quantize_to(const Node& n, const Tensor& x, const Tensor& scale, const Tensor* zero_point, Tensor& y) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  const float* xs = x.data<float>();
  const float* ss = scale.data<float>();
  const Q* zs = zero_point ? zero_point->data<Q>() : nullptr;
  Q* ys = y.data<Q>();
  for_each_with_channel(x.shape(), scale, axis_of(n, x, scale), [&](int64_t i, int64_t c) {
    // nearbyint rounds half to even in the default rounding mode, as ONNX specifies; NaN (which
    // ONNX leaves open) is taken as 0, so it becomes the zero point.
    const float v = xs[i] / ss[c];
    const float q = std::nearbyint(std::isnan(v) ? 0.f : v) + (zs ? static_cast<float>(zs[c]) : 0.f);
    ys[i] = static_cast<Q>(std::fmin(std::fmax(q, lo), hi));
  });
}

void compute_quantize(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Tensor* zp = in.size() > 2 ? in[2] : nullptr;
  switch (out[0]->dtype()) {
    case DType::i8: quantize_to<int8_t>(n, *in[0], *in[1], zp, *out[0]); break;
    case DType::i16: quantize_to<int16_t>(n, *in[0], *in[1], zp, *out[0]); break;
    case DType::u16: quantize_to<uint16_t>(n, *in[0], *in[1], zp, *out[0]); break;
    default: quantize_to<uint8_t>(n, *in[0], *in[1], zp, *out[0]); break;
  }
}

template <typename Q>
void dequantize_from(const Node& n, const Tensor& x, const Tensor& scale, const Tensor* zero_point, Tensor& y) {
  const Q* xs = x.data<Q>();
  const float* ss = scale.data<float>();
  const Q* zs = zero_point ? zero_point->data<Q>() : nullptr;
  float* ys = y.data<float>();
  for_each_with_channel(x.shape(), scale, axis_of(n, x, scale), [&](int64_t i, int64_t c) {
    const int64_t centred = static_cast<int64_t>(xs[i]) - (zs ? static_cast<int64_t>(zs[c]) : 0);
    ys[i] = static_cast<float>(centred) * ss[c];
  });
}

void compute_dequantize(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Tensor* zp = in.size() > 2 ? in[2] : nullptr;
  switch (in[0]->dtype()) {
    case DType::i8: dequantize_from<int8_t>(n, *in[0], *in[1], zp, *out[0]); break;
    case DType::i32: dequantize_from<int32_t>(n, *in[0], *in[1], zp, *out[0]); break;
    case DType::i16: dequantize_from<int16_t>(n, *in[0], *in[1], zp, *out[0]); break;
    case DType::u16: dequantize_from<uint16_t>(n, *in[0], *in[1], zp, *out[0]); break;
    default: dequantize_from<uint8_t>(n, *in[0], *in[1], zp, *out[0]); break;
  }
}

// A Quantize/DequantizeLinear's parameters when they are one constant scale and zero point, the
// integer side (`quantized`, the output or the input) is uint8 or int8, and the layout (any, as the
// ops are elementwise, but the same on both sides and never the padded blocked one) allows a flat
// loop: what the vector kernels take.
struct PerTensor {
  float scale, zero_point;
  bool is_signed;
};

std::optional<PerTensor> per_tensor(const Node& n, const Graph& g, const Value& quantized, bool same_layout = true) {
  const Value& x = g.value(n.inputs[0]);
  if ((quantized.dtype != DType::u8 && quantized.dtype != DType::i8) || (same_layout && x.layout != g.value(n.outputs[0]).layout) ||
      x.layout == Layout::Blocked || !g.is_constant(n.inputs[1]) || shape_numel(g.value(n.inputs[1]).shape) != 1)
    return std::nullopt;
  const bool has_zero_point = n.inputs.size() > 2 && n.inputs[2] != kNoValue;
  if (has_zero_point && (!g.is_constant(n.inputs[2]) || shape_numel(g.value(n.inputs[2]).shape) != 1)) return std::nullopt;
  PerTensor p{g.value(n.inputs[1]).constant.data<float>()[0], 0.f, quantized.dtype == DType::i8};
  if (has_zero_point) {
    const Tensor& z = g.value(n.inputs[2]).constant;
    p.zero_point = p.is_signed ? static_cast<float>(z.data<int8_t>()[0]) : static_cast<float>(z.data<uint8_t>()[0]);
  }
  return p;
}

// Per-tensor QuantizeLinear (float32 -> uint8/int8) or DequantizeLinear (back) with constant
// parameters over a flat tensor: the tier's vector kernels, the elements shared among the
// Session's threads.
class PerTensorKernel final : public Kernel {
 public:
  PerTensorKernel(const PerTensor& p, bool quantize, int64_t count, int threads)
      : p_(p), quantize_(quantize), count_(count), threads_(threads), kernels_(*hardware().kernels) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    const void* x = in[0]->raw();
    void* y = out[0]->raw();
    parallel_for(threads_, count_, 32768, [&](int64_t begin, int64_t end) {
      const size_t n = static_cast<size_t>(end - begin);
      if (quantize_) {
        const float* from = static_cast<const float*>(x) + begin;
        if (p_.is_signed) kernels_.quantize_f32_s8(from, static_cast<int8_t*>(y) + begin, n, p_.scale, p_.zero_point);
        else kernels_.quantize_f32_u8(from, static_cast<uint8_t*>(y) + begin, n, p_.scale, p_.zero_point);
      } else {
        float* to = static_cast<float*>(y) + begin;
        if (p_.is_signed) kernels_.dequantize_s8_f32(static_cast<const int8_t*>(x) + begin, to, n, p_.scale, p_.zero_point);
        else kernels_.dequantize_u8_f32(static_cast<const uint8_t*>(x) + begin, to, n, p_.scale, p_.zero_point);
      }
    });
  }

 private:
  PerTensor p_;
  bool quantize_;
  int64_t count_;
  int threads_;
  const KernelTable& kernels_;
};

// The same, between the layouts of an int8 conv chain and its float neighbours
// (passes/nhwc_layout.cpp): QuantizeLinear from plain NCHW float32 to NHWC codes, DequantizeLinear
// from NHWC codes to plain float32. Per image, the floats are transposed (register tiles) and
// quantized or dequantized contiguously through a workspace: the oneDNN reorder each conv ran on
// its codes (81 per M5 run, 0.25 ms) is gone.
// Transposes move floats in 8x8 register tiles; fewer channels than that run scalar.
constexpr int64_t kTileChannels = 8;

class PerTensorConvertingKernel final : public Kernel {
 public:
  PerTensorConvertingKernel(const PerTensor& p, bool quantize, const Shape& shape)
      : p_(p), quantize_(quantize), images_(shape[0]), channels_(shape[1]), pixels_(shape[2] * shape[3]), kernels_(*hardware().kernels) {}
  size_t workspace_bytes() const override { return static_cast<size_t>(channels_ * pixels_) * sizeof(float); }
  void bind_workspace(void* base) override { floats_ = static_cast<float*>(base); }
  void run(const TensorIn& in, const TensorOut& out) override {
    const int64_t per_image = channels_ * pixels_;
    const size_t n = static_cast<size_t>(per_image);
    for (int64_t b = 0; b < images_; ++b) {
      if (quantize_ && channels_ < kTileChannels) {
        // Quantized in order, then the codes [C][HW] -> [HW][C].
        const float* x = in[0]->data<float>() + b * per_image;
        auto* codes = reinterpret_cast<uint8_t*>(floats_);
        if (p_.is_signed) kernels_.quantize_f32_s8(x, reinterpret_cast<int8_t*>(codes), n, p_.scale, p_.zero_point);
        else kernels_.quantize_f32_u8(x, codes, n, p_.scale, p_.zero_point);
        kernels_.planes_to_pixels_u8(codes, channels_, pixels_, static_cast<uint8_t*>(out[0]->raw()) + b * per_image);
      } else if (quantize_) {
        // [C][HW] -> [HW][C], then quantized in order.
        const float* x = in[0]->data<float>() + b * per_image;
        kernels_.transpose_u32(reinterpret_cast<const uint32_t*>(x), pixels_, channels_, pixels_, reinterpret_cast<uint32_t*>(floats_),
                               channels_);
        void* y = static_cast<char*>(out[0]->raw()) + b * per_image;
        if (p_.is_signed) kernels_.quantize_f32_s8(floats_, static_cast<int8_t*>(y), n, p_.scale, p_.zero_point);
        else kernels_.quantize_f32_u8(floats_, static_cast<uint8_t*>(y), n, p_.scale, p_.zero_point);
      } else {
        // Dequantized in order, then [HW][C] -> [C][HW].
        const void* x = static_cast<const char*>(in[0]->raw()) + b * per_image;
        if (p_.is_signed) kernels_.dequantize_s8_f32(static_cast<const int8_t*>(x), floats_, n, p_.scale, p_.zero_point);
        else kernels_.dequantize_u8_f32(static_cast<const uint8_t*>(x), floats_, n, p_.scale, p_.zero_point);
        float* y = out[0]->data<float>() + b * per_image;
        kernels_.transpose_u32(reinterpret_cast<const uint32_t*>(floats_), channels_, pixels_, channels_, reinterpret_cast<uint32_t*>(y),
                               pixels_);
      }
    }
  }

 private:
  PerTensor p_;
  bool quantize_;
  int64_t images_, channels_, pixels_;
  const KernelTable& kernels_;
  float* floats_ = nullptr;
};

// Plain float32 on one side, NHWC codes on the other, 4-D: what PerTensorConvertingKernel takes.
bool converts_to_nhwc(const Value& plain, const Value& nhwc) {
  return plain.layout == Layout::Plain && nhwc.layout == Layout::Nhwc && plain.shape.size() == 4 && plain.dtype == DType::f32;
}

std::unique_ptr<Kernel> create_quantize(const Node& n, const Graph& g, const KernelOptions& options) {
  const Value& x = g.value(n.inputs[0]);
  const Value& y = g.value(n.outputs[0]);
  if (converts_to_nhwc(x, y)) {
    const auto p = per_tensor(n, g, y, false);
    return p ? std::make_unique<PerTensorConvertingKernel>(*p, true, x.shape) : nullptr;
  }
  const auto p = per_tensor(n, g, y);
  if (!p) return nullptr;
  return std::make_unique<PerTensorKernel>(*p, true, shape_numel(x.shape), options.threads);
}

std::unique_ptr<Kernel> create_dequantize(const Node& n, const Graph& g, const KernelOptions& options) {
  const Value& x = g.value(n.inputs[0]);
  const Value& y = g.value(n.outputs[0]);
  if (converts_to_nhwc(y, x)) {
    const auto p = per_tensor(n, g, x, false);
    return p ? std::make_unique<PerTensorConvertingKernel>(*p, false, y.shape) : nullptr;
  }
  const auto p = per_tensor(n, g, x);
  if (!p) return nullptr;
  return std::make_unique<PerTensorKernel>(*p, false, shape_numel(x.shape), options.threads);
}

}  // namespace

const OpDef kQuantizeLinearOp{"QuantizeLinear", infer_quantize, compute_quantize, create_quantize};
const OpDef kDequantizeLinearOp{"DequantizeLinear", infer_dequantize, compute_dequantize, create_dequantize};

}  // namespace effvit
