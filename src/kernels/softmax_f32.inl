// The exponential is a Cody-Waite range reduction (x = n ln2 + r, |r| <= ln2/2) and a degree-6
// Taylor polynomial for e^r (relative error < 2e-7 on that interval), scaled by 2^n through the
// exponent bits. Included by each src/kernels/isa/<tier>.cpp: see eltwise_f32.inl for why all is
// static.
//
// Row softmax: y[r][0..len) = softmax(x[r][0..len) + bias[r][0..len)) for contiguous rows; bias
// may be null.
static inline float exp_nonpositive(float x) {
  // Inputs are x - max(x) <= 0; below -87 the result underflows to 0 anyway. A NaN (a NaN logit,
  // or inf - inf) is computed as 0 and returned as itself: converting it to an int is undefined.
  const float in = x;
  const bool nan = x != x;
  x = nan ? 0.f : x < -87.0f ? -87.0f : x;
  const float n = __builtin_floorf(x * 1.44269504f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return nan ? in : p * scale;
}

static void softmax_rows_f32(const float* x, const float* bias, float* y, int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * len;
    float* yr = y + r * len;
    if (bias) {
      // Biased logits go through y, which the exponentials then overwrite in place.
      const float* br = bias + r * len;
      for (int64_t j = 0; j < len; ++j) yr[j] = xr[j] + br[j];
      xr = yr;
    }
    float mx = xr[0];
    for (int64_t j = 1; j < len; ++j) mx = xr[j] > mx ? xr[j] : mx;
    float sum = 0.f;
    for (int64_t j = 0; j < len; ++j) {
      const float e = exp_nonpositive(xr[j] - mx);
      yr[j] = e;
      sum += e;
    }
    const float inv = 1.f / sum;
    for (int64_t j = 0; j < len; ++j) yr[j] *= inv;
  }
}
