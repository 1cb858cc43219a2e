// 2-D convolution (NCHW), grouped and depthwise included. Rewrites may attach
// effvit.activation = "Relu" after folding the following Relu into this node.
#include "ops/conv.h"

#include "ops/pointwise_conv_8bit.h"
#include "ops/pointwise_conv_bf16.h"
#include "ops/pointwise_conv_f32.h"
#include "ops/quantized_add.h"
#include "ops/registry_decls.h"

namespace effvit {

ConvGeometry conv_geometry(const Node& n, const Shape& x, const Shape& w) {
  if (x.size() != 4) fail_node(n, "only 2-D convolution (rank-4 input) is supported, got input " + shape_str(x));
  if (w.size() != 4) fail_node(n, "weight must be rank 4, got " + shape_str(w));
  // An empty weight passes the ONNX checker; every division by a channel count below would not.
  for (int64_t d : w)
    if (d <= 0) fail_node(n, "weight " + shape_str(w) + " has an empty dimension");
  ConvGeometry g;
  g.batch = x[0];
  g.in_c = x[1];
  g.in_h = x[2];
  g.in_w = x[3];
  g.out_c = w[0];
  g.groups = n.attr_int("group", 1);
  g.kh = w[2];
  g.kw = w[3];
  if (g.groups <= 0 || g.in_c % g.groups || g.out_c % g.groups || w[1] * g.groups != g.in_c)
    fail_node(n, "input " + shape_str(x) + " does not match weight " + shape_str(w) + " with group " +
                     std::to_string(g.groups));
  auto strides = n.attr_ints("strides", {1, 1});
  auto dil = n.attr_ints("dilations", {1, 1});
  if (strides.size() != 2 || dil.size() != 2) fail_node(n, "strides/dilations must have 2 values");
  g.stride_h = strides[0];
  g.stride_w = strides[1];
  g.dil_h = dil[0];
  g.dil_w = dil[1];
  if (g.stride_h <= 0 || g.stride_w <= 0 || g.dil_h <= 0 || g.dil_w <= 0) fail_node(n, "strides and dilations must be positive");
  // Far beyond any real conv; keeps the geometry below within int64.
  constexpr int64_t kMaxGeometry = int64_t{1} << 30;
  if (g.kh > kMaxGeometry || g.kw > kMaxGeometry || g.stride_h > kMaxGeometry || g.stride_w > kMaxGeometry || g.dil_h > kMaxGeometry ||
      g.dil_w > kMaxGeometry || g.in_h > kMaxElements || g.in_w > kMaxElements)
    fail_node(n, "kernel, strides, dilations or input size out of range");
  const int64_t eff_kh = (g.kh - 1) * g.dil_h + 1, eff_kw = (g.kw - 1) * g.dil_w + 1;
  std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    auto pads = n.attr_ints("pads", {0, 0, 0, 0});
    if (pads.size() != 4) fail_node(n, "pads must have 4 values");
    g.pad_t = pads[0];
    g.pad_l = pads[1];
    g.pad_b = pads[2];
    g.pad_r = pads[3];
    for (int64_t p : pads)
      if (p < 0 || p > kMaxGeometry) fail_node(n, "pads must be from 0 to 2^30");
  } else if (auto_pad == "VALID") {
    g.pad_t = g.pad_l = g.pad_b = g.pad_r = 0;
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    auto same = [&](int64_t in, int64_t stride, int64_t eff_k, int64_t& lo, int64_t& hi) {
      int64_t out = (in + stride - 1) / stride;
      int64_t total = std::max<int64_t>(0, (out - 1) * stride + eff_k - in);
      lo = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      hi = total - lo;
    };
    same(g.in_h, g.stride_h, eff_kh, g.pad_t, g.pad_b);
    same(g.in_w, g.stride_w, eff_kw, g.pad_l, g.pad_r);
  } else {
    fail_node(n, "unknown auto_pad '" + auto_pad + "'");
  }
  g.out_h = (g.in_h + g.pad_t + g.pad_b - eff_kh) / g.stride_h + 1;
  g.out_w = (g.in_w + g.pad_l + g.pad_r - eff_kw) / g.stride_w + 1;
  if (g.out_h <= 0 || g.out_w <= 0) fail_node(n, "kernel larger than padded input " + shape_str(x));
  return g;
}

