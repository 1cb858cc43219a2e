// Elementwise ops: unary (Relu, LeakyRelu, Sigmoid, Identity, Cast) and broadcasting binary/ternary ops
// (Add, Sub, Mul, Div, Mod, Equal, Where). Integer variants exist because the exporter's shape
// arithmetic runs on int64; load-time folding evaluates it with these same functions.
#include <cmath>
#include <limits>
#include <cstring>
#include <type_traits>

#include "cpu/hardware.h"
#include "kernels/bf16_scalar.h"
#include "kernels/kernels.h"
#include "ops/broadcast.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

void infer_same(InferContext& c) { c.set_output(0, c.input(0).dtype, c.shape(0)); }

void infer_same_f32(InferContext& c) {
  c.require_f32(0, 0);
  infer_same(c);
}

// Relu also runs on bf16 activations (bf16 plans).
void infer_relu(InferContext& c) {
  if (c.input(0).dtype != DType::bf16) c.require_f32(0, 0);
  infer_same(c);
}

void compute_relu(const Node& n, const TensorIn& in, const TensorOut& out) {
  if (in[0]->dtype() == DType::bf16) {
    const BFloat16* x = in[0]->data<BFloat16>();
    BFloat16* y = out[0]->data<BFloat16>();
    for (int64_t i = 0, e = in[0]->numel(); i < e; ++i) {
      const float v = bf16_to_f32(x[i].bits);
      y[i].bits = f32_to_bf16(v > 0.f ? v : 0.f);  // as for float32: NaN and -0 give +0
    }
    return;
  }
  if (in[0]->dtype() != DType::f32) fail_node(n, "Relu supports float32 only");
  const float* x = in[0]->data<float>();
  float* y = out[0]->data<float>();
  for (int64_t i = 0, e = in[0]->numel(); i < e; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

void compute_sigmoid(const Node& n, const TensorIn& in, const TensorOut& out) {
  if (in[0]->dtype() != DType::f32) fail_node(n, "Sigmoid supports float32 only");
  const float* x = in[0]->data<float>();
  float* y = out[0]->data<float>();
  for (int64_t i = 0, e = in[0]->numel(); i < e; ++i) y[i] = 1.f / (1.f + std::exp(-x[i]));
}

// ONNX's LeakyRelu: x where x >= 0, else alpha * x (alpha 0.01 by default). It reaches effvit from
// com.microsoft's QLinearLeakyRelu, whose DequantizeLinear -> LeakyRelu -> QuantizeLinear becomes
// one byte lookup (passes/fold_requantize.cpp).
void compute_leaky_relu(const Node& n, const TensorIn& in, const TensorOut& out) {
  if (in[0]->dtype() != DType::f32) fail_node(n, "LeakyRelu supports float32 only");
  const float alpha = n.attr_float("alpha", 0.01f);
  const float* x = in[0]->data<float>();
  float* y = out[0]->data<float>();
  for (int64_t i = 0, e = in[0]->numel(); i < e; ++i) y[i] = x[i] < 0.f ? alpha * x[i] : x[i];
}

void compute_identity(const Node&, const TensorIn& in, const TensorOut& out) {
  if (in[0]->bytes()) std::memcpy(out[0]->raw(), in[0]->raw(), in[0]->bytes());
}

// Dropout at inference is the identity (its optional mask output is all true); exporters leave it
// in when a model is exported in training mode or with an explicit training_mode input.
void infer_dropout(InferContext& c) {
  c.set_output(0, c.input(0).dtype, c.shape(0));
  if (c.node.outputs.size() > 1) c.set_output(1, DType::bool8, c.shape(0));
}

void compute_dropout(const Node&, const TensorIn& in, const TensorOut& out) {
  compute_identity(Node{}, in, {out[0]});
  if (out.size() > 1) std::memset(out[1]->raw(), 1, out[1]->bytes());
}

// ONNX TensorProto data type codes that Cast's `to` attribute uses.
DType dtype_from_onnx_code(const Node& n, int64_t code) {
  switch (code) {
    case 1: return DType::f32;
    case 2: return DType::u8;
    case 3: return DType::i8;
    case 6: return DType::i32;
    case 7: return DType::i64;
    case 9: return DType::bool8;
  }
  fail_node(n, "unsupported Cast target type code " + std::to_string(code));
}

void infer_cast(InferContext& c) {
  c.set_output(0, dtype_from_onnx_code(c.node, c.node.attr_int("to", 1)), c.shape(0));
}

template <typename T>
double load_as_double(const Tensor& t, int64_t i) {
  return static_cast<double>(t.data<T>()[i]);
}

double load_double(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::f32: return load_as_double<float>(t, i);
    case DType::i64: return load_as_double<int64_t>(t, i);
    case DType::i32: return load_as_double<int32_t>(t, i);
    case DType::u8: return load_as_double<uint8_t>(t, i);
    case DType::i8: return load_as_double<int8_t>(t, i);
    case DType::bool8: return load_as_double<uint8_t>(t, i);
    case DType::i16: return load_as_double<int16_t>(t, i);
    case DType::u16: return load_as_double<uint16_t>(t, i);
    case DType::bf16: return bf16_to_f32(t.data<BFloat16>()[i].bits);
  }
  return 0;
}

// A float out of an integer type's range (or NaN) has no C++ conversion (ONNX leaves it
// unspecified): it saturates, NaN gives 0.
template <typename T>
T saturate_cast(double v) {
  if (std::isnan(v)) return 0;
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

void store_double(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DType::f32: t.data<float>()[i] = static_cast<float>(v); break;
    case DType::i64: t.data<int64_t>()[i] = saturate_cast<int64_t>(v); break;
    case DType::i32: t.data<int32_t>()[i] = saturate_cast<int32_t>(v); break;
    case DType::u8: t.data<uint8_t>()[i] = saturate_cast<uint8_t>(v); break;
    case DType::i8: t.data<int8_t>()[i] = saturate_cast<int8_t>(v); break;
    case DType::bool8: t.data<uint8_t>()[i] = v != 0.0; break;
    case DType::i16: t.data<int16_t>()[i] = saturate_cast<int16_t>(v); break;
    case DType::u16: t.data<uint16_t>()[i] = saturate_cast<uint16_t>(v); break;
    case DType::bf16: t.data<BFloat16>()[i].bits = f32_to_bf16(static_cast<float>(v)); break;
  }
}

void compute_cast(const Node&, const TensorIn& in, const TensorOut& out) {
  // int64 values beyond 2^53 do not occur in shape arithmetic; doubles keep this one short loop.
  if (in[0]->dtype() == out[0]->dtype()) {
    compute_identity(Node{}, in, out);
    return;
  }
  // Pixels into a quantized model (uint8 -> float32, exact): one typed loop, not a double per element.
  if (in[0]->dtype() == DType::u8 && out[0]->dtype() == DType::f32) {
    const uint8_t* x = in[0]->data<uint8_t>();
    float* y = out[0]->data<float>();
    for (int64_t i = 0, e = in[0]->numel(); i < e; ++i) y[i] = static_cast<float>(x[i]);
    return;
  }
  for (int64_t i = 0, e = in[0]->numel(); i < e; ++i) store_double(*out[0], i, load_double(*in[0], i));
}

enum class BinOp { Add, Sub, Mul, Div, Mod, FMod, Equal };

// The op is a template argument so each element loop is specialised (and vectorised) for it.
template <BinOp op, typename T>
T apply(T a, T b) {
  // Signed integers wrap on overflow, as numpy's and ONNX Runtime's do: computed unsigned, where
  // wrapping is defined (shape arithmetic in a hostile model reached int64 overflow at load).
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T> && (op == BinOp::Add || op == BinOp::Sub || op == BinOp::Mul)) {
    // At least unsigned int wide: narrower unsigned types promote to (signed) int, whose product
    // could overflow again.
    using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
    const U ua = static_cast<U>(a), ub = static_cast<U>(b);
    return static_cast<T>(op == BinOp::Add ? U(ua + ub) : op == BinOp::Sub ? U(ua - ub) : U(ua * ub));
  }
  switch (op) {
    case BinOp::Add: return a + b;
    case BinOp::Sub: return a - b;
    case BinOp::Mul: return a * b;
    case BinOp::Div:
      // INT_MIN / -1 overflows (SIGFPE on x86); it wraps to INT_MIN, as numpy's does.
      if constexpr (std::is_integral_v<T> && std::is_signed_v<T>)
        if (b == -1) return static_cast<T>(std::make_unsigned_t<T>(0) - static_cast<std::make_unsigned_t<T>>(a));
      return a / b;
    case BinOp::FMod:
      if constexpr (std::is_floating_point_v<T>) return std::fmod(a, b);
      else if (b == -1) return 0;  // INT_MIN % -1 would trap like the division
      else return a % b;
    case BinOp::Mod:
      // Integer Mod takes the sign of the divisor, as in Python.
      if constexpr (std::is_floating_point_v<T>) {
        T r = std::fmod(a, b);
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
      } else {
        if (b == -1) return 0;
        T r = a % b;
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
      }
    case BinOp::Equal: return a == b;
  }
  return a;
}

