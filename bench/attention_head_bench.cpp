// One fused cascaded-attention head (kernels.h, attention_head_f32) on EfficientViT-MSRA's window
// shapes, per kernel table, against the reference op it replaces. Items are multiply-adds, so the
// rate reads as GMAC/s.
#include <benchmark/benchmark.h>

#include <random>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/op.h"

namespace effvit {
namespace {

struct HeadCase {
  AttentionHeadDims dims{};
  Tensor qkv, weight, dw_bias, bias;
  int64_t macs = 0;
};

// key_dim 16 and a 5x5 depthwise kernel, as in every variant; value_dim and the window vary.
HeadCase head_case(int64_t value_dim, int64_t side) {
  HeadCase h;
  AttentionHeadDims& d = h.dims;
  d.key_dim = 16;
  d.value_dim = value_dim;
  d.height = d.width = side;
  d.kernel_h = d.kernel_w = 5;
  d.pad_top = d.pad_left = 2;
  d.scale = 0.25f;
  const int64_t n = side * side;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.f, 1.f);
  auto fill = [&](Shape s) {
    Tensor t(DType::f32, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
    return t;
  };
  h.qkv = fill({1, 2 * d.key_dim + value_dim, side, side});
  h.weight = fill({25, d.key_dim});
  h.dw_bias = fill({d.key_dim});
  h.bias = fill({n, n});
  h.macs = (d.key_dim * 25 + d.key_dim * n + value_dim * n) * n;
  return h;
}

void BM_attention_head_kernel(benchmark::State& state) {
  const IsaTier tier = static_cast<IsaTier>(state.range(2));
  if (!cpu_supports(tier)) {
    state.SkipWithError("tier not supported here");
    return;
  }
  const KernelTable& k = kernels_for(tier);
  HeadCase h = head_case(state.range(0), state.range(1));
  if (state.range(3)) {
    // A QDQ file's head: every intermediate on a uint8 grid (ONNX Runtime's quantizer).
    const QuantizeDequantizeParams grid{0.05f, 128.f, 0.f, 255.f, 0.05f, 128.f};
    h.dims.q_grids[0] = h.dims.q_grids[1] = h.dims.k_grid = h.dims.v_grid = h.dims.scores_grid = grid;
    h.dims.probs_grid = {1.f / 255.f, 0.f, 0.f, 255.f, 1.f / 255.f, 0.f};
  }
  std::vector<float> scratch(attention_head_scratch_floats(h.dims) + 16), bias_t(attention_bias_floats(h.dims));
  pack_attention_bias(h.dims, h.bias.data<float>(), bias_t.data());
  const AttentionHeadScratch s = carve_attention_head_scratch(h.dims, scratch.data());
  Tensor out(DType::f32, {h.dims.value_dim, h.dims.height * h.dims.width});
  state.SetLabel(k.isa);
  for (auto _ : state)
    k.attention_head_f32(h.dims, h.qkv.data<float>(), h.weight.data<float>(), h.dw_bias.data<float>(), bias_t.data(),
                         out.data<float>(), s);
  state.SetItemsProcessed(state.iterations() * h.macs);
}

// Arguments: value_dim, window side, ISA tier of the kernel table (0 sse41, 1 avx2, 3 avx512),
// intermediates rounded to int8 grids (1) or not.
// 64 x 7x7: M5 stage 1; 96 x 7x7: M5 stage 2; 96 x 4x4: M5 stage 3; 16 x 7x7: M0 stage 1.
BENCHMARK(BM_attention_head_kernel)
    ->ArgsProduct({{64, 96}, {7}, {0, 1, 3}, {0}})
    ->Args({96, 4, 3, 0})
    ->Args({16, 7, 3, 0})
    ->Args({64, 7, 3, 1})
    ->Args({96, 4, 3, 1});

}  // namespace
}  // namespace effvit