namespace {

void infer_conv(InferContext& c) {
  if (is_quantized_conv(c.node)) {
    // passes/fold_qdq_into_conv.cpp: uint8/int8 activation, int8 weights, int32 bias, f32 scales.
    const DType x = c.input(0).dtype;
    if ((x != DType::u8 && x != DType::i8) || c.input(1).dtype != DType::i8 || (c.has_input(2) && c.input(2).dtype != DType::i32) ||
        c.input(3).dtype != DType::f32)
      c.fail("an integer conv takes uint8/int8 activations, int8 weights, an int32 bias and float32 scales");
    // Zero points other than 0 only for uint8 (effvit's passes never make others).
    const int64_t zx = c.node.attr_int("effvit.x_zero_point", 0), zy = c.node.attr_int("effvit.y_zero_point", 0);
    if ((zx && x != DType::u8) || zx < 0 || zx > 255 || (zy && c.node.attr_int("effvit.y_signed", 0)) || zy < 0 || zy > 255)
      c.fail("integer conv zero points must be 0, or 0..255 for uint8");
  } else {
    c.require_f32(0, 2);
  }
  ConvGeometry g = conv_geometry(c.node, c.shape(0), c.shape(1));
  if (c.has_input(2) && c.shape(2) != Shape{g.out_c}) c.fail("bias shape " + shape_str(c.shape(2)) + " != [" + std::to_string(g.out_c) + "]");
  if (is_quantized_conv(c.node) && c.shape(3) != Shape{g.out_c}) c.fail("weight scales must be one per output channel");
  if (c.node.has("effvit.table") && (!c.node.has("effvit.y_scale") || c.node.attr_ints("effvit.table").size() != 256))
    c.fail("an integer conv's code table needs 8-bit output and 256 entries");
  DType out = !c.node.has("effvit.y_scale")   ? DType::f32
              : c.node.has("effvit.table")    ? (c.node.attr_int("effvit.table_signed", 0) ? DType::i8 : DType::u8)
              : c.node.attr_int("effvit.y_signed", 0) ? DType::i8 : DType::u8;
  if (has_residual(c.node)) {
    // The folded effvit.QuantizedAdd's checks (ops/quantized_add.cpp), the conv's codes as one operand.
    const auto eight_bit = [](DType t) { return t == DType::u8 || t == DType::i8; };
    if (c.node.inputs.size() != kConvResidual + 7 || !c.node.has("effvit.y_scale") || c.node.has("effvit.table") ||
        !eight_bit(c.input(kConvResidual).dtype))
      c.fail("an integer conv's residual needs 8-bit output, an 8-bit residual and its six grid parameters");
    for (size_t i : {kConvResidual + 1, kConvResidual + 3, kConvResidual + 5})
      if (c.input(i).dtype != DType::f32 || shape_numel(c.shape(i)) != 1) c.fail("residual scales must be float32 scalars");
    if (c.input(kConvResidual + 2).dtype != c.input(kConvResidual).dtype || c.input(kConvResidual + 4).dtype != out ||
        !eight_bit(c.input(kConvResidual + 6).dtype))
      c.fail("residual zero points must be 8-bit, of their codes' types");
    for (size_t i : {kConvResidual + 2, kConvResidual + 4, kConvResidual + 6})
      if (shape_numel(c.shape(i)) != 1) c.fail("residual zero points must be scalars");
    out = c.input(kConvResidual + 6).dtype;
  }
  const Shape y{g.batch, g.out_c, g.out_h, g.out_w};
  if (has_residual(c.node) && c.shape(kConvResidual) != y)
    c.fail("residual " + shape_str(c.shape(kConvResidual)) + " differs from the output " + shape_str(y));
  c.set_output(0, out, y);
}

void compute_float_conv(const Node& n, const TensorIn& in, const TensorOut& out);

// The reference of an integer conv is the float conv of its dequantized operands.
void compute_quantized_conv(const Node& n, const TensorIn& in, const TensorOut& out) {
  const float x_scale = n.attr_float("effvit.x_scale", 1.f);
  const int x_zero = static_cast<int>(n.attr_int("effvit.x_zero_point", 0));
  const float* w_scale = in[3]->data<float>();
  Tensor x(DType::f32, in[0]->shape()), w(DType::f32, in[1]->shape()), b;
  for (int64_t i = 0; i < x.numel(); ++i)
    x.data<float>()[i] =
        x_scale * static_cast<float>((in[0]->dtype() == DType::u8 ? in[0]->data<uint8_t>()[i] : in[0]->data<int8_t>()[i]) - x_zero);
  const int64_t per_out = w.numel() / w.dim(0);
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = w_scale[i / per_out] * static_cast<float>(in[1]->data<int8_t>()[i]);
  TensorIn float_in{&x, &w};
  if (in.size() > 2 && in[2]) {
    b = Tensor(DType::f32, in[2]->shape());
    for (int64_t c = 0; c < b.numel(); ++c) b.data<float>()[c] = x_scale * w_scale[c] * static_cast<float>(in[2]->data<int32_t>()[c]);
    float_in.push_back(&b);
  }
  if (!n.has("effvit.y_scale")) {
    compute_float_conv(n, float_in, out);
    return;
  }
  // A folded QuantizeLinear (passes/fold_quantize_into_conv.cpp): its reference, after the conv's.
  Tensor y(DType::f32, out[0]->shape());
  compute_float_conv(n, float_in, {&y});
  const Tensor scale = Tensor::from_vector<float>({}, {n.attr_float("effvit.y_scale", 1.f)});
  const bool signed_codes = n.attr_int("effvit.y_signed", 0);
  const Tensor zero = signed_codes ? Tensor::from_vector<int8_t>({}, {0})
                                   : Tensor::from_vector<uint8_t>({}, {static_cast<uint8_t>(n.attr_int("effvit.y_zero_point", 0))});
  Node q;
  q.op = "QuantizeLinear";
  if (has_residual(n)) {
    // A folded effvit.QuantizedAdd (passes/fold_quantized_add_into_conv.cpp): its reference on the codes.
    Tensor codes(signed_codes ? DType::i8 : DType::u8, out[0]->shape());
    find_op(q.op)->compute(q, {&y, &scale, &zero}, {&codes});
    const size_t r = kConvResidual;
    Node add;
    add.op = "effvit.QuantizedAdd";
    find_op(add.op)->compute(add, {&codes, in[r + 3], in[r + 4], in[r], in[r + 1], in[r + 2], in[r + 5], in[r + 6]}, out);
    return;
  }
  if (!n.has("effvit.table")) {
    find_op(q.op)->compute(q, {&y, &scale, &zero}, out);
    return;
  }
  // A folded effvit.Requantize (passes/fold_requantize_into_conv.cpp): each code through its table.
  Tensor codes(signed_codes ? DType::i8 : DType::u8, out[0]->shape());
  find_op(q.op)->compute(q, {&y, &scale, &zero}, {&codes});
  const std::vector<uint8_t> table = code_table(n);
  const auto* from = static_cast<const uint8_t*>(codes.raw());
  auto* to = static_cast<uint8_t*>(out[0]->raw());
  for (int64_t i = 0; i < codes.numel(); ++i) to[i] = table[from[i]];
}

void compute_conv(const Node& n, const TensorIn& in, const TensorOut& out) {
  if (is_quantized_conv(n)) compute_quantized_conv(n, in, out);
  else compute_float_conv(n, in, out);
}

void compute_float_conv(const Node& n, const TensorIn& in, const TensorOut& out) {
  const ConvGeometry g = conv_geometry(n, in[0]->shape(), in[1]->shape());
  const float* x = in[0]->data<float>();
  const float* w = in[1]->data<float>();
  const float* bias = in.size() > 2 && in[2] ? in[2]->data<float>() : nullptr;
  const bool relu = n.attr_string("effvit.activation", "") == "Relu";
  float* y = out[0]->data<float>();
  const int64_t cin_g = g.in_c / g.groups, cout_g = g.out_c / g.groups;
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t oc = 0; oc < g.out_c; ++oc) {
      const int64_t grp = oc / cout_g;
      for (int64_t oy = 0; oy < g.out_h; ++oy)
        for (int64_t ox = 0; ox < g.out_w; ++ox) {
          float acc = bias ? bias[oc] : 0.f;
          for (int64_t ic = 0; ic < cin_g; ++ic) {
            const float* xc = x + ((b * g.in_c) + grp * cin_g + ic) * g.in_h * g.in_w;
            const float* wc = w + (oc * cin_g + ic) * g.kh * g.kw;
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              const int64_t iy = oy * g.stride_h - g.pad_t + ky * g.dil_h;
              if (iy < 0 || iy >= g.in_h) continue;
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t ix = ox * g.stride_w - g.pad_l + kx * g.dil_w;
                if (ix < 0 || ix >= g.in_w) continue;
                acc += xc[iy * g.in_w + ix] * wc[ky * g.kw + kx];
              }
            }
          }
          if (relu && acc < 0.f) acc = 0.f;
          y[((b * g.out_c + oc) * g.out_h + oy) * g.out_w + ox] = acc;
        }
    }
}