template <BinOp op, typename T, typename R>
void binary_loop(const Tensor& a, const Tensor& b, Tensor& out) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  R* po = out.data<R>();
  int64_t strides[2][kMaxWalkRank];
  broadcast_strides_into(a.shape(), out.shape(), strides[0]);
  broadcast_strides_into(b.shape(), out.shape(), strides[1]);
  const int64_t* const stride_ptrs[2] = {strides[0], strides[1]};
  for_each_row<2>(out.shape(), stride_ptrs, [&](const int64_t* offs, int64_t o, int64_t len, const int64_t* st) {
    const T* ra = pa + offs[0];
    const T* rb = pb + offs[1];
    R* ro = po + o;
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t j = 0; j < len; ++j) ro[j] = static_cast<R>(apply<op, T>(ra[j], rb[j]));
    } else if (st[0] == 1 && st[1] == 0) {
      const T bv = rb[0];
      for (int64_t j = 0; j < len; ++j) ro[j] = static_cast<R>(apply<op, T>(ra[j], bv));
    } else if (st[0] == 0 && st[1] == 1) {
      const T av = ra[0];
      for (int64_t j = 0; j < len; ++j) ro[j] = static_cast<R>(apply<op, T>(av, rb[j]));
    } else {
      for (int64_t j = 0; j < len; ++j) ro[j] = static_cast<R>(apply<op, T>(ra[j * st[0]], rb[j * st[1]]));
    }
  });
}

