// Conv through oneDNN's convolution primitive. The graph keeps activations in plain NCHW so the
// kernel can sit between any other ops, but oneDNN picks the layouts it runs fastest in (blocked,
// nChw8c or nChw16c by ISA tier): the kernel reorders its input in and its output out when they differ, which costs
// far less than running oneDNN's plain-layout fallbacks (depthwise in NCHW is ~20x slower).
// Weights are reordered once, at plan time; reorder targets and oneDNN's scratchpad live in the
// plan's shared workspace.
#include "ops/conv.h"
#include "ops/dnnl/engine.h"

namespace effvit {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

class ConvDnnl final : public ReorderedPrimitiveKernel {
 public:
  ConvDnnl(const Node& n, const Graph& graph, const KernelOptions& options) {
    const Value& xv = graph.value(n.inputs[0]);
    const Value& wv = graph.value(n.inputs[1]);
    const ConvGeometry g = conv_geometry(n, xv.shape, wv.shape);
    threads_ = dnnl_threads_for(conv_macs(g), options.threads);
    OmpThreadScope scope(threads_);
    auto& eng = dnnl_engine();
    const ConvDnnlDims dims = conv_dnnl_dims(g);
    const memory::dims &src_dims = dims.src, &dst_dims = dims.dst, &w_dims = dims.weights;
    const Value& yv = graph.value(n.outputs[0]);
    // The graph's tensors, as they are: float32, or bfloat16 between the convs of a bf16 plan.
    memory::desc src_md(src_dims, dnnl_type(xv.dtype), tag::nchw);
    memory::desc dst_md(dst_dims, dnnl_type(yv.dtype), tag::nchw);
    // What the conv computes in (passes/bf16_activations.cpp): bf16 operands with float32 sums; its
    // output is written in the output value's type, so a bf16 conv feeding float32 readers (the
    // attention's qkv, say) rounds nothing on the way out.
    const bool bf16 = n.attr_string("effvit.compute", "") == "bf16";
    const memory::data_type operands = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
    const memory::data_type result = bf16 ? dnnl_type(yv.dtype) : memory::data_type::f32;
    // A blocked neighbour (see passes/blocked_layout.cpp) fixes that side to nChw<B>c; a plain one
    // lets oneDNN choose and the kernel reorders.
    const bool src_blocked = xv.layout == Layout::Blocked;
    const bool dst_blocked = yv.layout == Layout::Blocked;
    const int64_t block = src_blocked ? xv.channel_block : dst_blocked ? yv.channel_block : 0;
    // oneDNN 2.6 resolves `any` beside a fixed blocked side to formats only its slow reference
    // kernel takes (seen for depthwise), so once one side is blocked both are, where channels allow.
    const bool src_as_blocked = src_blocked || (block && g.in_c % block == 0);
    const bool dst_as_blocked = dst_blocked || (block && g.out_c % block == 0);
    // An image stem (a few input channels, plain) is read as it is: oneDNN's first-conv kernels take
    // NCHW directly, and letting it pick a layout costs a reorder of the whole image (M0: 0.11 ms,
    // more than the conv).
    const bool stem = !src_blocked && g.in_c <= 4 && g.groups == 1;
    memory::desc src_any(src_dims, operands, src_as_blocked ? blocked_tag(block) : stem ? tag::nchw : tag::any);
    memory::desc dst_any(dst_dims, result, dst_as_blocked ? blocked_tag(block) : tag::any);
    memory::desc w_any(w_dims, operands, tag::any);
    memory::desc b_md({g.out_c}, memory::data_type::f32, tag::x);
    const bool has_bias = n.inputs.size() > 2 && n.inputs[2] != kNoValue;
    dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_any, w_any,
        has_bias ? b_md : memory::desc(), dst_any, {g.stride_h, g.stride_w}, {g.dil_h - 1, g.dil_w - 1},
        {g.pad_t, g.pad_l}, {g.pad_b, g.pad_r});
    dnnl::primitive_attr attr;
    // oneDNN's library-owned scratchpad is shared process-wide in this build; sessions running on
    // several threads each need their own.
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (n.attr_string("effvit.activation", "") == "Relu") {
      dnnl::post_ops ops;
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(ops);
    }
    dnnl::convolution_forward::primitive_desc pd(desc, attr, eng);
    impls_ = std::string("conv ") + pd.impl_info_str();

