// ConvInteger (dynamic quantization, ops/integer_ops.cpp) through oneDNN's int8 convolution: uint8
// x whose zero point arrives per run (DynamicQuantizeLinear computes it from each input), int8
// weights with zero point 0 packed once, int32 sums written as they are. oneDNN takes its int32
// sums through float32 on the way out (and the split below adds its halves there), so they are
// exact while |sum| < 2^24: always in practice (quantize_dynamic's Cast to float32 right after
// rounds anything larger the same way).
//
// Below VNNI, where oneDNN's int8 conv is exact only for weights within [-64, 64] and
// quantize_dynamic's use the full int8 range, the weights are split in two halves that are
// (split_int8_weights) and the second conv adds its sums onto the first's: twice the arithmetic,
// against the reference loop's ~100x. Elsewhere (int8 x or nonzero-zero-point weights) the
// reference loop.
#include <optional>

#include "cpu/hardware.h"
#include "ops/conv.h"
#include "ops/dnnl/engine.h"

namespace effvit {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

class ConvIntegerDnnl final : public ReorderedPrimitiveKernel {
 public:
  ConvIntegerDnnl(const Node& n, const Graph& graph, const KernelOptions& options, bool split) {
    const Value& xv = graph.value(n.inputs[0]);
    const Value& wv = graph.value(n.inputs[1]);
    const ConvGeometry g = conv_geometry(n, xv.shape, wv.shape);
    threads_ = dnnl_threads_for(conv_macs(g), options.threads);
    OmpThreadScope scope(threads_);
    auto& eng = dnnl_engine();
    const ConvDnnlDims dims = conv_dnnl_dims(g);
    const memory::dims &src_dims = dims.src, &dst_dims = dims.dst, &w_dims = dims.weights;
    const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                         memory::desc(src_dims, dt::u8, tag::any), memory::desc(w_dims, dt::s8, tag::any), memory::desc(),
                                         memory::desc(dst_dims, dt::s32, tag::any), {g.stride_h, g.stride_w}, {g.dil_h - 1, g.dil_w - 1},
                                         {g.pad_t, g.pad_l}, {g.pad_b, g.pad_r});
    // A fresh attribute each call: copies of a dnnl::primitive_attr share one object.
    auto make_attr = [](bool accumulate) {
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      // The zero point changes every run: a one-int32 memory the kernel rewrites before executing.
      attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
      if (accumulate) {
        dnnl::post_ops sum;
        sum.append_sum(1.f);
        attr.set_post_ops(sum);
      }
      return attr;
    };
    dnnl::convolution_forward::primitive_desc pd(desc, make_attr(false), eng);
    impls_ = std::string(split ? "int8 conv (split weights) " : "int8 conv ") + pd.impl_info_str();
    const memory x_zero(memory::desc({1}, dt::s32, tag::x), eng, &x_zero_);
    const memory::desc w_user(w_dims, dt::s8, dims.weights_tag);
    std::vector<std::pair<int, memory>> args, accumulate_args;
    std::optional<dnnl::convolution_forward::primitive_desc> accumulate_pd;
    if (split) {
      const auto [hi, lo] = split_int8_weights(wv.constant);
      args.emplace_back(DNNL_ARG_WEIGHTS, pack_weights(w_user, hi, pd.weights_desc(), packed_));
      // The second conv, into the same destination: its sums added to the first's.
      dnnl::convolution_forward::primitive_desc add_pd(desc, make_attr(true), eng);
      if (add_pd.src_desc() != pd.src_desc() || add_pd.dst_desc() != pd.dst_desc() || is_reference_implementation(add_pd.impl_info_str()))
        throw dnnl::error(dnnl_unimplemented, "the split conv's halves want different layouts");
      accumulate_args.emplace_back(DNNL_ARG_WEIGHTS, pack_weights(w_user, lo, add_pd.weights_desc(), packed_low_));
      accumulate_args.emplace_back(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, x_zero);
      accumulate_args.emplace_back(DNNL_ARG_SCRATCHPAD, workspace_.add(add_pd.scratchpad_desc()));
      accumulate_pd = add_pd;
    } else {
      args.emplace_back(DNNL_ARG_WEIGHTS, pack_weights(w_user, wv, pd.weights_desc(), options.weights, packed_));
    }
    args.emplace_back(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, x_zero);
    src_plain_ = memory(memory::desc(src_dims, dt::u8, layout_tag(xv)), eng, DNNL_MEMORY_NONE);
    memory src = src_plain_;
    if (pd.src_desc() != src_plain_.get_desc()) {
      src = workspace_.add(pd.src_desc());
      src_reorder_ = make_reorder(src_plain_, src, impls_);
    }
    dst_plain_ = memory(memory::desc(dst_dims, dt::s32, tag::nchw), eng, DNNL_MEMORY_NONE);
    memory dst = dst_plain_;
    if (pd.dst_desc() != dst_plain_.get_desc()) {
      dst = workspace_.add(pd.dst_desc());
      dst_reorder_ = make_reorder(dst, dst_plain_, impls_);
    }
    args.emplace_back(DNNL_ARG_SRC, src);
    args.emplace_back(DNNL_ARG_DST, dst);
    args.emplace_back(DNNL_ARG_SCRATCHPAD, workspace_.add(pd.scratchpad_desc()));
    if (accumulate_pd) {
      accumulate_args.emplace_back(DNNL_ARG_SRC, src);
      accumulate_args.emplace_back(DNNL_ARG_DST, dst);
      accumulate_ = BoundPrimitive(dnnl::convolution_forward(*accumulate_pd), std::move(accumulate_args));
    }
    primitive_ = BoundPrimitive(dnnl::convolution_forward(pd), std::move(args));
  }

  void run(const TensorIn& in, const TensorOut& out) override {
    OmpThreadScope scope(threads_);
    x_zero_ = in.size() > 2 && in[2] ? static_cast<int32_t>(in[2]->data<uint8_t>()[0]) : 0;
    run_reordered(in[0]->raw(), out[0]->raw());
  }

 private:
  std::shared_ptr<void> packed_, packed_low_;
  int32_t x_zero_ = 0;  // what the zero-point memory points at
};

bool all_zero(const Tensor& t) {
  const auto* b = static_cast<const uint8_t*>(t.raw());
  for (size_t i = 0; i < t.bytes(); ++i)
    if (b[i]) return false;
  return true;
}

}  // namespace

std::unique_ptr<Kernel> create_conv_integer_dnnl(const Node& node, const Graph& graph, const KernelOptions& options) {
  const Value& x = graph.value(node.inputs[0]);
  const Value& w = graph.value(node.inputs[1]);
  if (x.dtype != DType::u8 || x.layout == Layout::Blocked || w.dtype != DType::i8 || !w.is_constant || !w.constant.defined()) return nullptr;
  if (node.inputs.size() > 3 && node.inputs[3] != kNoValue &&
      (!graph.is_constant(node.inputs[3]) || !all_zero(graph.value(node.inputs[3]).constant)))
    return nullptr;
  const bool split = !int8_conv_is_exact(hardware().info.tier, DType::u8, w.constant);
  try {
    auto kernel = std::make_unique<ConvIntegerDnnl>(node, graph, options, split);
    if (!is_reference_implementation(kernel->implementation())) return kernel;
  } catch (const dnnl::error& e) {
    if (e.status != dnnl_unimplemented && e.status != dnnl_invalid_arguments) return decline_or_rethrow(node, e);
  }
  return nullptr;
}

}  // namespace effvit