template <typename T>
void check_int_divisor(const Node& n, BinOp op, const Tensor& b) {
  if constexpr (!std::is_floating_point_v<T>) {
    if (op == BinOp::Div || op == BinOp::Mod || op == BinOp::FMod)
      for (int64_t i = 0; i < b.numel(); ++i)
        if (b.data<T>()[i] == 0) fail_node(n, "integer division by zero");
  }
}

template <typename T>
void binary_typed(const Node& n, BinOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  check_int_divisor<T>(n, op, b);
  switch (op) {
    case BinOp::Add: binary_loop<BinOp::Add, T, T>(a, b, out); break;
    case BinOp::Sub: binary_loop<BinOp::Sub, T, T>(a, b, out); break;
    case BinOp::Mul: binary_loop<BinOp::Mul, T, T>(a, b, out); break;
    case BinOp::Div: binary_loop<BinOp::Div, T, T>(a, b, out); break;
    case BinOp::Mod: binary_loop<BinOp::Mod, T, T>(a, b, out); break;
    case BinOp::FMod: binary_loop<BinOp::FMod, T, T>(a, b, out); break;
    case BinOp::Equal: binary_loop<BinOp::Equal, T, uint8_t>(a, b, out); break;
  }
}

BinOp binop_of(const Node& n) {
  if (n.op == "Add") return BinOp::Add;
  if (n.op == "Sub") return BinOp::Sub;
  if (n.op == "Mul") return BinOp::Mul;
  if (n.op == "Div") return BinOp::Div;
  if (n.op == "Equal") return BinOp::Equal;
  return n.attr_int("fmod", 0) ? BinOp::FMod : BinOp::Mod;
}

void infer_binary(InferContext& c) {
  if (c.input(0).dtype != c.input(1).dtype)
    c.fail(std::string("input types differ: ") + dtype_name(c.input(0).dtype) + " vs " +
           dtype_name(c.input(1).dtype));
  DType dt = c.node.op == "Equal" ? DType::bool8 : c.input(0).dtype;
  c.set_output(0, dt, broadcast_shapes(c.shape(0), c.shape(1), c.node));
}

