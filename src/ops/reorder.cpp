// Layout conversions the blocked_layout pass inserts between plain NCHW and oneDNN's nChw<B>c (B in
// the node's `block` attribute). They exist only inside effvit (the importer rejects their names in
// a model).
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

void compute_to_blocked(const Node& node, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  const int64_t block = block_of(node), pixels = s[2] * s[3], blocks = (s[1] + block - 1) / block;
  float* y = out[0]->data<float>();
  std::fill(y, y + s[0] * blocks * block * pixels, 0.f);  // the padding channels read as zero
  const float* x = in[0]->data<float>();
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t p = 0; p < pixels; ++p) y[blocked_offset(n, c, p, s[1], pixels, block)] = x[(n * s[1] + c) * pixels + p];
}

void compute_to_plain(const Node& node, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  const int64_t block = block_of(node), pixels = s[2] * s[3];
  const float* x = in[0]->data<float>();
  float* y = out[0]->data<float>();
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t p = 0; p < pixels; ++p) y[(n * s[1] + c) * pixels + p] = x[blocked_offset(n, c, p, s[1], pixels, block)];
}

class ReorderDnnl final : public Kernel {
 public:
  ReorderDnnl(const Shape& s, int64_t block, bool to_blocked, int threads)
      : threads_(dnnl_threads_for(static_cast<double>(shape_numel(s)), threads)) {
    OmpThreadScope scope(threads_);
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::dims dims(s.begin(), s.end());
    const dnnl::memory::desc plain(dims, dnnl::memory::data_type::f32, tag::nchw);
    const dnnl::memory::desc blocked(dims, dnnl::memory::data_type::f32, blocked_tag(block));
    src_ = dnnl::memory(to_blocked ? plain : blocked, dnnl_engine(), DNNL_MEMORY_NONE);
    dst_ = dnnl::memory(to_blocked ? blocked : plain, dnnl_engine(), DNNL_MEMORY_NONE);
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

std::unique_ptr<Kernel> create_to_blocked(const Node& n, const Graph& g, const KernelOptions& options) {
  return std::make_unique<ReorderDnnl>(g.value(n.inputs[0]).shape, block_of(n), true, options.threads);
}

std::unique_ptr<Kernel> create_to_plain(const Node& n, const Graph& g, const KernelOptions& options) {
  return std::make_unique<ReorderDnnl>(g.value(n.inputs[0]).shape, block_of(n), false, options.threads);
}

}  // namespace

const OpDef kToBlockedOp{"effvit.ToBlocked", infer_reorder, compute_to_blocked, create_to_blocked};
const OpDef kToPlainOp{"effvit.ToPlain", infer_reorder, compute_to_plain, create_to_plain};

}  // namespace effvit
