// A bf16 plan's conversions between plain float32 NCHW and 16-channel blocked bf16 (the attention's
// edges on M5: [192,14,14], [288,7,7], [384,4,4]): effvit's tile kernels against the oneDNN reorder
// they replaced (src/ops/reorder.cpp).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/dnnl/engine.h"

namespace effvit {
namespace {

struct Image {
  int64_t channels, pixels;
  std::vector<float> plain;
  std::vector<uint16_t> blocked;
};

Image image(benchmark::State& state) {
  Image im{state.range(0), state.range(1) * state.range(1), {}, {}};
  im.plain.resize(static_cast<size_t>(im.channels * im.pixels));
  im.blocked.resize(im.plain.size());
  std::mt19937 rng(3);
  std::normal_distribution<float> dist;
  for (float& v : im.plain) v = dist(rng);
  return im;
}

const KernelTable* bf16_table(benchmark::State& state) {
  const KernelTable& k = *hardware().kernels;
  if (!k.blocked_bf16_to_plain_f32) state.SkipWithError("no avx512_bf16 tier on this CPU");
  return k.blocked_bf16_to_plain_f32 ? &k : nullptr;
}

void BM_blocked_bf16_to_plain_kernel(benchmark::State& state) {
  Image im = image(state);
  const KernelTable* k = bf16_table(state);
  if (!k) return;
  for (auto _ : state) k->blocked_bf16_to_plain_f32(im.blocked.data(), im.channels, im.pixels, im.plain.data());
  state.SetItemsProcessed(state.iterations() * im.channels * im.pixels);
}

void BM_plain_to_blocked_bf16_kernel(benchmark::State& state) {
  Image im = image(state);
  const KernelTable* k = bf16_table(state);
  if (!k) return;
  for (auto _ : state) k->plain_f32_to_blocked_bf16(im.plain.data(), im.channels, im.pixels, im.blocked.data());
  state.SetItemsProcessed(state.iterations() * im.channels * im.pixels);
}

// state.range(2): 1 = blocked bf16 -> plain f32, 0 = the other way.
void BM_layout_reorder_dnnl(benchmark::State& state) {
  Image im = image(state);
  using dnnl::memory;
  const int64_t side = state.range(1);
  const memory::dims dims{1, im.channels, side, side};
  memory plain({dims, memory::data_type::f32, memory::format_tag::nchw}, dnnl_engine(), im.plain.data());
  memory blocked({dims, memory::data_type::bf16, memory::format_tag::nChw16c}, dnnl_engine(), im.blocked.data());
  const bool to_plain = state.range(2) == 1;
  dnnl::reorder reorder(to_plain ? blocked : plain, to_plain ? plain : blocked);
  dnnl::stream stream(dnnl_engine());
  for (auto _ : state) {
    reorder.execute(stream, to_plain ? blocked : plain, to_plain ? plain : blocked);
    stream.wait();
  }
  state.SetItemsProcessed(state.iterations() * im.channels * im.pixels);
}

BENCHMARK(BM_blocked_bf16_to_plain_kernel)->Args({192, 14})->Args({288, 7})->Args({384, 4});
BENCHMARK(BM_plain_to_blocked_bf16_kernel)->Args({192, 14})->Args({288, 7})->Args({384, 4});
BENCHMARK(BM_layout_reorder_dnnl)->ArgsProduct({{192}, {14}, {0, 1}})->Args({288, 7, 1})->Args({384, 4, 1});

}  // namespace
}  // namespace effvit
