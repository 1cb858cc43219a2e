// effvit.AttentionHead: one head of EfficientViT-MSRA's cascaded group attention, from the qkv
// conv's output to the head's output (passes/fuse_attention_head.cpp puts it in place of the
// Split, depthwise Conv, Reshapes, MatMul, Softmax and MatMul the exporters write):
//   inputs  qkv [B, 2 key_dim + value_dim, H, W], dw_weight [key_dim, 1, kh, kw] (constant),
//           dw_bias [key_dim] (optional), bias with N x N elements, N = H*W (optional)
//   attrs   key_dim, pads (the depthwise conv's, top left bottom right), scale, and optionally
//           q_step / q_zero / q_lo / q_hi (q is quantised to that grid before the depthwise conv)
//           and the intermediates' Q -> DQ grids of a QDQ file, six floats each (scale, zero
//           point, lo, hi, dequantize scale, dequantize zero point; AttentionHeadDims):
//           q_grids (one or two, 6 or 12 floats), k_grid, v_grid, scores_grid, probs_grid
//   output  [B, value_dim, N] = v softmax(scale * dw(q)^T k + bias)^T per window
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/attention_head.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "ops/registry_decls.h"

namespace effvit {

namespace {

std::vector<float> attr_floats(const Node& n, const char* key) {
  const auto it = n.attrs.find(key);
  return it == n.attrs.end() ? std::vector<float>{} : it->second.floats;
}

QuantizeDequantizeParams grid_from(const float* f) { return {f[0], f[1], f[2], f[3], f[4], f[5]}; }

}  // namespace

AttentionHeadDims attention_head_dims(const Node& n, const Shape& qkv, const Shape& dw_weight) {
  AttentionHeadDims d{};
  d.key_dim = n.attr_int("key_dim", 0);
  d.value_dim = qkv.size() == 4 ? qkv[1] - 2 * d.key_dim : 0;
  d.height = qkv.size() == 4 ? qkv[2] : 0;
  d.width = qkv.size() == 4 ? qkv[3] : 0;
  d.kernel_h = dw_weight.size() == 4 ? dw_weight[2] : 0;
  d.kernel_w = dw_weight.size() == 4 ? dw_weight[3] : 0;
  const auto pads = n.attr_ints("pads", {});
  if (pads.size() == 4) {
    d.pad_top = pads[0];
    d.pad_left = pads[1];
  }
  d.scale = n.attr_float("scale", 1.f);
  d.q_step = n.attr_float("q_step", 0.f);
  d.q_zero = n.attr_float("q_zero", 0.f);
  d.q_lo = n.attr_float("q_lo", 0.f);
  d.q_hi = n.attr_float("q_hi", 0.f);
  const std::vector<float> q_grids = attr_floats(n, "q_grids");
  for (size_t i = 0; i < 2 && 6 * (i + 1) <= q_grids.size(); ++i) d.q_grids[i] = grid_from(q_grids.data() + 6 * i);
  const std::pair<const char*, QuantizeDequantizeParams*> grids[] = {
      {"k_grid", &d.k_grid}, {"v_grid", &d.v_grid}, {"scores_grid", &d.scores_grid}, {"probs_grid", &d.probs_grid}};
  for (const auto& [name, grid] : grids) {
    const std::vector<float> f = attr_floats(n, name);
    if (f.size() == 6) *grid = grid_from(f.data());
  }
  return d;
}

std::vector<float> attention_grid_floats(const QuantizeDequantizeParams& p) {
  return {p.scale, p.zero_point, p.lo, p.hi, p.out_scale, p.out_zero_point};
}

namespace {

// A Q -> DQ round trip as QuantizeLinear and DequantizeLinear compute it (scale <= 0: none).
float round_trip(float x, const QuantizeDequantizeParams& p) {
  if (!(p.scale > 0.f)) return x;
  const float t = x / p.scale;
  const float q = std::clamp((std::isnan(t) ? 0.f : std::nearbyint(t)) + p.zero_point, p.lo, p.hi);
  return (q - p.out_zero_point) * p.out_scale;
}

bool valid_grid(const QuantizeDequantizeParams& p) {
  return !(p.scale > 0.f) || (p.lo <= p.zero_point && p.zero_point <= p.hi && std::isfinite(p.out_scale));
}

void infer_attention_head(InferContext& c) {
  c.require_f32(0, 3);
  const Shape& x = c.shape(0);
  if (x.size() != 4) c.fail("qkv must be [B, C, H, W], got " + shape_str(x));
  const Shape& w = c.shape(1);
  const AttentionHeadDims d = attention_head_dims(c.node, x, w);
  if (d.key_dim <= 0 || d.value_dim <= 0)
    c.fail("key_dim " + std::to_string(d.key_dim) + " does not split " + std::to_string(x[1]) + " qkv channels");
  if (w != Shape{d.key_dim, 1, d.kernel_h, d.kernel_w} || d.kernel_h <= 0 || d.kernel_w <= 0)
    c.fail("depthwise weight " + shape_str(w) + " does not fit key_dim " + std::to_string(d.key_dim));
  const auto pads = c.node.attr_ints("pads", {});
  if (pads.size() != 4 || pads[0] < 0 || pads[1] < 0 || pads[0] + pads[2] != d.kernel_h - 1 ||
      pads[1] + pads[3] != d.kernel_w - 1)
    c.fail("pads must keep the window's size under the depthwise kernel");
  if (c.has_input(2) && c.shape(2) != Shape{d.key_dim}) c.fail("depthwise bias must be [key_dim], got " + shape_str(c.shape(2)));
  const int64_t n = d.height * d.width;
  if (c.has_input(3)) {
    const Shape& b = c.shape(3);
    if (b.size() < 2 || b[b.size() - 1] != n || b[b.size() - 2] != n || shape_numel(b) != n * n)
      c.fail("attention bias " + shape_str(b) + " is not [" + std::to_string(n) + ", " + std::to_string(n) + "]");
  }
  if (d.q_step < 0.f || !(d.q_lo <= d.q_zero && d.q_zero <= d.q_hi)) c.fail("q_step/q_lo/q_hi do not describe a quantisation grid");
  for (const QuantizeDequantizeParams& grid : {d.q_grids[0], d.q_grids[1], d.k_grid, d.v_grid, d.scores_grid, d.probs_grid})
    if (!valid_grid(grid)) c.fail("an intermediate's grid has its zero point outside [lo, hi]");
  c.set_output(0, DType::f32, {x[0], d.value_dim, n});
}

// The reference: each step as the unfused graph computes it, in plain loops.
void compute_attention_head(const Node& node, const TensorIn& in, const TensorOut& out) {
  const AttentionHeadDims d = attention_head_dims(node, in[0]->shape(), in[1]->shape());
  const int64_t kd = d.key_dim, vd = d.value_dim, h = d.height, w = d.width, n = h * w;
  const int64_t batch = in[0]->shape()[0];
  const float* weight = in[1]->data<float>();
  const float* dw_bias = in[2] ? in[2]->data<float>() : nullptr;
  const float* bias = in[3] ? in[3]->data<float>() : nullptr;
  std::vector<float> q(static_cast<size_t>(kd * n)), probs(static_cast<size_t>(n * n));
  for (int64_t b = 0; b < batch; ++b) {
    const float* window = in[0]->data<float>() + b * (2 * kd + vd) * n;
    std::vector<float> k(window + kd * n, window + 2 * kd * n), v(window + 2 * kd * n, window + (2 * kd + vd) * n);
    for (float& x : k) x = round_trip(x, d.k_grid);
    for (float& x : v) x = round_trip(x, d.v_grid);
    auto q_in = [&](int64_t c, int64_t y, int64_t x) {
      if (y < 0 || y >= h || x < 0 || x >= w) return 0.f;
      float value = window[c * n + y * w + x];
      if (d.q_step > 0.f) {
        const float t = (std::isnan(value / d.q_step) ? 0.f : std::nearbyint(value / d.q_step)) + d.q_zero;
        value = (std::clamp(t, d.q_lo, d.q_hi) - d.q_zero) * d.q_step;
      }
      return value;
    };
    for (int64_t c = 0; c < kd; ++c)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          float sum = dw_bias ? dw_bias[c] : 0.f;
          for (int64_t ky = 0; ky < d.kernel_h; ++ky)
            for (int64_t kx = 0; kx < d.kernel_w; ++kx)
              sum += weight[(c * d.kernel_h + ky) * d.kernel_w + kx] * q_in(c, y + ky - d.pad_top, x + kx - d.pad_left);
          q[static_cast<size_t>(c * n + y * w + x)] = round_trip(round_trip(sum, d.q_grids[0]), d.q_grids[1]);
        }
    for (int64_t i = 0; i < n; ++i) {
      float* row = probs.data() + i * n;
      float mx = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        float dot = 0.f;
        for (int64_t c = 0; c < kd; ++c) dot += q[static_cast<size_t>(c * n + i)] * k[static_cast<size_t>(c * n + j)];
        row[j] = round_trip(dot, d.scores_grid) * d.scale + (bias ? bias[i * n + j] : 0.f);
        mx = std::max(mx, row[j]);
      }
      float sum = 0.f;
      for (int64_t j = 0; j < n; ++j) sum += row[j] = std::exp(row[j] - mx);
      for (int64_t j = 0; j < n; ++j) row[j] = round_trip(row[j] / sum, d.probs_grid);
    }
    float* y = out[0]->data<float>() + b * vd * n;
    for (int64_t c = 0; c < vd; ++c)
      for (int64_t i = 0; i < n; ++i) {
        float sum = 0.f;
        for (int64_t j = 0; j < n; ++j) sum += v[static_cast<size_t>(c * n + j)] * probs[static_cast<size_t>(i * n + j)];
        y[c * n + i] = sum;
      }
  }
}

