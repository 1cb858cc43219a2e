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

// effvit.Requantize: DequantizeLinear -> Relu (optional) -> QuantizeLinear in one pass over the
// bytes, each step the float operation the op itself performs, so the bytes equal the three ops'.
template <typename In, typename Out, bool Relu>
static void requantize_typed(const In* x, Out* y, size_t n, const RequantizeParams& p, float lo, float hi) {
  for (size_t i = 0; i < n; ++i) {
    float v = (static_cast<float>(x[i]) - p.in_zero) * p.in_scale;
    if (Relu) v = v > 0.f ? v : 0.f;
    v = v / p.out_scale;
    v = v == v ? v : 0.f;
    float q = __builtin_rintf(v) + p.out_zero;
    q = q > lo ? q : lo;
    q = q < hi ? q : hi;
    y[i] = static_cast<Out>(static_cast<int>(q));
  }
}

template <typename In, typename Out>
static void requantize_to(const void* x, void* y, size_t n, const RequantizeParams& p, float lo, float hi) {
  if (p.relu) requantize_typed<In, Out, true>(static_cast<const In*>(x), static_cast<Out*>(y), n, p, lo, hi);
  else requantize_typed<In, Out, false>(static_cast<const In*>(x), static_cast<Out*>(y), n, p, lo, hi);
}

static void requantize_8bit(const void* x, void* y, size_t n, const RequantizeParams& p) {
  if (p.out_signed) {
    if (p.in_signed) requantize_to<int8_t, int8_t>(x, y, n, p, -128.f, 127.f);
    else requantize_to<uint8_t, int8_t>(x, y, n, p, -128.f, 127.f);
  } else {
    if (p.in_signed) requantize_to<int8_t, uint8_t>(x, y, n, p, 0.f, 255.f);
    else requantize_to<uint8_t, uint8_t>(x, y, n, p, 0.f, 255.f);
  }
}