std::unique_ptr<Kernel> create_conv(const Node& n, const Graph& graph, const KernelOptions& options) {
  if (auto own = create_pointwise_conv_bf16(n, graph, options)) return own;
  if (auto own = create_pointwise_conv_f32(n, graph, options)) return own;
  if (auto own = create_pointwise_conv_8bit(n, graph, options)) return own;
  return create_conv_dnnl(n, graph, options);
}

}  // namespace

AddRequantizeParams residual_add_params(const Node& n, const Graph& g) {
  const std::vector<ValueId>& in = n.inputs;
  const size_t r = kConvResidual;
  return quantized_add_params(g, {in[r + 3], in[r + 4], in[r + 1], in[r + 2], in[r + 5], in[r + 6]},
                              n.attr_int("effvit.y_signed", 0) ? DType::i8 : DType::u8, g.value(in[r]).dtype, g.value(n.outputs[0]).dtype);
}

bool residual_fits(const Node& n, const Graph& g, Layout output_layout) {
  if (!has_residual(n)) return true;
  if (g.value(n.inputs[kConvResidual]).layout != output_layout) return false;
  for (size_t i = kConvResidual + 1; i < n.inputs.size(); ++i)
    if (!g.is_constant(n.inputs[i])) return false;
  return true;
}

std::vector<uint8_t> code_table(const Node& n) {
  const std::vector<int64_t> table = n.attr_ints("effvit.table");
  return std::vector<uint8_t>(table.begin(), table.end());
}

const OpDef kConvOp{"Conv", infer_conv, compute_conv, create_conv};

}  // namespace effvit
