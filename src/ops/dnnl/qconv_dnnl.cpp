// The integer Conv (passes/fold_qdq_into_conv.cpp) through oneDNN: uint8/int8 activations, int8
// weights packed once, int32 bias, float32 output scaled per output channel by x_scale * w_scale[c]
// while still in registers, ReLU fused. Without VNNI, where oneDNN's int8 conv is exact only for
// weights within [-64, 64] (int8_conv_is_exact), a uint8 conv with full-range weights runs as two
// int8 convs on the split weights (split_int8_weights), the second adding onto the first's float32
// output; a uint8/int8 output is then quantized by QuantizeLinear's kernel. Where oneDNN has no int8
// kernel for a shape (it would run its reference loop), or for int8 activations without VNNI, the
// node runs as a float32 conv on dequantized weights, its input dequantized by a scaling reorder:
// correct everywhere, int8 where oneDNN is fast and exact.
#include <optional>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/conv.h"
#include "ops/dnnl/engine.h"

namespace effvit {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// int8: oneDNN's int8 conv writes the output; split: two int8 convs on split weights write float32
// sums; dequantized: a float32 conv.
enum class QConvMode { int8, split, dequantized };

class QConvDnnl final : public ReorderedPrimitiveKernel {
 public:
  // nhwc_sums: float32 sums quantized afterwards (split, dequantized) are written in the output's
  // NHWC layout, the source read in its own (see float_dst).
  QConvDnnl(const Node& n, const Graph& graph, const KernelOptions& options, QConvMode mode, bool nhwc_sums) {
    const bool int8 = mode != QConvMode::dequantized, split = mode == QConvMode::split;
    const Value& xv = graph.value(n.inputs[0]);
    const Value& wv = graph.value(n.inputs[1]);
    const ConvGeometry g = conv_geometry(n, xv.shape, wv.shape);
    threads_ = dnnl_threads_for(conv_macs(g), options.threads);
    OmpThreadScope scope(threads_);
    auto& eng = dnnl_engine();
    const float x_scale = n.attr_float("effvit.x_scale", 1.f);
    const float* w_scale = graph.value(n.inputs[3]).constant.data<float>();
    const bool has_bias = n.inputs[2] != kNoValue;
    const dt x_type = xv.dtype == DType::u8 ? dt::u8 : dt::s8;
    // A folded QuantizeLinear (passes/fold_quantize_into_conv.cpp) makes the output uint8/int8.
    const Value& yv = graph.value(n.outputs[0]);
    // The conv's own codes: a folded code table (passes/fold_requantize_into_conv.cpp) maps them to
    // the output's afterwards, in place.
    const dt y_type = !n.has("effvit.y_scale") ? dt::f32 : n.attr_int("effvit.y_signed", 0) ? dt::s8 : dt::u8;
    table_ = code_table(n);
    // A folded residual Add (passes/fold_quantized_add_into_conv.cpp) runs on the codes afterwards.
    if (has_residual(n)) residual_ = residual_add_params(n, graph);
    const float y_scale = n.attr_float("effvit.y_scale", 1.f);
    x_zero_ = static_cast<int32_t>(n.attr_int("effvit.x_zero_point", 0));
    y_zero_ = static_cast<int32_t>(n.attr_int("effvit.y_zero_point", 0));
    const dt compute = int8 ? x_type : dt::f32;
    // Zero points reach oneDNN as run-time values bound once (a one-int32 memory each).
    const memory::desc zero_md({1}, dt::s32, tag::x);
    const memory x_zero(zero_md, eng, &x_zero_), y_zero(zero_md, eng, &y_zero_);

    const ConvDnnlDims dims = conv_dnnl_dims(g);
    const memory::dims &src_dims = dims.src, &dst_dims = dims.dst, &w_dims = dims.weights;
    const tag w_tag = dims.weights_tag;
    const memory::desc dst_md(dst_dims, y_type, layout_tag(yv));
    // Where the kernel's float32 sums are quantized afterwards (split, dequantized), they are written
    // in the output's NHWC layout: oneDNN's own choice could be a blocked one that a channel count
    // off the block size (the 24-channel stem) reorders with its slow generic reorder.
    const bool nhwc = nhwc_sums && (!int8 || split) && yv.layout == Layout::Nhwc && xv.layout == Layout::Nhwc;
    const tag float_dst = nhwc ? tag::nhwc : tag::any, src_tag = nhwc ? tag::nhwc : tag::any;
    dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, memory::desc(src_dims, compute, src_tag),
        memory::desc(w_dims, int8 ? dt::s8 : dt::f32, tag::any),
        has_bias ? memory::desc({g.out_c}, int8 ? dt::s32 : dt::f32, tag::x) : memory::desc(),
        int8 && !split ? memory::desc(dst_dims, y_type, tag::any) : memory::desc(dst_dims, dt::f32, float_dst), {g.stride_h, g.stride_w}, {g.dil_h - 1, g.dil_w - 1}, {g.pad_t, g.pad_l},
        {g.pad_b, g.pad_r});
    const bool relu = n.attr_string("effvit.activation", "") == "Relu";
    // A fresh attribute each call (copies of a dnnl::primitive_attr share one object). The split
    // conv's first half has neither bias nor ReLU: both belong after the second half's sum.
    auto make_attr = [&](bool last) {
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // see conv_dnnl.cpp
      if (int8) {
        std::vector<float> scales(static_cast<size_t>(g.out_c));
        // Split: float32 sums, quantized afterwards.
        for (int64_t c = 0; c < g.out_c; ++c) scales[static_cast<size_t>(c)] = x_scale * w_scale[c] / (split ? 1.f : y_scale);
        attr.set_output_scales(1 << 1, scales);  // per output channel (dst dimension 1)
        if (x_zero_) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
        if (y_zero_ && y_type != dt::f32 && !split) attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
      }
      dnnl::post_ops ops;
      if (last && split) ops.append_sum(1.f);
      if (last && relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(ops);
      return attr;
    };
    const dnnl::convolution_forward::desc first_desc =
        split ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                                memory::desc(src_dims, compute, src_tag), memory::desc(w_dims, dt::s8, tag::any),
                                                memory::desc(dst_dims, dt::f32, float_dst), {g.stride_h, g.stride_w},
                                                {g.dil_h - 1, g.dil_w - 1}, {g.pad_t, g.pad_l}, {g.pad_b, g.pad_r})
              : desc;
    dnnl::convolution_forward::primitive_desc pd(first_desc, make_attr(!split), eng);
    std::optional<dnnl::convolution_forward::primitive_desc> second;
    if (split) {
      // The second half on exactly the first's layouts.
      const memory::desc bias_md = has_bias ? memory::desc({g.out_c}, dt::s32, tag::x) : memory::desc();
      second.emplace(dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                                     pd.src_desc(), pd.weights_desc(), bias_md, pd.dst_desc(), {g.stride_h, g.stride_w},
                                                     {g.dil_h - 1, g.dil_w - 1}, {g.pad_t, g.pad_l}, {g.pad_b, g.pad_r}),
                     make_attr(true), eng);
      if (is_reference_implementation(second->impl_info_str())) throw dnnl::error(dnnl_unimplemented, "no int8 kernel for the second half");
    }
    impls_ = std::string(split ? "int8 conv (split weights) " : int8 ? "int8 conv " : "dequantized conv ") + pd.impl_info_str();

