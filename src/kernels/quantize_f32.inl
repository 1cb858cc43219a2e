// QuantizeLinear per tensor: y = saturate(round_half_even(x / scale) + zero_point). Included by each
// src/kernels/isa/<tier>.cpp (see eltwise_f32.inl for the rules). The division stays a division
// (no reciprocal) and __builtin_rintf rounds half to even in the default rounding mode, so results
// equal the reference op's bit for bit; a NaN becomes the zero point (real 0), as there.

template <typename Q>
static void quantize_f32(const float* x, Q* y, size_t n, float scale, float zero_point, float lo, float hi) {
  for (size_t i = 0; i < n; ++i) {
    float v = x[i] / scale;
    v = v == v ? v : 0.f;
    float q = __builtin_rintf(v) + zero_point;
    q = q > lo ? q : lo;
    q = q < hi ? q : hi;
    y[i] = static_cast<Q>(static_cast<int>(q));
  }
}

static void quantize_f32_u8(const float* x, uint8_t* y, size_t n, float scale, float zero_point) {
  quantize_f32<uint8_t>(x, y, n, scale, zero_point, 0.f, 255.f);
}

static void quantize_f32_s8(const float* x, int8_t* y, size_t n, float scale, float zero_point) {
  quantize_f32<int8_t>(x, y, n, scale, zero_point, -128.f, 127.f);
}

// DequantizeLinear per tensor: y = (x - zero_point) * scale. The difference is an exact integer in
// float32 and the product one rounding, as the reference op computes it, so results are bit-equal.
template <typename Q>
static void dequantize_f32(const Q* x, float* y, size_t n, float scale, float zero_point) {
  for (size_t i = 0; i < n; ++i) y[i] = (static_cast<float>(x[i]) - zero_point) * scale;
}

static void dequantize_u8_f32(const uint8_t* x, float* y, size_t n, float scale, float zero_point) {
  dequantize_f32<uint8_t>(x, y, n, scale, zero_point);
}

static void dequantize_s8_f32(const int8_t* x, float* y, size_t n, float scale, float zero_point) {
  dequantize_f32<int8_t>(x, y, n, scale, zero_point);
}

// DequantizeLinear of a and of b, Add, QuantizeLinear, per element of 8-bit codes (each uint8 or
// int8, AddRequantizeParams): each step rounds as its op does. The kernel flags allow contracting
// the product and the sum into one fused multiply-add (one rounding fewer) and reassociating them,
// either of which could move a result across a rounding tie; these functions alone are compiled
// without both.
template <typename A, typename B, typename Y>
__attribute__((optimize("fp-contract=off", "no-associative-math"))) static void add_requantize(
    const A* a, const B* b, Y* y, size_t n, const AddRequantizeParams& p) {
  const float a_scale = p.a_scale, a_zero = p.a_zero, b_scale = p.b_scale, b_zero = p.b_zero, y_scale = p.y_scale,
              y_zero = p.y_zero;
  const float lo = p.y_signed ? -128.f : 0.f, hi = p.y_signed ? 127.f : 255.f;
  for (size_t i = 0; i < n; ++i) {
    const float sum = (static_cast<float>(a[i]) - a_zero) * a_scale + (static_cast<float>(b[i]) - b_zero) * b_scale;
    float v = sum / y_scale;
    v = v == v ? v : 0.f;
    float q = __builtin_rintf(v) + y_zero;
    q = q > lo ? q : lo;
    q = q < hi ? q : hi;
    y[i] = static_cast<Y>(static_cast<int>(q));
  }
}

template <typename A, typename B>
static void add_requantize_to(const A* a, const B* b, void* y, size_t n, const AddRequantizeParams& p) {
  if (p.y_signed) add_requantize(a, b, static_cast<int8_t*>(y), n, p);
  else add_requantize(a, b, static_cast<uint8_t*>(y), n, p);
}

static void add_requantize_8bit(const void* a, const void* b, void* y, size_t n, const AddRequantizeParams& p) {
  if (p.a_signed && p.b_signed) add_requantize_to(static_cast<const int8_t*>(a), static_cast<const int8_t*>(b), y, n, p);
  else if (p.a_signed) add_requantize_to(static_cast<const int8_t*>(a), static_cast<const uint8_t*>(b), y, n, p);
  else if (p.b_signed) add_requantize_to(static_cast<const uint8_t*>(a), static_cast<const int8_t*>(b), y, n, p);
  else add_requantize_to(static_cast<const uint8_t*>(a), static_cast<const uint8_t*>(b), y, n, p);
}