void compute_binary(const Node& n, const TensorIn& in, const TensorOut& out) {
  BinOp op = binop_of(n);
  switch (in[0]->dtype()) {
    case DType::f32: binary_typed<float>(n, op, *in[0], *in[1], *out[0]); break;
    case DType::i64: binary_typed<int64_t>(n, op, *in[0], *in[1], *out[0]); break;
    case DType::i32: binary_typed<int32_t>(n, op, *in[0], *in[1], *out[0]); break;
    case DType::bool8:
      if (op != BinOp::Equal) fail_node(n, "arithmetic on bool tensors");
      binary_typed<uint8_t>(n, op, *in[0], *in[1], *out[0]);
      break;
    case DType::bf16: {
      // Widened to float32, computed there, rounded once: what the bf16 kernels do.
      auto widen = [](const Tensor& t) {
        Tensor f(DType::f32, t.shape());
        for (int64_t i = 0; i < t.numel(); ++i) f.data<float>()[i] = bf16_to_f32(t.data<BFloat16>()[i].bits);
        return f;
      };
      Tensor result(DType::f32, out[0]->shape());
      binary_typed<float>(n, op, widen(*in[0]), widen(*in[1]), result);
      for (int64_t i = 0; i < result.numel(); ++i) out[0]->data<BFloat16>()[i].bits = f32_to_bf16(result.data<float>()[i]);
      break;
    }
    default: fail_node(n, std::string("unsupported input type ") + dtype_name(in[0]->dtype()));
  }
}

void infer_where(InferContext& c) {
  if (c.input(0).dtype != DType::bool8) c.fail("condition must be bool");
  if (c.input(1).dtype != c.input(2).dtype) c.fail("X and Y have different types");
  Shape s = broadcast_shapes(broadcast_shapes(c.shape(0), c.shape(1), c.node), c.shape(2), c.node);
  c.set_output(0, c.input(1).dtype, s);
}

void compute_where(const Node&, const TensorIn& in, const TensorOut& out) {
  const Shape& os = out[0]->shape();
  int64_t strides[3][kMaxWalkRank];
  for (size_t k = 0; k < 3; ++k) broadcast_strides_into(in[k]->shape(), os, strides[k]);
  const size_t es = dtype_size(out[0]->dtype());
  const uint8_t* cond = in[0]->data<uint8_t>();
  const char* x = static_cast<const char*>(in[1]->raw());
  const char* y = static_cast<const char*>(in[2]->raw());
  char* o = static_cast<char*>(out[0]->raw());
  const int64_t* const stride_ptrs[3] = {strides[0], strides[1], strides[2]};
  for_each_row<3>(os, stride_ptrs, [&](const int64_t* offs, int64_t off, int64_t len, const int64_t* st) {
    for (int64_t j = 0; j < len; ++j) {
      const char* src = cond[offs[0] + j * st[0]] ? x + (offs[1] + j * st[1]) * static_cast<int64_t>(es)
                                                  : y + (offs[2] + j * st[2]) * static_cast<int64_t>(es);
      std::memcpy(o + (off + j) * static_cast<int64_t>(es), src, es);
    }
  });
}

// Relu, and Add of two same-shape operands, as one flat pass over the buffers. This also covers
// blocked activations (see passes/blocked_layout.cpp): operands share the padded layout element for
// element, and zero padding stays zero. Float32, or bfloat16 in bf16 plans.
class FlatEltwise final : public Kernel {
 public:
  FlatEltwise(bool add, bool bf16, int64_t count, int threads)
      : add_(add), bf16_(bf16), count_(count), threads_(threads), kernels_(*hardware().kernels) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    const void* a = in[0]->raw();
    const void* b = add_ ? in[1]->raw() : nullptr;
    void* y = out[0]->raw();
    // Below 32k elements per thread, waking a second thread costs about what it saves (M5 at 2
    // threads measured the same with 2k and 32k; fewer wake-ups are cheaper on a busy machine).
    parallel_for(threads_, count_, 32768, [&](int64_t begin, int64_t end) {
      const size_t n = static_cast<size_t>(end - begin);
      if (bf16_) {
        const auto* a16 = static_cast<const uint16_t*>(a) + begin;
        auto* y16 = static_cast<uint16_t*>(y) + begin;
        if (add_) kernels_.add_bf16(a16, static_cast<const uint16_t*>(b) + begin, y16, n);
        else kernels_.relu_bf16(a16, y16, n);
      } else {
        const auto* a32 = static_cast<const float*>(a) + begin;
        auto* y32 = static_cast<float*>(y) + begin;
        if (add_) kernels_.add_f32(a32, static_cast<const float*>(b) + begin, y32, n);
        else kernels_.relu_f32(a32, y32, n);
      }
    });
  }

 private:
  bool add_, bf16_;
  int64_t count_;
  int threads_;
  const KernelTable& kernels_;
};