    // Weights: a constant (pre-pack now) or a run-time input (reorder every run).
    memory::desc w_user(w_dims, memory::data_type::f32, dims.weights_tag);
    std::vector<std::pair<int, memory>> args;
    if (wv.is_constant) {
      args.emplace_back(DNNL_ARG_WEIGHTS, pack_weights(w_user, wv, pd.weights_desc(), options.weights, packed_weights_));
    } else {
      memory weights = workspace_.add(pd.weights_desc());
      weights_user_ = memory(w_user, eng, DNNL_MEMORY_NONE);
      weights_reorder_ = make_reorder(weights_user_, weights, impls_);
      args.emplace_back(DNNL_ARG_WEIGHTS, weights);
    }
    if (src_blocked) src_md = memory::desc(src_dims, dnnl_type(xv.dtype), blocked_tag(xv.channel_block));
    if (dst_blocked) dst_md = memory::desc(dst_dims, dnnl_type(yv.dtype), blocked_tag(yv.channel_block));
    src_plain_ = memory(src_md, eng, DNNL_MEMORY_NONE);
    dst_plain_ = memory(dst_md, eng, DNNL_MEMORY_NONE);
    memory src = src_plain_, dst = dst_plain_;
    if (pd.src_desc() != src_md) {
      src = workspace_.add(pd.src_desc());
      src_reorder_ = make_reorder(src_plain_, src, impls_);
    }
    if (pd.dst_desc() != dst_md) {
      dst = workspace_.add(pd.dst_desc());
      dst_reorder_ = make_reorder(dst, dst_plain_, impls_);
    }
    if (n.inputs.size() > 2 && n.inputs[2] != kNoValue) {
      bias_ = memory(pd.bias_desc(), eng, DNNL_MEMORY_NONE);
      args.emplace_back(DNNL_ARG_BIAS, bias_);
    }
    memory scratchpad = workspace_.add(pd.scratchpad_desc());
    args.emplace_back(DNNL_ARG_SRC, src);
    args.emplace_back(DNNL_ARG_DST, dst);
    args.emplace_back(DNNL_ARG_SCRATCHPAD, scratchpad);
    primitive_ = BoundPrimitive(dnnl::convolution_forward(pd), std::move(args));
  }

  bool packed_input(size_t i) const override { return i == 1 && packed_weights_ != nullptr; }

  void run(const TensorIn& in, const TensorOut& out) override {
    OmpThreadScope scope(threads_);
    if (weights_reorder_) {
      weights_user_.set_data_handle(const_cast<void*>(in[1]->raw()));
      weights_reorder_.execute(stream_);
    }
    if (bias_) bias_.set_data_handle(const_cast<void*>(in[2]->raw()));
    run_reordered(in[0]->raw(), out[0]->raw());
  }

 private:
  BoundPrimitive weights_reorder_;
  memory bias_, weights_user_;  // the graph's tensors, pointed at per run
  std::shared_ptr<void> packed_weights_;  // keeps a shared packed copy alive
};

}  // namespace

std::unique_ptr<Kernel> create_conv_dnnl(const Node& node, const Graph& graph, const KernelOptions& options) {
  if (is_quantized_conv(node)) return create_quantized_conv_dnnl(node, graph, options);
  try {
    return std::make_unique<ConvDnnl>(node, graph, options);
  } catch (const dnnl::error& e) {
    return decline_or_rethrow(node, e);
  }
}

}  // namespace effvit