    std::vector<std::pair<int, memory>> args;
    const Tensor& wq = wv.constant;
    std::vector<std::pair<int, memory>> second_args;
    if (split) {
      const auto [hi, lo] = split_int8_weights(wq);
      const memory::desc w_user(w_dims, dt::s8, w_tag);
      args.emplace_back(DNNL_ARG_WEIGHTS, pack_weights(w_user, hi, pd.weights_desc(), packed_));
      second_args.emplace_back(DNNL_ARG_WEIGHTS, pack_weights(w_user, lo, second->weights_desc(), packed_low_));
      if (has_bias) second_args.emplace_back(DNNL_ARG_BIAS, memory(second->bias_desc(), eng, const_cast<void*>(graph.value(n.inputs[2]).constant.raw())));
      if (x_zero_) {
        args.emplace_back(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, x_zero);
        second_args.emplace_back(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, x_zero);
      }
      second_args.emplace_back(DNNL_ARG_SCRATCHPAD, workspace_.add(second->scratchpad_desc()));
    } else if (int8) {
      args.emplace_back(DNNL_ARG_WEIGHTS, pack_weights(memory::desc(w_dims, dt::s8, w_tag), wv, pd.weights_desc(), options.weights, packed_));
      if (has_bias) args.emplace_back(DNNL_ARG_BIAS, memory(pd.bias_desc(), eng, const_cast<void*>(graph.value(n.inputs[2]).constant.raw())));
      if (x_zero_) args.emplace_back(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, x_zero);
      if (y_zero_ && y_type != dt::f32) args.emplace_back(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, y_zero);
    } else {
      // Float weights and bias of this node alone (the int8 ones stay the Model's shared constants).
      const int64_t per_out = wq.numel() / g.out_c;
      dequantized_w_ = Tensor(DType::f32, wq.shape());
      for (int64_t i = 0; i < wq.numel(); ++i)
        dequantized_w_.data<float>()[i] = w_scale[i / per_out] * static_cast<float>(wq.data<int8_t>()[i]);
      args.emplace_back(DNNL_ARG_WEIGHTS, pack_weights(memory::desc(w_dims, dt::f32, w_tag), dequantized_w_, pd.weights_desc(), packed_));
      if (has_bias) {
        const Tensor& bq = graph.value(n.inputs[2]).constant;
        dequantized_b_ = Tensor(DType::f32, bq.shape());
        for (int64_t c = 0; c < g.out_c; ++c)
          dequantized_b_.data<float>()[c] = x_scale * w_scale[c] * static_cast<float>(bq.data<int32_t>()[c]);
        args.emplace_back(DNNL_ARG_BIAS, memory(pd.bias_desc(), eng, dequantized_b_.raw()));
      }
    }
    // The quantized activation arrives NCHW or NHWC; a reorder puts it in the kernel's layout when
    // they differ, and in the float fallback also scales it back to real values.
    src_plain_ = memory(memory::desc(src_dims, x_type, layout_tag(xv)), eng, DNNL_MEMORY_NONE);
    memory src = src_plain_;
    if (pd.src_desc() != src_plain_.get_desc() || !int8) {
      src = workspace_.add(pd.src_desc());
      dnnl::primitive_attr scaling;
      std::vector<std::pair<int, memory>> reorder_args{{DNNL_ARG_FROM, src_plain_}, {DNNL_ARG_TO, src}};
      if (!int8) {
        scaling.set_output_scales(0, {x_scale});  // x_scale * (x - x_zero)
        if (x_zero_) {
          scaling.set_zero_points(DNNL_ARG_FROM, 0, {DNNL_RUNTIME_S32_VAL});
          reorder_args.emplace_back(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_FROM, x_zero);
        }
      }
      dnnl::reorder::primitive_desc rpd(eng, src_plain_.get_desc(), eng, pd.src_desc(), scaling);
      impls_ += std::string(", reorder ") + rpd.impl_info_str();
      src_reorder_ = BoundPrimitive(dnnl::reorder(rpd), std::move(reorder_args));
    }
    dst_plain_ = memory(dst_md, eng, DNNL_MEMORY_NONE);
    memory dst = dst_plain_;
    if (pd.dst_desc() != dst_md) {
      dst = workspace_.add(pd.dst_desc());
      // The float fallback writing uint8/int8 reorders its float sums into the output's layout and
      // quantizes them with QuantizeLinear's own kernel in run(). oneDNN 2.6's scaling reorder
      // with a zero point did it wrong at avx512_core for some shapes (a depthwise stride-2 conv's
      // [1,64,7,7] NHWC output came out all at the zero point; stride 1 was right).
      memory to = dst_plain_;
      if ((!int8 || split) && y_type != dt::f32) {
        const memory::desc sums_md(dst_dims, dt::f32, layout_tag(yv));
        // Sums already in the output's layout are quantized where the kernel wrote them.
        quantized_from_ = pd.dst_desc() == sums_md ? dst : workspace_.add(sums_md);
        to = quantized_from_;
        y_scale_ = y_scale;
        y_signed_ = y_type == dt::s8;
      }
      if (to != dst) dst_reorder_ = make_reorder(dst, to, impls_);
    }
    args.emplace_back(DNNL_ARG_SRC, src);
    args.emplace_back(DNNL_ARG_DST, dst);
    args.emplace_back(DNNL_ARG_SCRATCHPAD, workspace_.add(pd.scratchpad_desc()));
    primitive_ = BoundPrimitive(dnnl::convolution_forward(pd), std::move(args));
    if (split) {
      second_args.emplace_back(DNNL_ARG_SRC, src);
      second_args.emplace_back(DNNL_ARG_DST, dst);
      accumulate_ = BoundPrimitive(dnnl::convolution_forward(*second), std::move(second_args));
    }
  }

  void run(const TensorIn& in, const TensorOut& out) override {
    OmpThreadScope scope(threads_);
    run_reordered(in[0]->raw(), out[0]->raw());
    const size_t n = static_cast<size_t>(out[0]->numel());
    const KernelTable& k = *hardware().kernels;
    if (quantized_from_) {
      const auto* sums = static_cast<const float*>(quantized_from_.get_data_handle());
      if (y_signed_) k.quantize_f32_s8(sums, static_cast<int8_t*>(out[0]->raw()), n, y_scale_, static_cast<float>(y_zero_));
      else k.quantize_f32_u8(sums, static_cast<uint8_t*>(out[0]->raw()), n, y_scale_, static_cast<float>(y_zero_));
    }
    if (residual_) k.add_requantize_8bit(out[0]->raw(), in[kConvResidual]->raw(), out[0]->raw(), n, *residual_);
    if (!table_.empty()) hardware().lookup_u8(static_cast<const uint8_t*>(out[0]->raw()), table_.data(), static_cast<uint8_t*>(out[0]->raw()), n);
  }

 private:
  Tensor dequantized_w_, dequantized_b_;  // the float fallback's own
  std::vector<uint8_t> table_;            // a folded code table, or empty
  std::optional<AddRequantizeParams> residual_;  // a folded residual Add, or none
  std::shared_ptr<void> packed_, packed_low_;
  int32_t x_zero_ = 0, y_zero_ = 0;  // what the zero-point memories point at
  memory quantized_from_;              // the float fallback's sums before quantizing, or none
  float y_scale_ = 1.f;
  bool y_signed_ = false;
};

}  // namespace

