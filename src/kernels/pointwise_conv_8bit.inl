// An integer 1x1 convolution over channels-last uint8 codes with AVX512-VNNI's vpdpbusd. Included
// by the avx512_bf16 tier's file only (compiled with VNNI); everything here is `static` (see
// eltwise_f32.inl).
//
// Why not oneDNN: as for the bf16 one (pointwise_conv_bf16.inl), on EfficientViT's 4x4 and 7x7
// stages each weight byte is used by a handful of pixels and a conv's time is its weights' trip
// from memory. oneDNN 2.6's brgconv_1x1 reads them in an order the prefetcher does not follow (M5
// stage 2: 14 us hot, 25 us with weights from memory). Here they are laid out in the order they are
// read, one prefetched pass, while the int32 sums of two output blocks for up to kPointwise8bitRows
// pixels stay in registers.

constexpr int kPointwise8bitRows = 8;
// How far ahead of its use a weight line is prefetched, in bytes.
constexpr int kPointwise8bitPrefetch = 8192;

// acc += the four uint8 x int8 products of each lane of x and w. GCC 12 compiles the intrinsic
// (_mm512_dpbusd_epi32) on an array of accumulators as a copy, the instruction and a copy back:
// three times the instructions of the loop's one. The instruction itself accumulates in place.
static inline __m512i dot4_accumulate(__m512i acc, __m512i x_u8, __m512i w_s8) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x_u8), "v"(w_s8));
  return acc;
}

// table[q & 255] for the 16 int32 codes q, as int32: the 256 bytes are 64 words, two vpermi2d
// look up a code's word (one per half of the table) and a shift picks its byte.
struct ByteTable {
  __m512i words[4];
};
static inline ByteTable load_byte_table(const uint8_t* table) {
  ByteTable t;
  for (int i = 0; i < 4; ++i) t.words[i] = _mm512_loadu_si512(table + 64 * i);
  return t;
}
static inline __m512i look_up_bytes(const ByteTable& t, __m512i q) {
  const __m512i index = _mm512_and_si512(q, _mm512_set1_epi32(255));
  const __m512i word = _mm512_srli_epi32(index, 2);
  const __m512i low = _mm512_permutex2var_epi32(t.words[0], word, t.words[1]);
  const __m512i high = _mm512_permutex2var_epi32(t.words[2], word, t.words[3]);
  const __m512i picked = _mm512_mask_blend_epi32(_mm512_test_epi32_mask(word, _mm512_set1_epi32(32)), low, high);
  const __m512i shift = _mm512_slli_epi32(_mm512_and_si512(index, _mm512_set1_epi32(3)), 3);
  return _mm512_and_si512(_mm512_srlv_epi32(picked, shift), _mm512_set1_epi32(255));
}

// QuantizeLinear(DequantizeLinear(q) + DequantizeLinear(residual)) for 16 codes, each step the
// float operation add_requantize_8bit does, in its order, so the bytes are a separate
// effvit.QuantizedAdd's. The explicit-rounding forms are opaque to the compiler: the kernel flags
// would otherwise let it fuse a product into the sum (one rounding fewer) or reassociate.
static inline __m128i add_residual(const AddRequantizeParams& p, __m512i q, const uint8_t* residual) {
  constexpr int kAsIs = _MM_FROUND_CUR_DIRECTION;
  const __m128i r = _mm_loadu_si128(reinterpret_cast<const __m128i*>(residual));
  const __m512 b = _mm512_cvtepi32_ps(p.b_signed ? _mm512_cvtepi8_epi32(r) : _mm512_cvtepu8_epi32(r));
  const __m512 a_real =
      _mm512_mul_round_ps(_mm512_sub_round_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(p.a_zero), kAsIs), _mm512_set1_ps(p.a_scale), kAsIs);
  const __m512 b_real = _mm512_mul_round_ps(_mm512_sub_round_ps(b, _mm512_set1_ps(p.b_zero), kAsIs), _mm512_set1_ps(p.b_scale), kAsIs);
  const __m512 v = _mm512_div_round_ps(_mm512_add_round_ps(a_real, b_real, kAsIs), _mm512_set1_ps(p.y_scale), kAsIs);
  __m512 y = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), _mm512_set1_ps(p.y_zero));
  y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(p.y_signed ? -128.f : 0.f)), _mm512_set1_ps(p.y_signed ? 127.f : 255.f));
  return _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(y));
}

