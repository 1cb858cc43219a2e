// A 1x1 convolution over bfloat16 activations in the 16-channel blocked layout, with AVX512_BF16's
// vdpbf16ps (pairs of bf16 products summed into float32 lanes). Included by the avx512_bf16 tier's
// file only; everything here is `static` (see eltwise_f32.inl).
//
// Why not oneDNN: on the small images of EfficientViT's late stages (4x4 and 7x7 pixels) each weight
// is used by a handful of pixels, so a conv's time is the trip of its weights from memory. oneDNN
// 2.6's jit_bf16_1x1 kernel walks them in an order the hardware prefetcher does not follow (M5 stage
// 2: 23 us hot, 49 us with weights from memory). Here the weights are laid out in the exact order
// they are read, one pass from start to end, prefetched a few KB ahead, while the sums of two output
// blocks for up to kPointwiseRows pixels stay in registers (bench: pointwise_bf16 against
// conv_dnnl_bf16, hot and cold).

// Pixels per pass: 2 x 8 accumulators, two weight vectors and a broadcast leave the compiler room
// in the 32 vector registers; 10 rows measured slower, 12 and more spill.
constexpr int kPointwiseRows = 8;
// How far ahead of its use a weight line is prefetched, in bf16 elements (8 KB).
constexpr int kPointwisePrefetch = 4096;

// Pixels [p0, p0 + R) of the NB (1 or 2) output blocks from block ob on, whose weights start at w.
template <int NB, int R>
static void pointwise_rows_bf16(const PointwiseConvDims& d, const uint16_t* x, const uint16_t* w, const float* bias, void* y,
                                int64_t ob, int64_t p0) {
  __m512 acc[NB][R];
  for (int b = 0; b < NB; ++b) {
    const __m512 init = bias ? _mm512_loadu_ps(bias + b * 16) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) acc[b][r] = init;
  }
  for (int64_t kb = 0; kb < d.in_c / 16; ++kb) {
    const uint16_t* a = x + (kb * d.pixels + p0) * 16;
    const uint16_t* wk = w + kb * 256 * NB;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      // NB x 16 output channels x one input channel pair, as vdpbf16ps pairs them.
      __m512bh wv[NB];
      for (int b = 0; b < NB; ++b) {
        wv[b] = (__m512bh)_mm512_loadu_si512(wk + (j * NB + b) * 32);
        _mm_prefetch(reinterpret_cast<const char*>(wk + (j * NB + b) * 32 + kPointwisePrefetch), _MM_HINT_T0);
      }
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        int32_t pair;
        __builtin_memcpy(&pair, a + r * 16 + 2 * j, sizeof pair);
        const __m512bh xv = (__m512bh)_mm512_set1_epi32(pair);
        for (int b = 0; b < NB; ++b) acc[b][r] = _mm512_dpbf16_ps(acc[b][r], xv, wv[b]);
      }
    }
  }
  // A plain float32 output (the attention's q, k, v) takes a pixel's 16 channels one row apart.
  const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(static_cast<int>(d.pixels)));
  for (int b = 0; b < NB; ++b)
    for (int r = 0; r < R; ++r) {
      // relu_f32's x > 0 ? x : 0 (a NaN or -0 gives +0).
      __m512 v = acc[b][r];
      if (d.relu) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
      const int64_t block = ob + b;
      if (d.plain_f32_out)
        _mm512_i32scatter_ps(static_cast<float*>(y) + block * 16 * d.pixels + p0 + r, rows, v, sizeof(float));
      else
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint16_t*>(y) + (block * d.pixels + p0 + r) * 16),
                            (__m256i)_mm512_cvtneps_pbh(v));
    }
}

using PointwiseRowsFn = void (*)(const PointwiseConvDims&, const uint16_t*, const uint16_t*, const float*, void*, int64_t, int64_t);
template <int NB, int... R>
struct PointwiseRowKernels {
  static constexpr PointwiseRowsFn fns[] = {pointwise_rows_bf16<NB, R + 1>...};
};
template <int NB, size_t... I>
constexpr auto pointwise_row_kernels(std::index_sequence<I...>) {
  return PointwiseRowKernels<NB, static_cast<int>(I)...>{};
}