std::unique_ptr<Kernel> create_flat_eltwise(const Node& n, const Graph& g, const KernelOptions& options) {
  const Value& out = g.value(n.outputs[0]);
  if (out.dtype != DType::f32 && out.dtype != DType::bf16) return nullptr;
  for (ValueId id : n.inputs)
    if (g.value(id).dtype != out.dtype || g.value(id).layout != out.layout) return nullptr;
  const bool add = n.op == "Add";
  if (add && (g.value(n.inputs[0]).shape != out.shape || g.value(n.inputs[1]).shape != out.shape)) return nullptr;
  return std::make_unique<FlatEltwise>(add, out.dtype == DType::bf16, static_cast<int64_t>(value_bytes(out) / dtype_size(out.dtype)),
                                       options.threads);
}

// Cast of 8-bit codes or int32 sums to float32 (a quantized model's input, dynamic quantization's
// ConvInteger / MatMulInteger results): the tier's vector conversion, the same values as
// compute_cast's, elements shared among the Session's threads.
class WidenToFloat final : public Kernel {
 public:
  WidenToFloat(bool from_int32, int64_t count, int threads) : from_int32_(from_int32), count_(count), threads_(threads), kernels_(*hardware().kernels) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    float* y = out[0]->data<float>();
    parallel_for(threads_, count_, 32768, [&](int64_t begin, int64_t end) {
      const size_t n = static_cast<size_t>(end - begin);
      if (from_int32_) kernels_.widen_i32_f32(in[0]->data<int32_t>() + begin, y + begin, n);
      else kernels_.widen_u8_f32(in[0]->data<uint8_t>() + begin, y + begin, n);
    });
  }

 private:
  bool from_int32_;
  int64_t count_;
  int threads_;
  const KernelTable& kernels_;
};

std::unique_ptr<Kernel> create_cast(const Node& n, const Graph& g, const KernelOptions& options) {
  const Value& x = g.value(n.inputs[0]);
  const Value& y = g.value(n.outputs[0]);
  if (y.dtype != DType::f32 || (x.dtype != DType::i32 && x.dtype != DType::u8) || x.layout != y.layout || x.layout == Layout::Blocked)
    return nullptr;
  return std::make_unique<WidenToFloat>(x.dtype == DType::i32, shape_numel(x.shape), options.threads);
}

// Mul of a float32 tensor by one value per leading index, broadcast over the trailing axes
// (squeeze-excite's x * gate[N, C, 1, 1]): one tight loop per row instead of the broadcast walk,
// which costs more per row than EfficientViT's 16-49-pixel rows take to multiply.
class ScaleRows final : public Kernel {
 public:
  ScaleRows(bool scale_first, int64_t rows, int64_t len) : scale_first_(scale_first), rows_(rows), len_(len) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    // x * s equals s * x bit for bit (IEEE multiplication commutes; only two NaNs' payloads could
    // tell the order apart).
    const float* x = in[scale_first_ ? 1 : 0]->data<float>();
    const float* scale = in[scale_first_ ? 0 : 1]->data<float>();
    float* y = out[0]->data<float>();
    const auto kernel = hardware().kernels->scale_rows_f32;
    parallel_for(omp_get_max_threads(), rows_, std::max<int64_t>(1, 32768 / len_), [&](int64_t first, int64_t last) {
      kernel(x + first * len_, scale + first, y + first * len_, last - first, len_);
    });
  }

 private:
  bool scale_first_;
  int64_t rows_, len_;
};