class AttentionHeadKernel final : public Kernel {
 public:
  AttentionHeadKernel(const AttentionHeadDims& dims, int64_t windows, const Tensor& dw_weight, const Tensor* bias, int threads)
      : dims_(dims), windows_(windows), threads_(threads), head_(hardware().kernels->attention_head_f32) {
    const int64_t taps = dims.kernel_h * dims.kernel_w;
    weight_.resize(static_cast<size_t>(taps * dims.key_dim));
    pack_attention_dw_weight(dims, dw_weight.data<float>(), weight_.data());
    scratch_floats_ = (attention_head_scratch_floats(dims) + 15) / 16 * 16;  // 64-byte steps per thread
    if (bias) {
      bias_t_.resize(attention_bias_floats(dims));
      pack_attention_bias(dims, bias->data<float>(), bias_t_.data());
    }
    const int64_t n = dims.height * dims.width;
    const int64_t macs = (dims.key_dim * (taps + n) + dims.value_dim * n) * n;
    // A thread's share must be worth waking it (~tens of microseconds of work).
    min_windows_per_thread_ = std::max<int64_t>(1, 200000 / std::max<int64_t>(1, macs));
  }

  size_t workspace_bytes() const override { return static_cast<size_t>(threads_) * scratch_floats_ * sizeof(float); }
  void bind_workspace(void* base) override { scratch_ = static_cast<float*>(base); }

