// Layout conversions the layout passes insert: between plain NCHW and oneDNN's nChw<B>c (B in the
// node's `block` attribute), and between NCHW and NHWC (the int8 layout). They exist only inside
// effvit (the importer rejects their names in a model). In bf16 plans the blocked side is bfloat16
// (passes/bf16_activations.cpp), so one reorder converts layout and type together.
#include <cstring>

#include "cpu/hardware.h"
#include "kernels/bf16_scalar.h"
#include "kernels/kernels.h"
#include "ops/dnnl/engine.h"
#include "ops/op.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

int64_t block_of(const Node& n) {
  const int64_t b = n.attr_int("block", 0);
  if (b != 8 && b != 16) fail_node(n, "block must be 8 or 16, got " + std::to_string(b));
  return b;
}

void infer_reorder(InferContext& c) {
  if (c.shape(0).size() != 4 || c.input(0).dtype != DType::f32) c.fail("expects a float32 NCHW tensor");
  block_of(c.node);
  c.set_output(0, DType::f32, c.shape(0));
}

// Offset of (n, c, hw) in nChw<block>c for C channels and HW pixels per channel.
inline int64_t blocked_offset(int64_t n, int64_t c, int64_t hw, int64_t channels, int64_t pixels, int64_t block) {
  const int64_t blocks = (channels + block - 1) / block;
  return ((n * blocks + c / block) * pixels + hw) * block + c % block;
}

// Element i of a float32 or bfloat16 tensor, and storing one.
float load_float(const Tensor& t, int64_t i) {
  return t.dtype() == DType::bf16 ? bf16_to_f32(t.data<BFloat16>()[i].bits) : t.data<float>()[i];
}
void store_float(Tensor& t, int64_t i, float v) {
  if (t.dtype() == DType::bf16) t.data<BFloat16>()[i].bits = f32_to_bf16(v);
  else t.data<float>()[i] = v;
}

void compute_to_blocked(const Node& node, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  const int64_t block = block_of(node), pixels = s[2] * s[3], blocks = (s[1] + block - 1) / block;
  Tensor& y = *out[0];
  // The padding channels read as zero (the tensor's shape is the logical one; its buffer is padded).
  std::memset(y.raw(), 0, static_cast<size_t>(s[0] * blocks * block * pixels) * dtype_size(y.dtype()));
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t p = 0; p < pixels; ++p) store_float(y, blocked_offset(n, c, p, s[1], pixels, block), load_float(*in[0], (n * s[1] + c) * pixels + p));
}

// NCHW <-> NHWC for 4-D float32 tensors (the int8 layout, passes/nhwc_layout.cpp).
void infer_nhwc_reorder(InferContext& c) {
  if (c.shape(0).size() != 4 || c.input(0).dtype != DType::f32) c.fail("expects a float32 4-D tensor");
  c.set_output(0, DType::f32, c.shape(0));
}

void copy_nchw_nhwc(const TensorIn& in, const TensorOut& out, bool to_nhwc) {
  const Shape& s = in[0]->shape();
  const int64_t channels = s[1], pixels = s[2] * s[3];
  const float* x = in[0]->data<float>();
  float* y = out[0]->data<float>();
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t p = 0; p < pixels; ++p) {
        const int64_t nchw = (n * channels + c) * pixels + p, nhwc = (n * pixels + p) * channels + c;
        y[to_nhwc ? nhwc : nchw] = x[to_nhwc ? nchw : nhwc];
      }
}

void compute_to_nhwc(const Node&, const TensorIn& in, const TensorOut& out) { copy_nchw_nhwc(in, out, true); }
void compute_nhwc_to_plain(const Node&, const TensorIn& in, const TensorOut& out) { copy_nchw_nhwc(in, out, false); }

void compute_to_plain(const Node& node, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  const int64_t block = block_of(node), pixels = s[2] * s[3];
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t p = 0; p < pixels; ++p) store_float(*out[0], (n * s[1] + c) * pixels + p, load_float(*in[0], blocked_offset(n, c, p, s[1], pixels, block)));
}

using tag = dnnl::memory::format_tag;

class ReorderDnnl final : public Kernel {
 public:
  ReorderDnnl(const Value& in, const Value& out, tag from, tag to, int threads)
      : threads_(dnnl_threads_for(static_cast<double>(shape_numel(in.shape)), threads)) {
    OmpThreadScope scope(threads_);
    const dnnl::memory::dims dims(in.shape.begin(), in.shape.end());
    src_ = dnnl::memory(dnnl::memory::desc(dims, dnnl_type(in.dtype), from), dnnl_engine(), DNNL_MEMORY_NONE);
    dst_ = dnnl::memory(dnnl::memory::desc(dims, dnnl_type(out.dtype), to), dnnl_engine(), DNNL_MEMORY_NONE);
    reorder_ = make_reorder(src_, dst_, impl_);
  }
  void run(const TensorIn& in, const TensorOut& out) override {
    OmpThreadScope scope(threads_);
    src_.set_data_handle(const_cast<void*>(in[0]->raw()));
    dst_.set_data_handle(out[0]->raw());
    reorder_.execute(stream_);
    stream_.wait();
  }
  std::string implementation() const override { return impl_; }

