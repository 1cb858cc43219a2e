// A 1x1 convolution over float32 activations in the 16-channel blocked layout (nChw16c), with
// AVX-512 FMAs. Included by the AVX-512 tiers' files; everything here is `static` (see
// eltwise_f32.inl). The float32 sibling of pointwise_conv_bf16.inl, for the same reason: on
// EfficientViT's 4x4 to 14x14 stages each weight is used by a few pixels, so a conv's time is its
// weights' trip from memory, and here they are read in one prefetched pass in the order they were
// packed, while two output blocks' sums for up to kPointwiseF32Rows pixels stay in registers.

constexpr int kPointwiseF32Rows = 8;
// How far ahead of its use a weight line is prefetched, in floats (8 KB).
constexpr int kPointwiseF32Prefetch = 2048;

template <int NB, int R>
static void pointwise_rows_f32(const PointwiseConvDims& d, const float* x, const float* w, const float* bias, float* y, int64_t ob,
                               int64_t p0) {
  __m512 acc[NB][R];
  for (int b = 0; b < NB; ++b) {
    const __m512 init = bias ? _mm512_loadu_ps(bias + b * 16) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) acc[b][r] = init;
  }
  for (int64_t kb = 0; kb < d.in_c / 16; ++kb) {
    const float* a = x + (kb * d.pixels + p0) * 16;
    const float* wk = w + kb * 16 * NB * 16;
#pragma GCC unroll 4
    for (int j = 0; j < 16; ++j) {
      __m512 wv[NB];
      for (int b = 0; b < NB; ++b) {
        wv[b] = _mm512_loadu_ps(wk + (j * NB + b) * 16);
        _mm_prefetch(reinterpret_cast<const char*>(wk + (j * NB + b) * 16 + kPointwiseF32Prefetch), _MM_HINT_T0);
      }
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 xv = _mm512_set1_ps(a[r * 16 + j]);
        for (int b = 0; b < NB; ++b) acc[b][r] = _mm512_fmadd_ps(xv, wv[b], acc[b][r]);
      }
    }
  }
  for (int b = 0; b < NB; ++b)
    for (int r = 0; r < R; ++r) {
      __m512 v = acc[b][r];
      // relu_f32's x > 0 ? x : 0 (a NaN or -0 gives +0).
      if (d.relu) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
      _mm512_storeu_ps(y + ((ob + b) * d.pixels + p0 + r) * 16, v);
    }
}

using PointwiseRowsF32Fn = void (*)(const PointwiseConvDims&, const float*, const float*, const float*, float*, int64_t, int64_t);
template <int NB, int... R>
struct PointwiseRowF32Kernels {
  static constexpr PointwiseRowsF32Fn fns[] = {pointwise_rows_f32<NB, R + 1>...};
};
template <int NB, size_t... I>
constexpr auto pointwise_row_f32_kernels(std::index_sequence<I...>) {
  return PointwiseRowF32Kernels<NB, static_cast<int>(I)...>{};
}

static void pointwise_conv_f32(const PointwiseConvDims& d, const float* x, const float* w, const float* bias, float* y, int64_t pair_begin,
                               int64_t pair_end) {
  using Pairs = decltype(pointwise_row_f32_kernels<2>(std::make_index_sequence<kPointwiseF32Rows>{}));
  using Singles = decltype(pointwise_row_f32_kernels<1>(std::make_index_sequence<kPointwiseF32Rows>{}));
  const int64_t chunks = (d.pixels + kPointwiseF32Rows - 1) / kPointwiseF32Rows;
  for (int64_t pair = pair_begin; pair < pair_end; ++pair) {
    const int64_t ob = pair * 2, blocks = d.out_c / 16 - ob >= 2 ? 2 : 1;
    const float* wb = w + ob * d.in_c * 16;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t p0 = d.pixels * c / chunks, rows = d.pixels * (c + 1) / chunks - p0;
      const PointwiseRowsF32Fn fn = blocks == 2 ? Pairs::fns[rows - 1] : Singles::fns[rows - 1];
      fn(d, x, wb, bias ? bias + ob * 16 : nullptr, y, ob, p0);
    }
  }
}
