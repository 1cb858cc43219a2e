// MatMul and Gemm through oneDNN's matmul primitive. Operands stay in the graph's row-major layout;
// transposed Gemm operands are described by strides, so nothing is copied. A fused scale
// (effvit.scale, passes/fuse_attention_scores.cpp) is an eltwise-linear post-op: oneDNN 2.6 has no
// jit f32 matmul with output scales, nor with a bias broadcast over the batch.
#include "ops/dnnl/engine.h"
#include "ops/dnnl/kernels.h"

namespace effvit {
namespace {

using dnnl::memory;

memory::dims row_major_strides(const memory::dims& dims) {
  memory::dims strides(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;) strides[d - 1] = strides[d] * dims[d];
  return strides;
}

class MatMulDnnl final : public Kernel {
 public:
  // a: [..., M, K], b: [..., K, N] (given by strides), bias: [1.., N] or empty. A constant b
  // (`b_constant`, e.g. a classifier head) is packed once into the layout oneDNN prefers and shared
  // through the Model's weight cache, instead of being repacked on every run.
  MatMulDnnl(const memory::desc& a, const memory::desc& b, const memory::desc& bias, const memory::desc& dst,
             const Value* b_constant, const KernelOptions& options, float scale = 1.f)
      : threads_(dnnl_threads_for(static_cast<double>(dnnl::memory::desc(dst).get_size()) / sizeof(float) * a.dims().back(),
                                  options.threads)) {
    OmpThreadScope scope(threads_);
    auto& eng = dnnl_engine();
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // see conv_dnnl.cpp
    if (scale != 1.f) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, scale, 0.f);
      attr.set_post_ops(ops);
    }
    const memory::desc b_any(b.dims(), memory::data_type::f32, memory::format_tag::any);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b_constant ? b_any : b, bias, dst), attr, eng);
    impl_ = std::string("matmul ") + pd.impl_info_str();
    a_ = memory(a, eng, DNNL_MEMORY_NONE);
    b_ = b_constant ? pack_weights(b, *b_constant, pd.weights_desc(), options.weights, packed_b_)
                    : memory(b, eng, DNNL_MEMORY_NONE);
    dst_ = memory(dst, eng, DNNL_MEMORY_NONE);
    std::vector<std::pair<int, memory>> args{
        {DNNL_ARG_SRC, a_}, {DNNL_ARG_WEIGHTS, b_}, {DNNL_ARG_DST, dst_}, {DNNL_ARG_SCRATCHPAD, workspace_.add(pd.scratchpad_desc())}};
    if (!bias.is_zero()) {
      bias_ = memory(bias, eng, DNNL_MEMORY_NONE);
      args.emplace_back(DNNL_ARG_BIAS, bias_);
    }
    matmul_ = BoundPrimitive(dnnl::matmul(pd), std::move(args));
  }

  void run(const TensorIn& in, const TensorOut& out) override {
    OmpThreadScope scope(threads_);
    a_.set_data_handle(const_cast<void*>(in[0]->raw()));
    if (!packed_b_) b_.set_data_handle(const_cast<void*>(in[1]->raw()));
    dst_.set_data_handle(out[0]->raw());
    if (bias_) bias_.set_data_handle(const_cast<void*>(in[2]->raw()));
    matmul_.execute(stream_);
    stream_.wait();
  }

  std::string implementation() const override { return impl_; }
  bool packed_input(size_t i) const override { return i == 1 && packed_b_ != nullptr; }
  size_t workspace_bytes() const override { return workspace_.bytes(); }
  void bind_workspace(void* base) override { workspace_.bind(base); }

 private:
  BoundPrimitive matmul_;
  dnnl::stream stream_{dnnl_engine()};  // one per kernel: a Session runs on one thread
  memory a_, b_, bias_, dst_;
  DnnlWorkspace workspace_;
  std::shared_ptr<void> packed_b_;  // set when b is a packed constant
  int threads_ = 1;
  std::string impl_;
};

memory::desc plain(const memory::dims& dims) {
  return memory::desc(dims, memory::data_type::f32, row_major_strides(dims));
}

// An operand stored row-major as `stored`; with `trans` its last two axes are read swapped.
memory::desc operand(const Shape& stored, bool trans) {
  memory::dims dims(stored.begin(), stored.end());
  memory::dims strides = row_major_strides(dims);
  if (trans) {
    std::swap(dims[dims.size() - 1], dims[dims.size() - 2]);
    std::swap(strides[strides.size() - 1], strides[strides.size() - 2]);
  }
  return memory::desc(dims, memory::data_type::f32, strides);
}

const Value* constant_or_null(const Graph& g, ValueId id) { return g.is_constant(id) ? &g.value(id) : nullptr; }

}  // namespace

std::unique_ptr<Kernel> create_matmul_dnnl(const Node& n, const Graph& g, const KernelOptions& options) {
  Shape a = g.value(n.inputs[0]).shape, b = g.value(n.inputs[1]).shape;
  const Shape& y = g.value(n.outputs[0]).shape;
  if (a.size() < 2 || b.size() < 2 || y.size() > 12) return nullptr;  // 1-D promotion: reference
  const size_t rank = std::max(a.size(), b.size());
  a.insert(a.begin(), rank - a.size(), 1);
  b.insert(b.begin(), rank - b.size(), 1);
  try {
    return std::make_unique<MatMulDnnl>(operand(a, n.attr_int("effvit.trans_a", 0)), operand(b, n.attr_int("effvit.trans_b", 0)),
                                        memory::desc(), plain(memory::dims(y.begin(), y.end())),
                                        constant_or_null(g, n.inputs[1]), options, n.attr_float("effvit.scale", 1.f));
  } catch (const dnnl::error& e) {
    return decline_or_rethrow(n, e);
  }
}

std::unique_ptr<Kernel> create_gemm_dnnl(const Node& n, const Graph& g, const KernelOptions& options) {
  if (n.attr_float("alpha", 1.f) != 1.f || n.attr_float("beta", 1.f) != 1.f) return nullptr;
  const Shape& as = g.value(n.inputs[0]).shape;
  const Shape& bs = g.value(n.inputs[1]).shape;
  const bool ta = n.attr_int("transA", 0), tb = n.attr_int("transB", 0);
  const int64_t m = ta ? as[1] : as[0], k = ta ? as[0] : as[1], nn = tb ? bs[0] : bs[1];
  memory::desc a({m, k}, memory::data_type::f32, ta ? memory::dims{1, m} : memory::dims{k, 1});
  memory::desc b({k, nn}, memory::data_type::f32, tb ? memory::dims{1, k} : memory::dims{nn, 1});
  memory::desc bias;
  if (n.inputs.size() > 2 && n.inputs[2] != kNoValue) {
    const Shape& cs = g.value(n.inputs[2]).shape;
    // oneDNN adds a bias broadcast over rows; a full [M, N] C goes to the reference.
    const bool row_bias = shape_numel(cs) == nn && (cs.size() == 1 || (cs.size() == 2 && cs[0] == 1));
    if (!row_bias) return nullptr;
    bias = memory::desc({1, nn}, memory::data_type::f32, memory::dims{nn, 1});
  }
  try {
    return std::make_unique<MatMulDnnl>(a, b, bias, plain({m, nn}), constant_or_null(g, n.inputs[1]), options);
  } catch (const dnnl::error& e) {
    return decline_or_rethrow(n, e);
  }
}

}  // namespace effvit
