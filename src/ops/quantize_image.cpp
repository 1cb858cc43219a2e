// effvit.QuantizeImage: 8-bit camera or image bytes straight to a quantized model's first input.
// passes/fuse_image_quantize.cpp puts it in place of the chain `effvit quantize` writes in front
// of a model ([NV12 -> RGB | Cast to float] -> Sub mean -> Mul scale -> QuantizeLinear), which ran as
// four passes over float planes.
//   input   uint8 NV12 [N, H*3/2, W, 1] (nv12 = 1; rgb = 1 or 0 orders the channels), or uint8
//           planes [N, C, H, W] (nv12 = 0; reverse_channels = 1 reads them last to first)
//   attrs   mean, scale (one value, or one per channel), y_scale, y_zero_point, y_signed
//   output  [N, C, H, W] uint8 (int8 with y_signed) =
//           saturate(round_half_even(((x - mean[c]) * scale[c]) / y_scale) + y_zero_point)
// The float operations and their order are the chain's, so the result is identical to it.
#include <cmath>
#include <limits>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

struct ImageGeometry {
  int64_t batch, channels, height, width;
  bool nv12;
};

ImageGeometry image_geometry(const Node& n, const Shape& s) {
  ImageGeometry g{};
  g.nv12 = n.attr_int("nv12", 0) != 0;
  if (s.size() != 4) fail_node(n, "expects a rank-4 uint8 image, got " + shape_str(s));
  g.batch = s[0];
  if (g.nv12) {
    if (s[3] != 1 || s[1] % 3 || (s[1] / 3) % 2 || s[2] % 2) fail_node(n, "expects NV12 as uint8 [N, H*3/2, W, 1], got " + shape_str(s));
    g.channels = 3;
    g.height = s[1] / 3 * 2;
    g.width = s[2];
  } else {
    g.channels = s[1];
    g.height = s[2];
    g.width = s[3];
  }
  return g;
}

// One value per channel from an attribute of one value or `channels` values.
float per_channel(const std::vector<float>& values, int64_t c) { return values.size() == 1 ? values[0] : values[static_cast<size_t>(c)]; }

std::vector<float> float_list(const Node& n, const char* key) {
  auto it = n.attrs.find(key);
  return it == n.attrs.end() ? std::vector<float>{} : it->second.floats;
}

void infer_quantize_image(InferContext& c) {
  if (c.input(0).dtype != DType::u8) c.fail(std::string("expects uint8 image bytes, got ") + dtype_name(c.input(0).dtype));
  const ImageGeometry g = image_geometry(c.node, c.shape(0));
  for (const char* key : {"mean", "scale"}) {
    const size_t count = float_list(c.node, key).size();
    if (count != 1 && count != static_cast<size_t>(g.channels))
      c.fail(std::string(key) + " needs 1 or " + std::to_string(g.channels) + " values, got " + std::to_string(count));
  }
  if (!(c.node.attr_float("y_scale", 0.f) > 0.f)) c.fail("y_scale must be positive");
  const bool is_signed = c.node.attr_int("y_signed", 0) != 0;
  const int64_t zero = c.node.attr_int("y_zero_point", 0);
  if (zero < (is_signed ? -128 : 0) || zero > (is_signed ? 127 : 255)) c.fail("y_zero_point out of the output type's range");
  c.set_output(0, is_signed ? DType::i8 : DType::u8, {g.batch, g.channels, g.height, g.width});
}

// saturate(round_half_even(((x - mean) * scale) / y_scale) + zero) over one row, in the chain's
// float operations and order.
template <typename Q>
void normalize_quantize_row(const float* x, int64_t n, float mean, float scale, float y_scale, float zero, Q* y) {
  const float lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<Q>(std::clamp(std::nearbyint(((x[i] - mean) * scale) / y_scale) + zero, lo, hi));
}

// The reference: the image as float planes (NV12 through effvit.Nv12ToRgb's own reference), then
// the chain's arithmetic.
template <typename Q>
void quantize_image_reference(const Node& n, const ImageGeometry& g, const Tensor& image, Q* out) {
  Tensor planes(DType::f32, {g.batch, g.channels, g.height, g.width});
  if (g.nv12) {
    Node convert;
    convert.op = "effvit.Nv12ToRgb";
    convert.set_int("rgb", n.attr_int("rgb", 1));
    kNv12ToRgbOp.compute(convert, {&image}, {&planes});
  } else {
    const bool reverse = n.attr_int("reverse_channels", 0) != 0;
    const int64_t plane = g.height * g.width;
    for (int64_t b = 0; b < g.batch; ++b)
      for (int64_t c = 0; c < g.channels; ++c)
        for (int64_t k = 0; k < plane; ++k)
          planes.data<float>()[(b * g.channels + c) * plane + k] =
              image.data<uint8_t>()[(b * g.channels + (reverse ? g.channels - 1 - c : c)) * plane + k];
  }
  const std::vector<float> mean = float_list(n, "mean"), scale = float_list(n, "scale");
  const float y_scale = n.attr_float("y_scale", 1.f), zero = static_cast<float>(n.attr_int("y_zero_point", 0));
  const int64_t plane = g.height * g.width;
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t c = 0; c < g.channels; ++c) {
      const int64_t at = (b * g.channels + c) * plane;
      normalize_quantize_row(planes.data<float>() + at, plane, per_channel(mean, c), per_channel(scale, c), y_scale, zero, out + at);
    }
}