  void run(const TensorIn& in, const TensorOut& out) override {
    const int64_t n = dims_.height * dims_.width, window_in = (2 * dims_.key_dim + dims_.value_dim) * n;
    const float* x = in[0]->data<float>();
    const float* dw_bias = in[2] ? in[2]->data<float>() : nullptr;
    const float* bias_t = bias_t_.empty() ? nullptr : bias_t_.data();
    float* y = out[0]->data<float>();
    parallel_for_chunks(threads_, windows_, min_windows_per_thread_, [&](int chunk, int64_t first, int64_t last) {
      const AttentionHeadScratch s = carve_attention_head_scratch(dims_, scratch_ + chunk * scratch_floats_);
      for (int64_t b = first; b < last; ++b)
        head_(dims_, x + b * window_in, weight_.data(), dw_bias, bias_t, y + b * dims_.value_dim * n, s);
    });
  }

 private:
  AttentionHeadDims dims_;
  int64_t windows_;
  int threads_;
  void (*head_)(const AttentionHeadDims&, const float*, const float*, const float*, const float*, float*,
                const AttentionHeadScratch&);
  std::vector<float> weight_;
  std::vector<float> bias_t_;  // the attention bias, transposed and lane-padded (pack_attention_bias)
  size_t scratch_floats_ = 0;
  int64_t min_windows_per_thread_ = 1;
  float* scratch_ = nullptr;
};

std::unique_ptr<Kernel> create_attention_head(const Node& n, const Graph& g, const KernelOptions& options) {
  const Value& weight = g.value(n.inputs[1]);
  const bool has_bias = n.inputs.size() > 3 && n.inputs[3] != kNoValue;
  // Both are packed here: a run-time weight or bias is the reference's.
  if (!weight.is_constant || (has_bias && !g.is_constant(n.inputs[3]))) return nullptr;
  const Shape& x = g.value(n.inputs[0]).shape;
  return std::make_unique<AttentionHeadKernel>(attention_head_dims(n, x, weight.shape), x[0], weight.constant,
                                               has_bias ? &g.value(n.inputs[3]).constant : nullptr, std::max(1, options.threads));
}

}  // namespace

const OpDef kAttentionHeadOp{"effvit.AttentionHead", infer_attention_head, compute_attention_head, create_attention_head};

}  // namespace effvit
