// The ops of dynamic quantization (ONNX Runtime's quantize_dynamic): DynamicQuantizeLinear
// (float32 -> uint8 with a scale and zero point from the tensor's own range, per run),
// MatMulInteger and ConvInteger (8-bit operands minus their zero points, exact int32 sums). The
// file then casts the sums to float32 and multiplies by the two scales.
//
// DynamicQuantizeLinear follows ONNX Runtime where the ONNX definition leaves a gap: an all-zero
// tensor (range 0) gets scale 1, not a division by zero. A NaN element (undefined there) becomes
// the zero point, a real 0, as in QuantizeLinear; ONNX Runtime writes the code 0 instead.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/broadcast.h"
#include "ops/conv.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

bool eight_bit(DType t) { return t == DType::u8 || t == DType::i8; }

int32_t code(const Tensor& t, int64_t i) {
  return t.dtype() == DType::u8 ? static_cast<int32_t>(t.data<uint8_t>()[i]) : static_cast<int32_t>(t.data<int8_t>()[i]);
}

// ---- DynamicQuantizeLinear ----

void infer_dynamic_quantize(InferContext& c) {
  c.require_f32(0, 0);
  c.set_output(0, DType::u8, c.shape(0));
  c.set_output(1, DType::f32, {});
  c.set_output(2, DType::u8, {});
}

struct DynamicParams {
  float scale;
  uint8_t zero_point;
};

// From the tensor's range widened to include 0, as ONNX Runtime computes it.
DynamicParams dynamic_params(float lo, float hi) {
  lo = std::min(lo, 0.f);
  hi = std::max(hi, 0.f);
  DynamicParams p{};
  p.scale = hi == lo ? 1.f : (hi - lo) / 255.f;
  const float zero = std::max(0.f, std::min(255.f, 0.f - lo / p.scale));
  p.zero_point = static_cast<uint8_t>(std::nearbyint(zero));
  return p;
}

void write_params(const DynamicParams& p, const TensorOut& out) {
  out[1]->data<float>()[0] = p.scale;
  out[2]->data<uint8_t>()[0] = p.zero_point;
}

void compute_dynamic_quantize(const Node&, const TensorIn& in, const TensorOut& out) {
  const float* x = in[0]->data<float>();
  const int64_t n = in[0]->numel();
  float lo = 0.f, hi = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  const DynamicParams p = dynamic_params(lo, hi);
  write_params(p, out);
  // Then QuantizeLinear itself, with the parameters just written.
  Node q;
  q.op = "QuantizeLinear";
  find_op(q.op)->compute(q, {in[0], out[1], out[2]}, {out[0]});
}

// The range with the tier's vector min/max, the codes with its QuantizeLinear kernel (bit-equal
// to the reference loops above).
class DynamicQuantizeKernel final : public Kernel {
 public:
  explicit DynamicQuantizeKernel(int64_t count) : count_(count), kernels_(*hardware().kernels) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    float lo = 0.f, hi = 0.f;
    kernels_.min_max_f32(in[0]->data<float>(), static_cast<size_t>(count_), &lo, &hi);
    const DynamicParams p = dynamic_params(lo, hi);
    write_params(p, out);
    parallel_for(omp_get_max_threads(), count_, 32768, [&](int64_t begin, int64_t end) {
      kernels_.quantize_f32_u8(in[0]->data<float>() + begin, out[0]->data<uint8_t>() + begin, static_cast<size_t>(end - begin), p.scale,
                               static_cast<float>(p.zero_point));
    });
  }

 private:
  int64_t count_;
  const KernelTable& kernels_;
};

std::unique_ptr<Kernel> create_dynamic_quantize(const Node& n, const Graph& g, const KernelOptions&) {
  const Value& x = g.value(n.inputs[0]);
  if (x.layout == Layout::Blocked) return nullptr;
  return std::make_unique<DynamicQuantizeKernel>(shape_numel(x.shape));
}

// ---- MatMulInteger ----

// A zero point: a scalar, or one per row of a (length M) / per column of b (length N).
void check_zero_point(InferContext& c, size_t i, DType type, int64_t along, const char* what) {
  if (!c.has_input(i)) return;
  if (c.input(i).dtype != type) c.fail(std::string(what) + " zero point must have its operand's type");
  const int64_t n = shape_numel(c.shape(i));
  if (n != 1 && !(c.shape(i).size() == 1 && n == along)) c.fail(std::string(what) + " zero point must be a scalar or one per " + (i == 2 ? "row" : "column"));
}

