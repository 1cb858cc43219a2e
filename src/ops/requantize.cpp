// effvit.Requantize: an 8-bit tensor to another 8-bit grid, optionally through an elementwise
// function, in one pass. passes/fold_requantize.cpp puts it in place of DequantizeLinear -> [f] ->
// QuantizeLinear,
// which QDQ files from other tools (ONNX Runtime's quantizer among them) put between their convs:
// three passes over the tensor, two of them in float32.
//   inputs  x (uint8/int8), x_scale, x_zero_point (optional), y_scale, y_zero_point (optional);
//           all scales and zero points constant scalars
//   attrs   function: "" (none), "Relu", "LeakyRelu" or "Sigmoid", with that op's own attributes
//   output  y (y_zero_point's type, uint8 without one) =
//           QuantizeLinear(f(DequantizeLinear(x, x_scale, x_zero_point)), y_scale, y_zero_point)
// Each step is the float operation of the op it replaces, in the same order: the bytes are the
// chain's. The output depends on the input byte alone, so the plan's kernel computes the 256
// possible outputs once, with this reference, and looks each byte up.
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

// The reference runs the three ops it replaces, their own compute functions in order, so the
// bytes are theirs by construction.
void compute_requantize(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Tensor* x_zero = in.size() > 2 ? in[2] : nullptr;
  const Tensor* y_zero = in.size() > 4 ? in[4] : nullptr;
  Node op;
  Tensor real(DType::f32, in[0]->shape());
  op.op = "DequantizeLinear";
  find_op(op.op)->compute(op, x_zero ? TensorIn{in[0], in[1], x_zero} : TensorIn{in[0], in[1]}, {&real});
  const std::string function = n.attr_string("function", "");
  if (!function.empty()) {
    // f with its own attributes (LeakyRelu's alpha), which the fold kept on this node.
    op.op = function;
    op.attrs = n.attrs;
    const OpDef* def = function == "Relu" || function == "LeakyRelu" || function == "Sigmoid" ? find_op(function) : nullptr;
    if (!def) fail_node(n, "unknown function '" + function + "'");
    def->compute(op, {&real}, {&real});
    op.attrs.clear();
  }
  op.op = "QuantizeLinear";
  find_op(op.op)->compute(op, y_zero ? TensorIn{&real, in[3], y_zero} : TensorIn{&real, in[3]}, out);
}

class RequantizeKernel final : public Kernel {
 public:
  RequantizeKernel(const Tensor& table, int64_t count, int threads)
      : table_(table), count_(count), threads_(threads), lookup_(hardware().lookup_u8) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    const auto* x = static_cast<const uint8_t*>(in[0]->raw());
    auto* y = static_cast<uint8_t*>(out[0]->raw());
    const auto* table = static_cast<const uint8_t*>(table_.raw());
    parallel_for(threads_, count_, 65536, [&](int64_t begin, int64_t end) { lookup_(x + begin, table, y + begin, static_cast<size_t>(end - begin)); });
  }

 private:
  Tensor table_;  // the output byte for each input byte (an int8 code read as its bits)
  int64_t count_;
  int threads_;
  void (*lookup_)(const uint8_t*, const uint8_t*, uint8_t*, size_t);
};

std::unique_ptr<Kernel> create_requantize(const Node& n, const Graph& g, const KernelOptions& options) {
  const Value& x = g.value(n.inputs[0]);
  const Value& y = g.value(n.outputs[0]);
  if (x.layout == Layout::Blocked || x.layout != y.layout) return nullptr;
  TensorIn parameters{nullptr};
  for (size_t i = 1; i < n.inputs.size(); ++i) {
    if (n.inputs[i] != kNoValue && !g.is_constant(n.inputs[i])) return nullptr;
    parameters.push_back(n.inputs[i] == kNoValue ? nullptr : &g.value(n.inputs[i]).constant);
  }
  // Every byte value as an input code, through the reference: the table is exact by construction.
  Tensor codes(x.dtype, {256}), table(y.dtype, {256});
  for (int b = 0; b < 256; ++b) static_cast<uint8_t*>(codes.raw())[b] = static_cast<uint8_t>(b);
  parameters[0] = &codes;
  compute_requantize(n, parameters, {&table});
  return std::make_unique<RequantizeKernel>(table, shape_numel(x.shape), options.threads);
}

}  // namespace

const OpDef kRequantizeOp{"effvit.Requantize", infer_requantize, compute_requantize, create_requantize};

}  // namespace effvit
