// Attention softmax rows (EfficientViT windows of 7x7 = 49 tokens, and 4x4 = 16): the vectorised
// micro-kernel against the reference op it replaces.
#include <benchmark/benchmark.h>

#include <random>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/op.h"

namespace effvit {
namespace {

Tensor attention_logits(int64_t windows, int64_t tokens) {
  Tensor t(DType::f32, {windows, tokens, tokens});
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.f, 3.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

void BM_softmax_kernel(benchmark::State& state) {
  const Tensor x = attention_logits(state.range(0), state.range(1));
  Tensor y(DType::f32, x.shape());
  const KernelTable& k = kernels_for(static_cast<IsaTier>(state.range(2)));
  if (!cpu_supports(static_cast<IsaTier>(state.range(2)))) {
    state.SkipWithError("tier not supported here");
    return;
  }
  state.SetLabel(k.isa);
  for (auto _ : state) k.softmax_rows_f32(x.data<float>(), nullptr, y.data<float>(), x.dim(0) * x.dim(1), x.dim(2));
  state.SetItemsProcessed(state.iterations() * x.numel());
}

void BM_softmax_reference(benchmark::State& state) {
  const Tensor x = attention_logits(state.range(0), state.range(1));
  Tensor y(DType::f32, x.shape());
  Node n;
  n.op = "Softmax";
  n.set_int("axis", -1);
  const OpDef* def = find_op("Softmax");
  for (auto _ : state) def->compute(n, {&x}, {&y});
  state.SetItemsProcessed(state.iterations() * x.numel());
}

// Third argument: the ISA tier of the kernel table (0 sse41, 1 avx2, 3 avx512).
BENCHMARK(BM_softmax_kernel)->ArgsProduct({{4}, {49}, {0, 1, 3}})->Args({1, 49, 3})->Args({1, 16, 3});
BENCHMARK(BM_softmax_reference)->Args({4, 49})->Args({1, 49})->Args({1, 16});

}  // namespace
}  // namespace effvit
