// Flat elementwise loops over contiguous floats. Included by each src/kernels/isa/<tier>.cpp, so
// every function here must stay `static` and free of library calls: a non-static (or inline
// library) function built with AVX-512 could be the copy the linker keeps for every caller.

static void relu_f32(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

static void add_f32(const float* a, const float* b, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

// (x - mean) * scale: a subtraction then a multiplication, never fused (no add follows the
// multiply), so results equal the unfused Sub -> Mul bit for bit.
static void normalize_f32(const float* x, float* y, size_t n, float mean, float scale) {
  for (size_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * scale;
}

// y[r] = mean of x[r * len .. r * len + len), summed in double (the reference sums serially in
// double; the reassociated vector sum differs by double roundings only).
static void row_mean_f32(const float* x, float* y, int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; ++r) {
    double acc = 0.0;
    for (int64_t j = 0; j < len; ++j) acc += static_cast<double>(x[r * len + j]);
    y[r] = static_cast<float>(acc / static_cast<double>(len));
  }
}

// y[r * len + j] = x[r * len + j] * scale[r] (squeeze-excite's x * gate).
static void scale_rows_f32(const float* x, const float* scale, float* y, int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; ++r) {
    const float s = scale[r];
    for (int64_t j = 0; j < len; ++j) y[r * len + j] = x[r * len + j] * s;
  }
}

// y[r * len + j] = x[r * len + j] * scale[r] + shift[r] (BatchNormalization at inference, one
// row per channel). The compiler may fuse the multiply-add (one rounding instead of two).
static void affine_rows_f32(const float* x, const float* scale, const float* shift, float* y, int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; ++r) {
    const float s = scale[r], b = shift[r];
    for (int64_t j = 0; j < len; ++j) y[r * len + j] = x[r * len + j] * s + b;
  }
}

// y[r * len + j] = x[r * len + j] * scale[j] + shift[j]: the same with the channel innermost
// (channels-last BatchNormalization inside an int8 chain).
static void affine_columns_f32(const float* x, const float* scale, const float* shift, float* y, int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < len; ++j) y[r * len + j] = x[r * len + j] * scale[j] + shift[j];
}

// Whether none of n floats is a NaN or an infinity (every exponent bit set). Blocks of 1024 are
// tested branch-free, so the exponent test vectorises and a dirty input stops early.
static bool all_finite_f32(const float* x, size_t n) {
  for (size_t start = 0; start < n; start += 1024) {
    const size_t end = n - start < 1024 ? n : start + 1024;
    uint32_t any = 0;
    for (size_t i = start; i < end; ++i) {
      uint32_t bits;
      __builtin_memcpy(&bits, x + i, sizeof bits);
      any |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (any) return false;
  }
  return true;
}

// The smallest and largest of n floats, into *lo and *hi (which start the search: a NaN never
// replaces them). Eight independent lanes so the comparisons vectorise.
static void min_max_f32(const float* x, size_t n, float* lo, float* hi) {
  float l[8], h[8];
  for (int k = 0; k < 8; ++k) l[k] = *lo, h[k] = *hi;
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) {
      l[k] = x[i + k] < l[k] ? x[i + k] : l[k];
      h[k] = x[i + k] > h[k] ? x[i + k] : h[k];
    }
  for (; i < n; ++i) {
    l[0] = x[i] < l[0] ? x[i] : l[0];
    h[0] = x[i] > h[0] ? x[i] : h[0];
  }
  for (int k = 0; k < 8; ++k) {
    *lo = l[k] < *lo ? l[k] : *lo;
    *hi = h[k] > *hi ? h[k] : *hi;
  }
}

static void widen_u8_f32(const uint8_t* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}

// y = float(x) over n int32 (rounded to nearest even past 2^24, as a C++ conversion does).
static void widen_i32_f32(const int32_t* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}

// The same on bfloat16 activations (bf16 plans): each element widened to float32, computed, and
// rounded back once, as a bf16 conv rounds its float32 sums.
// As relu_f32's x > 0 ? x : 0: negatives, -0 and NaN of either sign give +0.
static void relu_bf16(const uint16_t* x, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = (x[i] & 0x8000u) || (x[i] & 0x7fffu) > 0x7f80u ? 0 : x[i];
}

static void add_bf16(const uint16_t* a, const uint16_t* b, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = f32_to_bf16(bf16_to_f32(a[i]) + bf16_to_f32(b[i]));
}