// y[i] = table[x[i]] over n bytes: any function of one byte (effvit.Requantize's table, built
// from the reference ops). In-register lookups: pshufb looks up 16 entries by a byte's low nibble,
// so the 256-entry table is 16 such lookups, each kept where the high nibble selects it.
#if defined(__AVX512BW__)
typedef __m512i ByteVec;
constexpr size_t kByteLanes = 64;
static inline ByteVec broadcast_16(const uint8_t* p) { return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
static inline ByteVec load_bytes(const uint8_t* p) { return _mm512_loadu_si512(p); }
static inline void store_bytes(uint8_t* p, ByteVec v) { _mm512_storeu_si512(p, v); }
static inline ByteVec lookup_bytes(const ByteVec* tables, ByteVec x) {
  const ByteVec low = _mm512_and_si512(x, _mm512_set1_epi8(0x0f));
  const ByteVec high = _mm512_and_si512(_mm512_srli_epi16(x, 4), _mm512_set1_epi8(0x0f));
  ByteVec y = _mm512_setzero_si512();
  for (int h = 0; h < 16; ++h)
    y = _mm512_mask_shuffle_epi8(y, _mm512_cmpeq_epi8_mask(high, _mm512_set1_epi8(static_cast<char>(h))), tables[h], low);
  return y;
}
#elif defined(__AVX2__)
typedef __m256i ByteVec;
constexpr size_t kByteLanes = 32;
static inline ByteVec broadcast_16(const uint8_t* p) { return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
static inline ByteVec load_bytes(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
static inline void store_bytes(uint8_t* p, ByteVec v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
static inline ByteVec lookup_bytes(const ByteVec* tables, ByteVec x) {
  const ByteVec low = _mm256_and_si256(x, _mm256_set1_epi8(0x0f));
  const ByteVec high = _mm256_and_si256(_mm256_srli_epi16(x, 4), _mm256_set1_epi8(0x0f));
  ByteVec y = _mm256_setzero_si256();
  for (int h = 0; h < 16; ++h)
    y = _mm256_blendv_epi8(y, _mm256_shuffle_epi8(tables[h], low), _mm256_cmpeq_epi8(high, _mm256_set1_epi8(static_cast<char>(h))));
  return y;
}
#else
typedef __m128i ByteVec;
constexpr size_t kByteLanes = 16;
static inline ByteVec broadcast_16(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
static inline ByteVec load_bytes(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
static inline void store_bytes(uint8_t* p, ByteVec v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }
static inline ByteVec lookup_bytes(const ByteVec* tables, ByteVec x) {
  const ByteVec low = _mm_and_si128(x, _mm_set1_epi8(0x0f));
  const ByteVec high = _mm_and_si128(_mm_srli_epi16(x, 4), _mm_set1_epi8(0x0f));
  ByteVec y = _mm_setzero_si128();
  for (int h = 0; h < 16; ++h)
    y = _mm_blendv_epi8(y, _mm_shuffle_epi8(tables[h], low), _mm_cmpeq_epi8(high, _mm_set1_epi8(static_cast<char>(h))));
  return y;
}
#endif

static void lookup_u8(const uint8_t* x, const uint8_t* table, uint8_t* y, size_t n) {
  ByteVec tables[16];
  for (int h = 0; h < 16; ++h) tables[h] = broadcast_16(table + 16 * h);
  size_t i = 0;
  for (; i + kByteLanes <= n; i += kByteLanes) store_bytes(y + i, lookup_bytes(tables, load_bytes(x + i)));
  for (; i < n; ++i) y[i] = table[x[i]];
}

// QuantizeLinear then DequantizeLinear per tensor, float32 in and out (effvit.QuantizeDequantize:
// a 16-bit Q -> DQ pair): q as quantize_f32 computes it, kept in float32 (an exact integer below
// 2^24), then (q - out_zero) * out_scale as dequantize_f32 does. Bit-equal to the two ops.
static void quantize_dequantize_f32(const float* x, float* y, size_t n, const QuantizeDequantizeParams& p) {
  // Copied out: y may alias p as far as the compiler knows, and reloading p after every store
  // keeps the loop scalar (it did, inlined into the attention head: 3x slower).
  const float scale = p.scale, zero = p.zero_point, lo = p.lo, hi = p.hi, out_scale = p.out_scale, out_zero = p.out_zero_point;
  for (size_t i = 0; i < n; ++i) {
    float v = x[i] / scale;
    v = v == v ? v : 0.f;
    float q = __builtin_rintf(v) + zero;
    q = q > lo ? q : lo;
    q = q < hi ? q : hi;
    y[i] = (q - out_zero) * out_scale;
  }
}
