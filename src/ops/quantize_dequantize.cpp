// effvit.QuantizeDequantize: QuantizeLinear -> DequantizeLinear per tensor in one pass over float32,
// the integer codes never stored. passes/fold_quantize_dequantize.cpp puts it in place of 16-bit
// Q -> DQ pairs, which 16-bit QDQ files put on every float activation they quantize.
//   inputs  x (float32), q_scale, q_zero_point, dq_scale, dq_zero_point (constant scalars; the
//           zero points' type is the codes' type)
//   output  y (float32) = DequantizeLinear(QuantizeLinear(x, q_scale, q_zero_point), dq_scale, dq_zero_point)
// The reference runs the two ops' own compute functions; the kernel computes the same bits.
#include <limits>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "ops/quantize_dequantize.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

bool integer_code(DType t) { return t == DType::u8 || t == DType::i8 || t == DType::u16 || t == DType::i16; }

void infer_quantize_dequantize(InferContext& c) {
  c.require_f32(0, 0);
  for (size_t i : {1, 3})
    if (c.input(i).dtype != DType::f32 || shape_numel(c.shape(i)) != 1) c.fail("scales must be float32 scalars");
  for (size_t i : {2, 4})
    if (!integer_code(c.input(i).dtype) || shape_numel(c.shape(i)) != 1) c.fail("zero points must be 8- or 16-bit integer scalars");
  if (c.input(2).dtype != c.input(4).dtype) c.fail("the two zero points differ in type");
  c.set_output(0, DType::f32, c.shape(0));
}

void compute_quantize_dequantize(const Node&, const TensorIn& in, const TensorOut& out) {
  Tensor codes(in[2]->dtype(), in[0]->shape());
  Node op;
  op.op = "QuantizeLinear";
  find_op(op.op)->compute(op, {in[0], in[1], in[2]}, {&codes});
  op.op = "DequantizeLinear";
  find_op(op.op)->compute(op, {&codes, in[3], in[4]}, out);
}

template <typename Q>
float code_at(const Tensor& t) {
  return static_cast<float>(t.data<Q>()[0]);
}

float as_float(const Tensor& t) {
  switch (t.dtype()) {
    case DType::u8: return code_at<uint8_t>(t);
    case DType::i8: return code_at<int8_t>(t);
    case DType::u16: return code_at<uint16_t>(t);
    default: return code_at<int16_t>(t);
  }
}

class QuantizeDequantizeKernel final : public Kernel {
 public:
  QuantizeDequantizeKernel(const QuantizeDequantizeParams& p, int64_t count, int threads)
      : p_(p), count_(count), threads_(threads), kernel_(hardware().kernels->quantize_dequantize_f32) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    const float* x = in[0]->data<float>();
    float* y = out[0]->data<float>();
    parallel_for(threads_, count_, 32768, [&](int64_t begin, int64_t end) { kernel_(x + begin, y + begin, static_cast<size_t>(end - begin), p_); });
  }

 private:
  QuantizeDequantizeParams p_;
  int64_t count_;
  int threads_;
  void (*kernel_)(const float*, float*, size_t, const QuantizeDequantizeParams&);
};

std::unique_ptr<Kernel> create_quantize_dequantize(const Node& n, const Graph& g, const KernelOptions& options) {
  const Value& x = g.value(n.inputs[0]);
  if (x.layout == Layout::Blocked || x.layout != g.value(n.outputs[0]).layout) return nullptr;
  const std::optional<QuantizeDequantizeParams> p = round_trip_params(g, n);
  if (!p) return nullptr;
  return std::make_unique<QuantizeDequantizeKernel>(*p, shape_numel(x.shape), options.threads);
}

}  // namespace

std::pair<float, float> code_range(DType t) {
  switch (t) {
    case DType::u8: return {0.f, 255.f};
    case DType::i8: return {-128.f, 127.f};
    case DType::u16: return {0.f, 65535.f};
    default: return {-32768.f, 32767.f};
  }
}

std::optional<QuantizeDequantizeParams> round_trip_params(const Graph& g, const Node& n) {
  if (n.op != "effvit.QuantizeDequantize" || n.inputs.size() != 5) return std::nullopt;
  for (size_t i = 1; i < 5; ++i)
    if (n.inputs[i] == kNoValue || !g.is_constant(n.inputs[i]) || g.value(n.inputs[i]).constant.numel() != 1) return std::nullopt;
  const Tensor& scale = g.value(n.inputs[1]).constant;
  const Tensor& zero = g.value(n.inputs[2]).constant;
  const Tensor& out_scale = g.value(n.inputs[3]).constant;
  const Tensor& out_zero = g.value(n.inputs[4]).constant;
  if (scale.dtype() != DType::f32 || out_scale.dtype() != DType::f32 || !integer_code(zero.dtype()) ||
      out_zero.dtype() != zero.dtype())
    return std::nullopt;
  const auto [lo, hi] = code_range(zero.dtype());
  return QuantizeDequantizeParams{scale.data<float>()[0], as_float(zero), lo, hi, out_scale.data<float>()[0], as_float(out_zero)};
}

const OpDef kQuantizeDequantizeOp{"effvit.QuantizeDequantize", infer_quantize_dequantize, compute_quantize_dequantize,
                                  create_quantize_dequantize};

}  // namespace effvit