bool int8_conv_is_exact(IsaTier tier, DType activation, const Tensor& weights) {
  if (tier == IsaTier::avx2_vnni || tier >= IsaTier::avx512_vnni) return true;  // 4-way dot products into int32
  // Without VNNI oneDNN sums pairs of u8 x s8 products in int16 (vpmaddubsw), which saturates
  // unless 255 * (|w1| + |w2|) <= 32767, and it halves the weights of s8 activations.
  if (activation != DType::u8) return false;
  const int8_t* w = weights.data<int8_t>();
  for (int64_t i = 0; i < weights.numel(); ++i)
    if (w[i] > 64 || w[i] < -64) return false;
  return true;
}

std::unique_ptr<Kernel> create_quantized_conv_dnnl(const Node& node, const Graph& graph, const KernelOptions& options, bool allow_int8) {
  // The input is plain or NHWC (passes/nhwc_layout.cpp): no pass makes a blocked quantized one.
  if (graph.value(node.inputs[0]).layout == Layout::Blocked) return nullptr;
  // A residual is added element by element, after the conv.
  if (!residual_fits(node, graph, graph.value(node.outputs[0]).layout)) return nullptr;
  const DType x = graph.value(node.inputs[0]).dtype;
  const bool exact = options.int8_where_inexact || int8_conv_is_exact(hardware().info.tier, x, graph.value(node.inputs[1]).constant);
  // Without VNNI: uint8 activations split the weights; int8 ones have no exact int8 path there.
  const bool split = !exact && x == DType::u8;
  // Each mode in order, its float32 sums first in the output's NHWC layout, then where oneDNN likes.
  std::vector<std::pair<QConvMode, bool>> attempts;
  if (allow_int8 && exact) attempts.push_back({QConvMode::int8, false});
  for (QConvMode mode : {QConvMode::split, QConvMode::dequantized})
    if (mode != QConvMode::split || (allow_int8 && split))
      for (bool nhwc_sums : {true, false}) attempts.push_back({mode, nhwc_sums});
  for (size_t i = 0; i < attempts.size(); ++i) {
    try {
      auto kernel = std::make_unique<QConvDnnl>(node, graph, options, attempts[i].first, attempts[i].second);
      // The last attempt stands even on a reference implementation (the planner warns about it).
      if (i + 1 == attempts.size() || !is_reference_implementation(kernel->implementation())) return kernel;
    } catch (const dnnl::error& e) {
      if (i + 1 == attempts.size() || (e.status != dnnl_unimplemented && e.status != dnnl_invalid_arguments)) return decline_or_rethrow(node, e);
    }
  }
  return nullptr;
}

}  // namespace effvit