void compute_quantize_image(const Node& n, const TensorIn& in, const TensorOut& out) {
  const ImageGeometry g = image_geometry(n, in[0]->shape());
  if (out[0]->dtype() == DType::i8) quantize_image_reference(n, g, *in[0], out[0]->data<int8_t>());
  else quantize_image_reference(n, g, *in[0], out[0]->data<uint8_t>());
}

// Row by row: the row's float values (the NV12 kernel, or bytes widened), normalised in place,
// then quantized by the QuantizeLinear kernel (the same division and rounding, vectorised).
class QuantizeImageKernel final : public Kernel {
 public:
  QuantizeImageKernel(const Node& n, const ImageGeometry& g, bool is_signed, int threads)
      : g_(g), is_signed_(is_signed), rgb_(n.attr_int("rgb", 1) != 0), reverse_(n.attr_int("reverse_channels", 0) != 0),
        threads_(threads),
        mean_(float_list(n, "mean")), scale_(float_list(n, "scale")), y_scale_(n.attr_float("y_scale", 1.f)),
        zero_(static_cast<float>(n.attr_int("y_zero_point", 0))), kernels_(*hardware().kernels) {}

  size_t workspace_bytes() const override { return static_cast<size_t>(threads_) * row_floats() * sizeof(float); }
  void bind_workspace(void* base) override { scratch_ = static_cast<float*>(base); }

  void run(const TensorIn& in, const TensorOut& out) override {
    const uint8_t* image = in[0]->data<uint8_t>();
    auto* y = static_cast<uint8_t*>(out[0]->raw());  // int8 and uint8 alike: one byte per value
    const int64_t plane = g_.height * g_.width, rows = g_.batch * g_.height;
    const size_t width = static_cast<size_t>(g_.width);
    parallel_for_chunks(threads_, rows, 32, [&](int chunk, int64_t first, int64_t last) {
      float* values = scratch_ + chunk * row_floats();
      for (int64_t row = first; row < last; ++row) {
        const int64_t b = row / g_.height, i = row % g_.height;
        if (g_.nv12) {
          const uint8_t* frame = image + b * plane * 3 / 2;
          float* red = values + (rgb_ ? 0 : 2) * g_.width;
          float* blue = values + (rgb_ ? 2 : 0) * g_.width;
          kernels_.nv12_row_f32(frame + i * g_.width, frame + plane + (i / 2) * g_.width, g_.width, red,
                                values + g_.width, blue);
        } else {
          for (int64_t c = 0; c < g_.channels; ++c) {
            const int64_t from = reverse_ ? g_.channels - 1 - c : c;
            kernels_.widen_u8_f32(image + (b * g_.channels + from) * plane + i * g_.width, values + c * g_.width, width);
          }
        }
        for (int64_t c = 0; c < g_.channels; ++c) {
          float* v = values + c * g_.width;
          kernels_.normalize_f32(v, v, width, per_channel(mean_, c), per_channel(scale_, c));
          uint8_t* dst = y + (b * g_.channels + c) * plane + i * g_.width;
          if (is_signed_) kernels_.quantize_f32_s8(v, reinterpret_cast<int8_t*>(dst), width, y_scale_, zero_);
          else kernels_.quantize_f32_u8(v, dst, width, y_scale_, zero_);
        }
      }
    });
  }

 private:
  size_t row_floats() const { return static_cast<size_t>((g_.channels * g_.width + 15) / 16 * 16); }

  ImageGeometry g_;
  bool is_signed_, rgb_, reverse_;
  int threads_;
  std::vector<float> mean_, scale_;
  float y_scale_, zero_;
  const KernelTable& kernels_;
  float* scratch_ = nullptr;
};

std::unique_ptr<Kernel> create_quantize_image(const Node& n, const Graph& g, const KernelOptions& options) {
  const Value& out = g.value(n.outputs[0]);
  if (out.layout != Layout::Plain) return nullptr;
  return std::make_unique<QuantizeImageKernel>(n, image_geometry(n, g.value(n.inputs[0]).shape), out.dtype == DType::i8,
                                               std::max(1, options.threads));
}

}  // namespace

const OpDef kQuantizeImageOp{"effvit.QuantizeImage", infer_quantize_image, compute_quantize_image, create_quantize_image};

}  // namespace effvit
