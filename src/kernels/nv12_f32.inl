// NV12 -> RGB, one row (kernels.h). Included by each src/kernels/isa/<tier>.cpp (see
// eltwise_f32.inl for the rules). Each chroma pair serves two pixels; the arithmetic is the
// reference op's (src/ops/nv12.cpp), in int32, so results are identical.

static inline float clamp_byte(int v) { return static_cast<float>(v < 0 ? 0 : v > 255 ? 255 : v); }

static void nv12_row_f32(const uint8_t* luma, const uint8_t* chroma, int64_t width, float* r, float* g, float* b) {
  using namespace bt601;
  for (int64_t pair = 0; pair < width / 2; ++pair) {
    const int u = chroma[2 * pair] - 128, v = chroma[2 * pair + 1] - 128;
    const int red = kHalf + kVR * v, green = kHalf + kVG * v + kUG * u, blue = kHalf + kUB * u;
    for (int64_t k = 0; k < 2; ++k) {
      const int64_t j = 2 * pair + k;
      const int y = luma[j] - 16;
      const int luma_scaled = (y > 0 ? y : 0) * kY;
      // >> on a negative int rounds down, as OpenCV's does.
      r[j] = clamp_byte((luma_scaled + red) >> kShift);
      g[j] = clamp_byte((luma_scaled + green) >> kShift);
      b[j] = clamp_byte((luma_scaled + blue) >> kShift);
    }
  }
}
