// effvit.QuantizedAdd: the sum of two 8-bit tensors on a third 8-bit grid, in one pass over the
// codes. passes/fold_quantized_add.cpp puts it in place of DequantizeLinear(a), DequantizeLinear(b)
// -> Add -> QuantizeLinear, which QDQ files (ONNX Runtime's quantizer, com.microsoft's QLinearAdd)
// put on every residual connection between int8 convs: four passes, three of them in float32.
//   inputs  a (uint8/int8), a_scale, a_zero_point, b (uint8/int8), b_scale, b_zero_point, y_scale,
//           y_zero_point; scales float32 scalars, zero points scalars of their codes' type
//   output  y (y_zero_point's type) = QuantizeLinear(DequantizeLinear(a) + DequantizeLinear(b))
// The reference runs the four ops' own compute functions (broadcasting as Add does); the kernel
// takes operands of the output's shape and layout and computes the same bits.
#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "ops/quantized_add.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

bool eight_bit(DType t) { return t == DType::u8 || t == DType::i8; }

void infer_quantized_add(InferContext& c) {
  for (size_t i : {0, 3})
    if (!eight_bit(c.input(i).dtype)) c.fail("operands must be uint8 or int8");
  for (size_t i : {1, 4, 6})
    if (c.input(i).dtype != DType::f32 || shape_numel(c.shape(i)) != 1) c.fail("scales must be float32 scalars");
  for (size_t i : {2, 5, 7})
    if (!eight_bit(c.input(i).dtype) || shape_numel(c.shape(i)) != 1) c.fail("zero points must be 8-bit scalars");
  if (c.input(2).dtype != c.input(0).dtype || c.input(5).dtype != c.input(3).dtype)
    c.fail("a zero point's type differs from its operand's");
  c.set_output(0, c.input(7).dtype, broadcast_shapes(c.shape(0), c.shape(3), c.node));
}

void compute_quantized_add(const Node&, const TensorIn& in, const TensorOut& out) {
  Node op;
  Tensor a(DType::f32, in[0]->shape()), b(DType::f32, in[3]->shape()), sum(DType::f32, out[0]->shape());
  op.op = "DequantizeLinear";
  find_op(op.op)->compute(op, {in[0], in[1], in[2]}, {&a});
  find_op(op.op)->compute(op, {in[3], in[4], in[5]}, {&b});
  op.op = "Add";
  find_op(op.op)->compute(op, {&a, &b}, {&sum});
  op.op = "QuantizeLinear";
  find_op(op.op)->compute(op, {&sum, in[6], in[7]}, out);
}

class QuantizedAddKernel final : public Kernel {
 public:
  QuantizedAddKernel(const AddRequantizeParams& p, int64_t count, int threads)
      : p_(p), count_(count), threads_(threads), kernel_(hardware().kernels->add_requantize_8bit) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    // Bytes either way: a code's offset is its index whatever its type.
    const auto* a = static_cast<const uint8_t*>(in[0]->raw());
    const auto* b = static_cast<const uint8_t*>(in[3]->raw());
    auto* y = static_cast<uint8_t*>(out[0]->raw());
    parallel_for(threads_, count_, 32768, [&](int64_t begin, int64_t end) {
      kernel_(a + begin, b + begin, y + begin, static_cast<size_t>(end - begin), p_);
    });
  }

 private:
  AddRequantizeParams p_;
  int64_t count_;
  int threads_;
  void (*kernel_)(const void*, const void*, void*, size_t, const AddRequantizeParams&);
};

std::unique_ptr<Kernel> create_quantized_add(const Node& n, const Graph& g, const KernelOptions& options) {
  const Value& a = g.value(n.inputs[0]);
  const Value& b = g.value(n.inputs[3]);
  const Value& y = g.value(n.outputs[0]);
  // One flat pass: same shape and layout everywhere (the layouts' channel padding included).
  if (a.shape != y.shape || b.shape != y.shape || a.layout != y.layout || b.layout != y.layout || y.layout == Layout::Blocked)
    return nullptr;
  for (size_t i : {1, 2, 4, 5, 6, 7})
    if (!g.is_constant(n.inputs[i])) return nullptr;
  const AddRequantizeParams p =
      quantized_add_params(g, {n.inputs[1], n.inputs[2], n.inputs[4], n.inputs[5], n.inputs[6], n.inputs[7]}, a.dtype, b.dtype, y.dtype);
  return std::make_unique<QuantizedAddKernel>(p, shape_numel(y.shape), options.threads);
}

}  // namespace

AddRequantizeParams quantized_add_params(const Graph& g, const std::array<ValueId, 6>& grids, DType a, DType b, DType y) {
  float v[6];
  for (size_t i = 0; i < 6; ++i) {
    const Tensor& t = g.value(grids[i]).constant;
    v[i] = t.dtype() == DType::f32 ? t.data<float>()[0] : t.dtype() == DType::u8 ? static_cast<float>(t.data<uint8_t>()[0])
                                                                                   : static_cast<float>(t.data<int8_t>()[0]);
  }
  return AddRequantizeParams{v[0], v[1], v[2], v[3], v[4], v[5], a == DType::i8, b == DType::i8, y == DType::i8};
}

const OpDef kQuantizedAddOp{"effvit.QuantizedAdd", infer_quantized_add, compute_quantized_add, create_quantized_add};

}  // namespace effvit
