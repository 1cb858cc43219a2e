// A 2-D transpose of 4-byte elements, in 8x8 (AVX2) or 4x4 (SSE) register tiles. Included by each
// src/kernels/isa/<tier>.cpp (see eltwise_f32.inl). A strided element loop takes ~0.6 ns an
// element on the NCHW <-> NHWC transposes around EfficientViT's window attention; tiles move a
// whole cache line per load and store.
#ifdef __AVX2__
constexpr int64_t kTransposeTile = 8;
// dst rows j = 0..7 (dst_ld apart) = column j of the 8 src rows (src_ld apart).
static inline void transpose_tile_u32(const uint32_t* src, int64_t src_ld, uint32_t* dst, int64_t dst_ld) {
  __m256 r[8], t[8], s[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(reinterpret_cast<const float*>(src + i * src_ld));
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(reinterpret_cast<float*>(dst + i * dst_ld), _mm256_permute2f128_ps(s[i], s[i + 4], 0x20));
    _mm256_storeu_ps(reinterpret_cast<float*>(dst + (i + 4) * dst_ld), _mm256_permute2f128_ps(s[i], s[i + 4], 0x31));
  }
}
#else
constexpr int64_t kTransposeTile = 4;
static inline void transpose_tile_u32(const uint32_t* src, int64_t src_ld, uint32_t* dst, int64_t dst_ld) {
  __m128 r0 = _mm_loadu_ps(reinterpret_cast<const float*>(src)), r1 = _mm_loadu_ps(reinterpret_cast<const float*>(src + src_ld));
  __m128 r2 = _mm_loadu_ps(reinterpret_cast<const float*>(src + 2 * src_ld));
  __m128 r3 = _mm_loadu_ps(reinterpret_cast<const float*>(src + 3 * src_ld));
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  _mm_storeu_ps(reinterpret_cast<float*>(dst), r0);
  _mm_storeu_ps(reinterpret_cast<float*>(dst + dst_ld), r1);
  _mm_storeu_ps(reinterpret_cast<float*>(dst + 2 * dst_ld), r2);
  _mm_storeu_ps(reinterpret_cast<float*>(dst + 3 * dst_ld), r3);
}
#endif

// dst[r * dst_ld + c] = src[c * src_ld + r] for r < rows, c < cols. Bits are moved, never computed
// on, so any 4-byte type (float32, int32) passes unchanged, NaN payloads included.
static void transpose_u32(const uint32_t* src, int64_t rows, int64_t cols, int64_t src_ld, uint32_t* dst, int64_t dst_ld) {
  constexpr int64_t T = kTransposeTile;
  const int64_t full_r = rows / T * T, full_c = cols / T * T;
  for (int64_t r = 0; r < full_r; r += T) {
    for (int64_t c = 0; c < full_c; c += T) transpose_tile_u32(src + c * src_ld + r, src_ld, dst + r * dst_ld + c, dst_ld);
    for (int64_t i = r; i < r + T; ++i)
      for (int64_t c = full_c; c < cols; ++c) dst[i * dst_ld + c] = src[c * src_ld + i];
  }
  for (int64_t r = full_r; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[r * dst_ld + c] = src[c * src_ld + r];
}

// x [channels][pixels] bytes -> y [pixels][channels]: a few-channel image's codes (the RGB stem)
// interleaved. Register tiles need 8 channels; with the channel count a constant the compiler
// vectorises the interleave instead (3 channels, 224x224: ~3 us at avx512, 5 at avx2).
template <int C>
static void interleave_planes_u8(const uint8_t* x, int64_t pixels, uint8_t* y) {
  for (int64_t p = 0; p < pixels; ++p)
    for (int c = 0; c < C; ++c) y[p * C + c] = x[c * pixels + p];
}
static void planes_to_pixels_u8(const uint8_t* x, int64_t channels, int64_t pixels, uint8_t* y) {
  switch (channels) {
    case 1: __builtin_memcpy(y, x, static_cast<size_t>(pixels)); return;
    case 2: interleave_planes_u8<2>(x, pixels, y); return;
    case 3: interleave_planes_u8<3>(x, pixels, y); return;
    case 4: interleave_planes_u8<4>(x, pixels, y); return;
    default:
      for (int64_t p = 0; p < pixels; ++p)
        for (int64_t c = 0; c < channels; ++c) y[p * channels + c] = x[c * pixels + p];
  }
}