 private:
  dnnl::memory src_, dst_;
  BoundPrimitive reorder_;
  dnnl::stream stream_{dnnl_engine()};
  int threads_;
  std::string impl_;
};

// A bf16 plan's conversions between plain float32 and 16-channel blocked bf16, on the kernel table's
// converters (avx512_bf16 tier, whole 16-channel blocks). bench/layout_bench.cpp, Zen 5, [192,14,14]:
// to plain 2.4 us, to blocked 6.1 us, against oneDNN's jit:uni reorders' 16.2 and 14.7 us.
class Bf16BlockConversion final : public Kernel {
 public:
  Bf16BlockConversion(const Shape& shape, bool to_plain) : shape_(shape), to_plain_(to_plain), kernels_(*hardware().kernels) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    const int64_t channels = shape_[1], pixels = shape_[2] * shape_[3], image = channels * pixels;
    for (int64_t b = 0; b < shape_[0]; ++b) {
      if (to_plain_)
        kernels_.blocked_bf16_to_plain_f32(static_cast<const uint16_t*>(in[0]->raw()) + b * image, channels, pixels, out[0]->data<float>() + b * image);
      else
        kernels_.plain_f32_to_blocked_bf16(in[0]->data<float>() + b * image, channels, pixels, static_cast<uint16_t*>(out[0]->raw()) + b * image);
    }
  }
  std::string implementation() const override { return to_plain_ ? "effvit blocked_bf16_to_plain_f32" : "effvit plain_f32_to_blocked_bf16"; }

 private:
  Shape shape_;
  bool to_plain_;
  const KernelTable& kernels_;
};

std::unique_ptr<Kernel> create_bf16_block_conversion(const Node& n, const Graph& g, bool to_plain) {
  const Value& blocked = g.value(to_plain ? n.inputs[0] : n.outputs[0]);
  const Value& plain = g.value(to_plain ? n.outputs[0] : n.inputs[0]);
  const KernelTable& k = *hardware().kernels;
  if (blocked.dtype != DType::bf16 || plain.dtype != DType::f32 || block_of(n) != 16 || blocked.shape[1] % 16 ||
      !(to_plain ? k.blocked_bf16_to_plain_f32 != nullptr : k.plain_f32_to_blocked_bf16 != nullptr))
    return nullptr;
  return std::make_unique<Bf16BlockConversion>(blocked.shape, to_plain);
}

std::unique_ptr<Kernel> create_to_blocked(const Node& n, const Graph& g, const KernelOptions& options) {
  if (auto own = create_bf16_block_conversion(n, g, false)) return own;
  return std::make_unique<ReorderDnnl>(g.value(n.inputs[0]), g.value(n.outputs[0]), tag::nchw, blocked_tag(block_of(n)), options.threads);
}

std::unique_ptr<Kernel> create_to_plain(const Node& n, const Graph& g, const KernelOptions& options) {
  if (auto own = create_bf16_block_conversion(n, g, true)) return own;
  return std::make_unique<ReorderDnnl>(g.value(n.inputs[0]), g.value(n.outputs[0]), blocked_tag(block_of(n)), tag::nchw, options.threads);
}

std::unique_ptr<Kernel> create_to_nhwc(const Node& n, const Graph& g, const KernelOptions& options) {
  return std::make_unique<ReorderDnnl>(g.value(n.inputs[0]), g.value(n.outputs[0]), tag::nchw, tag::nhwc, options.threads);
}

std::unique_ptr<Kernel> create_nhwc_to_plain(const Node& n, const Graph& g, const KernelOptions& options) {
  return std::make_unique<ReorderDnnl>(g.value(n.inputs[0]), g.value(n.outputs[0]), tag::nhwc, tag::nchw, options.threads);
}

}  // namespace

const OpDef kToBlockedOp{"effvit.ToBlocked", infer_reorder, compute_to_blocked, create_to_blocked};
const OpDef kToPlainOp{"effvit.ToPlain", infer_reorder, compute_to_plain, create_to_plain};
const OpDef kToNhwcOp{"effvit.ToNhwc", infer_nhwc_reorder, compute_to_nhwc, create_to_nhwc};
const OpDef kNhwcToPlainOp{"effvit.NhwcToPlain", infer_nhwc_reorder, compute_nhwc_to_plain, create_nhwc_to_plain};

}  // namespace effvit