void infer_matmul_integer(InferContext& c) {
  const Shape& a = c.shape(0);
  const Shape& b = c.shape(1);
  if (!eight_bit(c.input(0).dtype) || !eight_bit(c.input(1).dtype)) c.fail("operands must be uint8 or int8");
  if (a.size() < 2 || b.size() < 2) c.fail("operands of rank 1 are not supported");
  if (a.back() != b[b.size() - 2]) c.fail("inner dimensions differ: " + shape_str(a) + " x " + shape_str(b));
  check_zero_point(c, 2, c.input(0).dtype, a[a.size() - 2], "a's");
  check_zero_point(c, 3, c.input(1).dtype, b.back(), "b's");
  Shape out = broadcast_shapes(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2), c.node);
  out.push_back(a[a.size() - 2]);
  out.push_back(b.back());
  c.set_output(0, DType::i32, out);
}

// Exact: both operands' codes minus their zero points (at most 2^16 in a product), summed in 32
// bits, wrapping past them as the definition allows. Centred int32 copies first (into `to`, numel
// elements), so the inner loop is one multiply-add over a contiguous row.
void centre(const Tensor& t, const Tensor* zero, int64_t rows, int64_t cols, bool per_row, int32_t* to) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t r = i / cols % rows, c = i % cols;
    const int32_t z = zero ? code(*zero, zero->numel() == 1 ? 0 : per_row ? r : c) : 0;
    to[i] = code(t, i) - z;
  }
}

// y = (a - a_zero) (b - b_zero), batched with numpy broadcasting, on centred operands; `row` holds
// N sums.
void matmul_integer_centred(const Shape& sa, const int32_t* ca, const Shape& sb, const int32_t* cb, uint32_t* row, Tensor& out) {
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const Shape& so = out.shape();
  const Shape batch(so.begin(), so.end() - 2);
  int64_t stride_a[kMaxWalkRank], stride_b[kMaxWalkRank], idx[kMaxWalkRank] = {};
  broadcast_strides_into(Shape(sa.begin(), sa.end() - 2), batch, stride_a);
  broadcast_strides_into(Shape(sb.begin(), sb.end() - 2), batch, stride_b);
  int32_t* y = out.data<int32_t>();
  for (int64_t t = 0, batches = shape_numel(batch); t < batches; ++t) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < batch.size(); ++d) {
      oa += idx[d] * stride_a[d];
      ob += idx[d] * stride_b[d];
    }
    for (int64_t i = 0; i < m; ++i) {
      std::fill(row, row + n, 0u);
      for (int64_t p = 0; p < k; ++p) {
        const uint32_t av = static_cast<uint32_t>(ca[(oa * m + i) * k + p]);
        const int32_t* brow = cb + (ob * k + p) * n;
        for (int64_t j = 0; j < n; ++j) row[j] += av * static_cast<uint32_t>(brow[j]);
      }
      for (int64_t j = 0; j < n; ++j) y[(t * m + i) * n + j] = static_cast<int32_t>(row[j]);
    }
    for (size_t d = batch.size(); d-- > 0;) {  // next row-major batch index
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
}

void compute_matmul_integer(const Node&, const TensorIn& in, const TensorOut& out) {
  const Shape& sa = in[0]->shape();
  const Shape& sb = in[1]->shape();
  std::vector<int32_t> ca(static_cast<size_t>(in[0]->numel())), cb(static_cast<size_t>(in[1]->numel()));
  std::vector<uint32_t> row(static_cast<size_t>(sb.back()));
  centre(*in[0], in.size() > 2 ? in[2] : nullptr, sa[sa.size() - 2], sa.back(), true, ca.data());
  centre(*in[1], in.size() > 3 ? in[3] : nullptr, sb[sb.size() - 2], sb.back(), false, cb.data());
  matmul_integer_centred(sa, ca.data(), sb, cb.data(), row.data(), *out[0]);
}

// A constant b (a weight, as quantize_dynamic writes it) is centred once, at plan time; a's centred
// copy and the row of sums live in the plan's workspace, so a run allocates nothing.
class MatMulIntegerKernel final : public Kernel {
 public:
  MatMulIntegerKernel(Shape a_shape, Shape b_shape, std::vector<int32_t> b)
      : a_shape_(std::move(a_shape)), b_shape_(std::move(b_shape)), b_(std::move(b)) {}
  size_t workspace_bytes() const override {
    return static_cast<size_t>(shape_numel(a_shape_)) * sizeof(int32_t) + static_cast<size_t>(b_shape_.back()) * sizeof(uint32_t);
  }
  void bind_workspace(void* base) override {
    a_ = static_cast<int32_t*>(base);
    row_ = reinterpret_cast<uint32_t*>(a_ + shape_numel(a_shape_));
  }
  void run(const TensorIn& in, const TensorOut& out) override {
    centre(*in[0], in.size() > 2 ? in[2] : nullptr, a_shape_[a_shape_.size() - 2], a_shape_.back(), true, a_);
    matmul_integer_centred(a_shape_, a_, b_shape_, b_.data(), row_, *out[0]);
  }

