// effvit.Requantize: an 8-bit tensor to another 8-bit grid, optionally through a Relu, in one pass.
// passes/fold_requantize.cpp puts it in place of DequantizeLinear -> [Relu] -> QuantizeLinear,
// which QDQ files from other tools (ONNX Runtime's quantizer among them) put between their convs:
// three passes over the tensor, two of them in float32.
//   inputs  x (uint8/int8), x_scale, x_zero_point (optional), y_scale, y_zero_point (optional);
//           all scales and zero points constant scalars
//   attrs   relu (0/1)
//   output  y (y_zero_point's type, uint8 without one) =
//           QuantizeLinear(Relu(DequantizeLinear(x, x_scale, x_zero_point)), y_scale, y_zero_point)
// Each step is the float operation of the op it replaces, in the same order: the bytes are the
// chain's.
#include <cmath>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

bool eight_bit(DType t) { return t == DType::u8 || t == DType::i8; }

void infer_requantize(InferContext& c) {
  if (!eight_bit(c.input(0).dtype)) c.fail(std::string("input must be uint8 or int8, got ") + dtype_name(c.input(0).dtype));
  for (size_t i : {1, 3})
    if (c.input(i).dtype != DType::f32 || shape_numel(c.shape(i)) != 1) c.fail("scales must be float32 scalars");
  if (c.has_input(2) && (c.input(2).dtype != c.input(0).dtype || shape_numel(c.shape(2)) != 1))
    c.fail("the input zero point must be a scalar of the input's type");
  const DType out = c.has_input(4) ? c.input(4).dtype : DType::u8;
  if (!eight_bit(out) || (c.has_input(4) && shape_numel(c.shape(4)) != 1)) c.fail("the output zero point must be a uint8 or int8 scalar");
  c.set_output(0, out, c.shape(0));
}

float zero_point_of(const Tensor* z) {
  if (!z) return 0.f;
  return z->dtype() == DType::i8 ? static_cast<float>(z->data<int8_t>()[0]) : static_cast<float>(z->data<uint8_t>()[0]);
}

RequantizeParams params_of(const Node& n, const Tensor& x, const Tensor& x_scale, const Tensor* x_zero, const Tensor& y_scale,
                           const Tensor* y_zero, DType out) {
  return RequantizeParams{x_scale.data<float>()[0], zero_point_of(x_zero), y_scale.data<float>()[0], zero_point_of(y_zero),
                          x.dtype() == DType::i8, out == DType::i8, n.attr_int("relu", 0) != 0};
}

// The reference: the three ops' own formulas (quantize.cpp, elementwise.cpp), element by element.
void compute_requantize(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Tensor* x_zero = in.size() > 2 ? in[2] : nullptr;
  const Tensor* y_zero = in.size() > 4 ? in[4] : nullptr;
  const RequantizeParams p = params_of(n, *in[0], *in[1], x_zero, *in[3], y_zero, out[0]->dtype());
  const float lo = p.out_signed ? -128.f : 0.f, hi = p.out_signed ? 127.f : 255.f;
  for (int64_t i = 0, e = in[0]->numel(); i < e; ++i) {
    const int64_t code = p.in_signed ? in[0]->data<int8_t>()[i] : in[0]->data<uint8_t>()[i];
    float v = static_cast<float>(code - static_cast<int64_t>(p.in_zero)) * p.in_scale;
    if (p.relu) v = v > 0.f ? v : 0.f;
    const float scaled = v / p.out_scale;
    const float q = std::nearbyint(std::isnan(scaled) ? 0.f : scaled) + p.out_zero;
    const float clamped = std::fmin(std::fmax(q, lo), hi);
    if (p.out_signed) out[0]->data<int8_t>()[i] = static_cast<int8_t>(clamped);
    else out[0]->data<uint8_t>()[i] = static_cast<uint8_t>(clamped);
  }
}

class RequantizeKernel final : public Kernel {
 public:
  RequantizeKernel(const RequantizeParams& p, int64_t count, int threads)
      : p_(p), count_(count), threads_(threads), requantize_(hardware().kernels->requantize_8bit) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    const auto* x = static_cast<const int8_t*>(in[0]->raw());
    auto* y = static_cast<int8_t*>(out[0]->raw());
    parallel_for(threads_, count_, 65536, [&](int64_t begin, int64_t end) {
      requantize_(x + begin, y + begin, static_cast<size_t>(end - begin), p_);
    });
  }

 private:
  RequantizeParams p_;
  int64_t count_;
  int threads_;
  void (*requantize_)(const void*, void*, size_t, const RequantizeParams&);
};

std::unique_ptr<Kernel> create_requantize(const Node& n, const Graph& g, const KernelOptions& options) {
  const Value& x = g.value(n.inputs[0]);
  if (x.layout == Layout::Blocked || x.layout != g.value(n.outputs[0]).layout) return nullptr;
  for (size_t i = 1; i < n.inputs.size(); ++i)
    if (n.inputs[i] != kNoValue && !g.is_constant(n.inputs[i])) return nullptr;
  auto constant = [&](size_t i) { return i < n.inputs.size() && n.inputs[i] != kNoValue ? &g.value(n.inputs[i]).constant : nullptr; };
  // Only the dtype of x matters to params_of.
  const Tensor x_type(x.dtype, Shape{0});
  const RequantizeParams p = params_of(n, x_type, *constant(1), constant(2), *constant(3), constant(4), g.value(n.outputs[0]).dtype);
  return std::make_unique<RequantizeKernel>(p, shape_numel(x.shape), options.threads);
}

}  // namespace

const OpDef kRequantizeOp{"effvit.Requantize", infer_requantize, compute_requantize, create_requantize};

}  // namespace effvit