static void pointwise_conv_bf16(const PointwiseConvDims& d, const uint16_t* x, const uint16_t* w, const float* bias, void* y,
                                int64_t pair_begin, int64_t pair_end) {
  using Pairs = decltype(pointwise_row_kernels<2>(std::make_index_sequence<kPointwiseRows>{}));
  using Singles = decltype(pointwise_row_kernels<1>(std::make_index_sequence<kPointwiseRows>{}));
  // Pixels in even chunks (49 = 7 x 7, not 6 x 8 + 1: a lone row is latency-bound).
  const int64_t chunks = (d.pixels + kPointwiseRows - 1) / kPointwiseRows;
  for (int64_t pair = pair_begin; pair < pair_end; ++pair) {
    const int64_t ob = pair * 2, blocks = d.out_c / 16 - ob >= 2 ? 2 : 1;
    const uint16_t* wb = w + ob * d.in_c * 16;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t p0 = d.pixels * c / chunks, rows = d.pixels * (c + 1) / chunks - p0;
      const PointwiseRowsFn fn = blocks == 2 ? Pairs::fns[rows - 1] : Singles::fns[rows - 1];
      fn(d, x, wb, bias ? bias + ob * 16 : nullptr, y, ob, p0);
    }
  }
}

// x plain [channels][pixels] float32 -> [channels / 16][pixels][16] bf16 (nearest even): a bf16
// pointwise conv's input when its producer writes plain float32 (the attention's output, the SE
// gate's product), and a bf16 plan's effvit.ToBlocked. Eight pixels at a time through two 8x8
// register transposes into a small tile, then rounded a pixel (16 channels) at a time: oneDNN's
// reorder for this (jit:uni) takes ~1 ns an element, a gather per pixel half that.
static void plain_f32_to_blocked_bf16(const float* x, int64_t channels, int64_t pixels, uint16_t* y) {
  alignas(64) uint32_t tile[8][16];
  for (int64_t cb = 0; cb < channels / 16; ++cb) {
    const float* xc = x + cb * 16 * pixels;
    uint16_t* yc = y + cb * pixels * 16;
    int64_t p = 0;
    for (; p + 8 <= pixels; p += 8) {
      transpose_tile_u32(reinterpret_cast<const uint32_t*>(xc + p), pixels, &tile[0][0], 16);
      transpose_tile_u32(reinterpret_cast<const uint32_t*>(xc + 8 * pixels + p), pixels, &tile[0][8], 16);
      for (int i = 0; i < 8; ++i)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(yc + (p + i) * 16), (__m256i)_mm512_cvtneps_pbh(_mm512_load_ps(tile[i])));
    }
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(static_cast<int>(pixels)));
    for (; p < pixels; ++p) {
      const __m512 v = _mm512_i32gather_ps(rows, xc + p, sizeof(float));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(yc + p * 16), (__m256i)_mm512_cvtneps_pbh(v));
    }
  }
}

// The inverse: x [channels / 16][pixels][16] bf16 -> y plain [channels][pixels] float32, exact
// (a bf16 widens to float32 bit for bit). Eight pixels at a time, widened into a small tile and
// moved by two 8x8 register transposes: oneDNN's reorder for this (jit:uni) took 18 us on M5's
// [192,14,14], a strided store loop about as long.
static void blocked_bf16_to_plain_f32(const uint16_t* x, int64_t channels, int64_t pixels, float* y) {
  alignas(64) uint32_t tile[8][16];
  for (int64_t cb = 0; cb < channels / 16; ++cb) {
    const uint16_t* xc = x + cb * pixels * 16;
    float* yc = y + cb * 16 * pixels;
    int64_t p = 0;
    for (; p + 8 <= pixels; p += 8) {
      for (int i = 0; i < 8; ++i) {
        const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xc + (p + i) * 16)));
        _mm512_store_si512(tile[i], _mm512_slli_epi32(wide, 16));
      }
      transpose_tile_u32(&tile[0][0], 16, reinterpret_cast<uint32_t*>(yc + p), pixels);
      transpose_tile_u32(&tile[0][8], 16, reinterpret_cast<uint32_t*>(yc + 8 * pixels + p), pixels);
    }
    for (; p < pixels; ++p)
      for (int c = 0; c < 16; ++c) yc[c * pixels + p] = bf16_to_f32(xc[p * 16 + c]);
  }
}