// The operand shapes ScaleRows takes: `full` is the output's shape, `scale` (rank-aligned) matches
// it on a leading block of axes and is 1 on the rest.
bool scales_rows(const Shape& full, const Shape& scale, int64_t& rows) {
  if (scale.size() > full.size()) return false;
  const size_t offset = full.size() - scale.size();
  size_t d = 0;
  rows = 1;
  for (; d < full.size(); ++d) {
    const int64_t sd = d < offset ? 1 : scale[d - offset];
    if (sd != full[d]) break;
    rows *= sd;
  }
  for (; d < full.size(); ++d)
    if ((d < offset ? 1 : scale[d - offset]) != 1) return false;
  return rows > 0 && rows < shape_numel(full);
}

// Sub of one value per leading index (an image's per-channel mean): x - m[r] computed as
// x * 1 + (-m[r]) by the affine kernel, the same single rounding (x * 1 is exact, and adding -m is
// subtracting m), so the bits are the broadcast walk's.
class ShiftRows final : public Kernel {
 public:
  ShiftRows(int64_t rows, int64_t len) : rows_(rows), len_(len), ones_(static_cast<size_t>(rows), 1.f), negated_(static_cast<size_t>(rows)) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    const float* x = in[0]->data<float>();
    const float* m = in[1]->data<float>();
    for (int64_t r = 0; r < rows_; ++r) negated_[static_cast<size_t>(r)] = -m[r];
    float* y = out[0]->data<float>();
    const auto kernel = hardware().kernels->affine_rows_f32;
    parallel_for(omp_get_max_threads(), rows_, std::max<int64_t>(1, 32768 / len_), [&](int64_t first, int64_t last) {
      kernel(x + first * len_, ones_.data() + first, negated_.data() + first, y + first * len_, last - first, len_);
    });
  }

 private:
  int64_t rows_, len_;
  std::vector<float> ones_, negated_;
};

// Both operands and the output float32 in the plain layout: what the row kernels take.
bool plain_f32_binary(const Node& n, const Graph& g) {
  for (ValueId id : {n.inputs[0], n.inputs[1], n.outputs[0]})
    if (g.value(id).dtype != DType::f32 || g.value(id).layout != Layout::Plain) return false;
  return true;
}

std::unique_ptr<Kernel> create_sub(const Node& n, const Graph& g, const KernelOptions&) {
  if (!plain_f32_binary(n, g)) return nullptr;
  const Shape& a = g.value(n.inputs[0]).shape;
  const Shape& y = g.value(n.outputs[0]).shape;
  int64_t rows = 0;
  if (a == y && scales_rows(y, g.value(n.inputs[1]).shape, rows)) return std::make_unique<ShiftRows>(rows, shape_numel(y) / rows);
  return nullptr;
}

std::unique_ptr<Kernel> create_mul(const Node& n, const Graph& g, const KernelOptions&) {
  if (!plain_f32_binary(n, g)) return nullptr;
  const Shape& a = g.value(n.inputs[0]).shape;
  const Shape& b = g.value(n.inputs[1]).shape;
  const Shape& y = g.value(n.outputs[0]).shape;
  int64_t rows = 0;
  if (a == y && scales_rows(y, b, rows)) return std::make_unique<ScaleRows>(false, rows, shape_numel(y) / rows);
  if (b == y && scales_rows(y, a, rows)) return std::make_unique<ScaleRows>(true, rows, shape_numel(y) / rows);
  return nullptr;
}

}  // namespace

const OpDef kReluOp{"Relu", infer_relu, compute_relu, create_flat_eltwise};
const OpDef kSigmoidOp{"Sigmoid", infer_same_f32, compute_sigmoid};
const OpDef kLeakyReluOp{"LeakyRelu", infer_same_f32, compute_leaky_relu};
const OpDef kIdentityOp{"Identity", infer_same, compute_identity};
const OpDef kDropoutOp{"Dropout", infer_dropout, compute_dropout};
const OpDef kCastOp{"Cast", infer_cast, compute_cast, create_cast};
const OpDef kAddOp{"Add", infer_binary, compute_binary, create_flat_eltwise};
const OpDef kSubOp{"Sub", infer_binary, compute_binary, create_sub};
const OpDef kMulOp{"Mul", infer_binary, compute_binary, create_mul};
const OpDef kDivOp{"Div", infer_binary, compute_binary};
const OpDef kModOp{"Mod", infer_binary, compute_binary};
const OpDef kEqualOp{"Equal", infer_binary, compute_binary};
const OpDef kWhereOp{"Where", infer_where, compute_where};

}  // namespace effvit