 private:
  Shape a_shape_, b_shape_;
  std::vector<int32_t> b_;
  int32_t* a_ = nullptr;
  uint32_t* row_ = nullptr;
};

std::unique_ptr<Kernel> create_matmul_integer(const Node& n, const Graph& g, const KernelOptions&) {
  const bool b_zero_constant = n.inputs.size() < 4 || n.inputs[3] == kNoValue || g.is_constant(n.inputs[3]);
  if (!g.is_constant(n.inputs[1]) || !g.value(n.inputs[1]).constant.defined() || !b_zero_constant) return nullptr;
  const Tensor& b = g.value(n.inputs[1]).constant;
  const Tensor* zero = n.inputs.size() > 3 && n.inputs[3] != kNoValue ? &g.value(n.inputs[3]).constant : nullptr;
  const Shape& sb = b.shape();
  std::vector<int32_t> centred(static_cast<size_t>(b.numel()));
  centre(b, zero, sb[sb.size() - 2], sb.back(), false, centred.data());
  return std::make_unique<MatMulIntegerKernel>(g.value(n.inputs[0]).shape, sb, std::move(centred));
}

// ---- ConvInteger ----

void infer_conv_integer(InferContext& c) {
  if (!eight_bit(c.input(0).dtype) || !eight_bit(c.input(1).dtype)) c.fail("x and w must be uint8 or int8");
  const ConvGeometry g = conv_geometry(c.node, c.shape(0), c.shape(1));
  if (c.has_input(2) && (c.input(2).dtype != c.input(0).dtype || shape_numel(c.shape(2)) != 1))
    c.fail("x's zero point must be a scalar of x's type");
  if (c.has_input(3) && (c.input(3).dtype != c.input(1).dtype || (shape_numel(c.shape(3)) != 1 && c.shape(3) != Shape{g.out_c})))
    c.fail("w's zero point must be a scalar or one per output channel, of w's type");
  c.set_output(0, DType::i32, {g.batch, g.out_c, g.out_h, g.out_w});
}

void compute_conv_integer(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Tensor& x = *in[0];
  const Tensor& w = *in[1];
  const ConvGeometry g = conv_geometry(n, x.shape(), w.shape());
  const int32_t zx = in.size() > 2 && in[2] ? code(*in[2], 0) : 0;
  const Tensor* zw = in.size() > 3 ? in[3] : nullptr;
  const int64_t cin = g.in_c / g.groups, cout = g.out_c / g.groups;
  int32_t* y = out[0]->data<int32_t>();
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t oc = 0; oc < g.out_c; ++oc) {
      const int64_t group = oc / cout;
      const int32_t zwo = zw ? code(*zw, zw->numel() == 1 ? 0 : oc) : 0;
      for (int64_t oy = 0; oy < g.out_h; ++oy)
        for (int64_t ox = 0; ox < g.out_w; ++ox) {
          int64_t acc = 0;
          for (int64_t ic = 0; ic < cin; ++ic)
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              const int64_t iy = oy * g.stride_h - g.pad_t + ky * g.dil_h;
              if (iy < 0 || iy >= g.in_h) continue;
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t ix = ox * g.stride_w - g.pad_l + kx * g.dil_w;
                if (ix < 0 || ix >= g.in_w) continue;  // padding is the zero point: (zx - zx) = 0
                const int64_t xv = code(x, ((b * g.in_c + group * cin + ic) * g.in_h + iy) * g.in_w + ix) - zx;
                acc += xv * (code(w, ((oc * cin + ic) * g.kh + ky) * g.kw + kx) - zwo);
              }
            }
          y[((b * g.out_c + oc) * g.out_h + oy) * g.out_w + ox] = static_cast<int32_t>(static_cast<uint32_t>(acc));
        }
    }
}

std::unique_ptr<Kernel> create_conv_integer(const Node& n, const Graph& g, const KernelOptions& options) {
  return create_conv_integer_dnnl(n, g, options);
}

}  // namespace

const OpDef kDynamicQuantizeLinearOp{"DynamicQuantizeLinear", infer_dynamic_quantize, compute_dynamic_quantize, create_dynamic_quantize};
const OpDef kMatMulIntegerOp{"MatMulInteger", infer_matmul_integer, compute_matmul_integer, create_matmul_integer};
const OpDef kConvIntegerOp{"ConvInteger", infer_conv_integer, compute_conv_integer, create_conv_integer};

}  // namespace effvit