template <int NB, int R>
static void pointwise_rows_8bit(const Pointwise8bitDims& d, const uint8_t* x, const int8_t* w, const int32_t* offset, const float* scale,
                                void* y, int64_t ob, int64_t p0) {
  __m512i acc[NB][R];
  for (int b = 0; b < NB; ++b)
    for (int r = 0; r < R; ++r) acc[b][r] = _mm512_setzero_si512();
  const uint8_t* xr = x + p0 * d.in_c;
  for (int64_t k4 = 0; k4 < d.in_c / 4; ++k4) {
    // NB x 16 output channels x four input channels, as vpdpbusd sums them.
    __m512i wv[NB];
    for (int b = 0; b < NB; ++b) {
      wv[b] = _mm512_loadu_si512(w + (k4 * NB + b) * 64);
      _mm_prefetch(reinterpret_cast<const char*>(w + (k4 * NB + b) * 64 + kPointwise8bitPrefetch), _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      int32_t quad;
      __builtin_memcpy(&quad, xr + r * d.in_c + 4 * k4, sizeof quad);
      const __m512i xv = _mm512_set1_epi32(quad);
      for (int b = 0; b < NB; ++b) acc[b][r] = dot4_accumulate(acc[b][r], xv, wv[b]);
    }
  }
  const bool eight_bit = d.output == Pointwise8bitOutput::u8 || d.output == Pointwise8bitOutput::s8;
  const bool is_signed = d.output == Pointwise8bitOutput::s8;
  const __m512 zero_point = _mm512_set1_ps(d.y_zero);
  const float lowest = is_signed ? -128.f : 0.f;
  const __m512 lo = _mm512_set1_ps(d.relu && d.y_zero > lowest ? d.y_zero : lowest);
  const __m512 hi = _mm512_set1_ps(is_signed ? 127.f : 255.f);
  ByteTable table{};
  if (d.table) table = load_byte_table(d.table);
  const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(static_cast<int>(d.pixels)));
  for (int b = 0; b < NB; ++b) {
    const int64_t oc = (ob + b) * 16;
    const __m512i off = _mm512_loadu_si512(offset + oc);
    const __m512 sc = _mm512_loadu_ps(scale + oc);
    for (int r = 0; r < R; ++r) {
      const __m512 sum = _mm512_cvtepi32_ps(_mm512_add_epi32(acc[b][r], off));
      const int64_t p = p0 + r;
      if (eight_bit) {
        // Clamped as floats: a float out of int32's range converts to INT_MIN, which would saturate
        // the wrong way.
        const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_fmadd_ps(sum, sc, zero_point), lo), hi);
        const __m512i q = _mm512_cvtps_epi32(v);  // round half to even (the default MXCSR)
        const __m128i bytes = d.table      ? _mm512_cvtepi32_epi8(look_up_bytes(table, q))
                              : d.residual ? add_residual(d.add, q, static_cast<const uint8_t*>(d.residual) + p * d.out_c + oc)
                              : is_signed  ? _mm512_cvtsepi32_epi8(q)
                                           : _mm512_cvtusepi32_epi8(q);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint8_t*>(y) + p * d.out_c + oc), bytes);
        continue;
      }
      __m512 v = _mm512_mul_ps(sum, sc);
      if (d.relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
      if (d.output == Pointwise8bitOutput::f32_nhwc) _mm512_storeu_ps(static_cast<float*>(y) + p * d.out_c + oc, v);
      else _mm512_i32scatter_ps(static_cast<float*>(y) + oc * d.pixels + p, rows, v, sizeof(float));
    }
  }
}

using Pointwise8bitRowsFn = void (*)(const Pointwise8bitDims&, const uint8_t*, const int8_t*, const int32_t*, const float*, void*, int64_t,
                                     int64_t);
template <int NB, int... R>
struct Pointwise8bitRowKernels {
  static constexpr Pointwise8bitRowsFn fns[] = {pointwise_rows_8bit<NB, R + 1>...};
};
template <int NB, size_t... I>
constexpr auto pointwise_8bit_row_kernels(std::index_sequence<I...>) {
  return Pointwise8bitRowKernels<NB, static_cast<int>(I)...>{};
}

static void pointwise_conv_8bit(const Pointwise8bitDims& d, const uint8_t* x, const int8_t* w, const int32_t* offset, const float* scale,
                                void* y, int64_t pair_begin, int64_t pair_end) {
  using Pairs = decltype(pointwise_8bit_row_kernels<2>(std::make_index_sequence<kPointwise8bitRows>{}));
  using Singles = decltype(pointwise_8bit_row_kernels<1>(std::make_index_sequence<kPointwise8bitRows>{}));
  // Pixels in even chunks (49 = 7 x 7, not 6 x 8 + 1: a lone row is latency-bound).
  const int64_t chunks = (d.pixels + kPointwise8bitRows - 1) / kPointwise8bitRows;
  for (int64_t pair = pair_begin; pair < pair_end; ++pair) {
    const int64_t ob = pair * 2, blocks = d.out_c / 16 - ob >= 2 ? 2 : 1;
    const int8_t* wb = w + ob * d.in_c * 16;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t p0 = d.pixels * c / chunks, rows = d.pixels * (c + 1) / chunks - p0;
      const Pointwise8bitRowsFn fn = blocks == 2 ? Pairs::fns[rows - 1] : Singles::fns[rows - 1];
      fn(d, x, wb, offset, scale, y, ob, p0);
    }
  }
}
