// One cascaded-attention head of EfficientViT-MSRA on one window, fused (see kernels.h for the
// contract). Included by each src/kernels/isa/<tier>.cpp after softmax_f32.inl (it shares
// exp_nonpositive); see eltwise_f32.inl for why everything is static. The including file defines
// kVectorFloats (floats per vector register), kAttentionOutRows (output rows per register block of
// out = v P^T) and kScoreRows (score rows per block): as many as its registers hold beside the
// operands.
//
// Layouts, chosen so every inner loop runs over contiguous floats:
// - q is transposed to pixel-major (channels innermost), zero-padded by the depthwise kernel's
//   border, so one depthwise tap is one channel vector per pixel, and a query's channels are
//   adjacent for the score broadcasts;
// - the scores are built transposed (S^T: a row per key pixel, the query pixels across lanes
//   padded to 16), so the softmax over keys runs down columns with whole vectors, and P^T is what
//   out = v P^T reads, 16 output pixels per vector with v's entries broadcast.

static constexpr int64_t kLanes = 16;  // floats per chunk (the scratch's lane padding)

// One of this tier's vector registers (GCC's generic vectors, kVectorFloats from the including
// file). Left to the auto-vectoriser, the register blocks below came out as shuffles and scalar
// stores; a 16-float generic vector below AVX-512 went through the stack.
typedef float Vec __attribute__((vector_size(kVectorFloats * sizeof(float))));
static constexpr int kVecsPerChunk = kLanes / kVectorFloats;

static inline Vec load_vec(const float* p) {
  Vec v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

static inline void store_vec(float* p, Vec v) { __builtin_memcpy(p, &v, sizeof v); }

// exp_nonpositive (softmax_f32.inl) on a vector: the same reduction and polynomial, with n the
// nearest integer to x / ln2 from a truncating conversion (x <= 0, so truncating x / ln2 - 1/2
// rounds; generic vectors have no floor, and the kernel flags' -fassociative-math would fold
// the usual add-and-subtract-2^23 trick away). A NaN stays NaN (through r and p), so a broken
// model's scores cannot turn into probabilities.
typedef int32_t VecI __attribute__((vector_size(kVectorFloats * sizeof(float))));

static inline Vec exp_nonpositive_vec(Vec x) {
  x = x < -87.0f ? Vec{} - 87.0f : x;
  const VecI ni = __builtin_convertvector(x * 1.44269504f - 0.5f, VecI);
  const Vec n = __builtin_convertvector(ni, Vec);
  const Vec r = x - n * 0.693359375f + n * 2.12194440e-4f;
  Vec p = Vec{} + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const VecI bits = (ni + 127) << 23;
  Vec scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// Depthwise conv on `Pixels` adjacent pixels of row y, channels [c, c + kVectorFloats), into
// q_out (pixel-major). q_padded is pixel-major with the kernel's border.
template <int Pixels>
static void depthwise_pixels(const AttentionHeadDims& d, const float* q_padded, int64_t padded_w, const float* weight,
                             const float* bias, int64_t y, int64_t x, int64_t c, float* q_out) {
  const int64_t kd = d.key_dim;
  Vec acc[Pixels];
  for (int u = 0; u < Pixels; ++u) acc[u] = bias ? load_vec(bias + c) : Vec{};
  for (int64_t ky = 0; ky < d.kernel_h; ++ky)
    for (int64_t kx = 0; kx < d.kernel_w; ++kx) {
      const Vec wt = load_vec(weight + (ky * d.kernel_w + kx) * kd + c);
      const float* src = q_padded + ((y + ky) * padded_w + x + kx) * kd + c;
      for (int u = 0; u < Pixels; ++u) acc[u] += wt * load_vec(src + u * kd);
    }
  for (int u = 0; u < Pixels; ++u) store_vec(q_out + (y * d.width + x + u) * kd + c, acc[u]);
}

// Rows j .. j+Rows of the transposed scores, lanes [first, first + Chunks*16): for each row,
// sum over kd channels of k[c][j + r] (broadcast) * q_t[c][...]. Several rows at once keep enough
// independent multiply-add chains in flight (one row of 4 chunks waits on its own latency).
template <int Chunks, int Rows>
static void score_block(const float* k, int64_t n, const float* q_t, int64_t kd, int64_t stride, int64_t first,
                        float* rows) {
  constexpr int kVecs = Chunks * kVecsPerChunk;
  Vec acc[Rows][kVecs] = {};
  for (int64_t c = 0; c < kd; ++c) {
    const float* qc = q_t + c * stride + first;
    Vec q[kVecs];
    for (int u = 0; u < kVecs; ++u) q[u] = load_vec(qc + u * kVectorFloats);
    for (int r = 0; r < Rows; ++r) {
      const Vec kc = Vec{} + k[c * n + r];
      for (int u = 0; u < kVecs; ++u) acc[r][u] += kc * q[u];
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int u = 0; u < kVecs; ++u) store_vec(rows + r * stride + first + u * kVectorFloats, acc[r][u]);
}

// All lanes of `Rows` score rows starting at key pixel j.
template <int Rows>
static void score_rows(const float* k, int64_t n, const float* q_t, int64_t kd, int64_t stride, int64_t j, float* probs_t) {
  int64_t first = 0;
  for (; first + 4 * kLanes <= stride; first += 4 * kLanes) score_block<4, Rows>(k + j, n, q_t, kd, stride, first, probs_t + j * stride);
  for (; first < stride; first += kLanes) score_block<1, Rows>(k + j, n, q_t, kd, stride, first, probs_t + j * stride);
}

// out[r][first .. first+16) = sum_j v[r][j] * probs_t[j][first ..] for `Rows` rows; only the
// pixels below n are stored.
template <int Rows>
static void output_block(const float* v, const float* probs_t, int64_t n, int64_t stride, int64_t first, float* out) {
  Vec acc[Rows][kVecsPerChunk] = {};
  for (int64_t j = 0; j < n; ++j) {
    Vec p[kVecsPerChunk];
    for (int u = 0; u < kVecsPerChunk; ++u) p[u] = load_vec(probs_t + j * stride + first + u * kVectorFloats);
    for (int r = 0; r < Rows; ++r) {
      const Vec vr = Vec{} + v[r * n + j];
      for (int u = 0; u < kVecsPerChunk; ++u) acc[r][u] += vr * p[u];
    }
  }
  if (n - first >= kLanes) {
    for (int r = 0; r < Rows; ++r)
      for (int u = 0; u < kVecsPerChunk; ++u) store_vec(out + r * n + first + u * kVectorFloats, acc[r][u]);
    return;
  }
  for (int r = 0; r < Rows; ++r)
    for (int64_t l = 0; l < n - first; ++l) out[r * n + first + l] = acc[r][l / kVectorFloats][l % kVectorFloats];
}

static void attention_head_f32(const AttentionHeadDims& d, const float* qkv, const float* dw_weight,
                               const float* dw_bias, const float* bias_t, float* out, const AttentionHeadScratch& s) {
  const int64_t kd = d.key_dim, vd = d.value_dim, h = d.height, w = d.width, n = h * w;
  const int64_t stride = (n + kLanes - 1) / kLanes * kLanes;
  const int64_t padded_w = w + d.kernel_w - 1, padded_pixels = (h + d.kernel_h - 1) * padded_w;
  const float* q = qkv;
  const float* k = qkv + kd * n;
  const float* v = qkv + 2 * kd * n;
  if (d.k_grid.scale > 0.f) {
    quantize_dequantize_f32(k, s.k, static_cast<size_t>(kd * n), d.k_grid);
    k = s.k;
  }
  if (d.v_grid.scale > 0.f) {
    quantize_dequantize_f32(v, s.v, static_cast<size_t>(vd * n), d.v_grid);
    v = s.v;
  }

  // q quantised to the grid first when the model says so: in its own layout, whole vectors (s.q
  // is free until the depthwise conv writes it).
  if (d.q_step > 0.f) {
    const QuantizeDequantizeParams grid{d.q_step, d.q_zero, d.q_lo, d.q_hi, d.q_step, d.q_zero};
    quantize_dequantize_f32(q, s.q, static_cast<size_t>(kd * n), grid);
    q = s.q;
  }
  // Then pixel-major inside a zero border.
  for (int64_t i = 0; i < padded_pixels * kd; ++i) s.q_padded[i] = 0.f;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const float* src = q + y * w + x;
      float* dst = s.q_padded + ((y + d.pad_top) * padded_w + x + d.pad_left) * kd;
      for (int64_t c = 0; c < kd; ++c) dst[c] = src[c * n];
    }
  // Depthwise conv, channel vectors, up to eight pixels of a row at a time: each pixel is an
  // independent chain of multiply-adds over the taps (one pixel alone waits on its previous tap
  // every time; a window row of 7 pixels is one block).
  if (kd % kVectorFloats == 0) {
    for (int64_t y = 0; y < h; ++y)
      for (int64_t c = 0; c < kd; c += kVectorFloats)
        for (int64_t x = 0; x < w; x += 8) {
          switch (w - x < 8 ? w - x : 8) {
            case 1: depthwise_pixels<1>(d, s.q_padded, padded_w, dw_weight, dw_bias, y, x, c, s.q); break;
            case 2: depthwise_pixels<2>(d, s.q_padded, padded_w, dw_weight, dw_bias, y, x, c, s.q); break;
            case 3: depthwise_pixels<3>(d, s.q_padded, padded_w, dw_weight, dw_bias, y, x, c, s.q); break;
            case 4: depthwise_pixels<4>(d, s.q_padded, padded_w, dw_weight, dw_bias, y, x, c, s.q); break;
            case 5: depthwise_pixels<5>(d, s.q_padded, padded_w, dw_weight, dw_bias, y, x, c, s.q); break;
            case 6: depthwise_pixels<6>(d, s.q_padded, padded_w, dw_weight, dw_bias, y, x, c, s.q); break;
            case 7: depthwise_pixels<7>(d, s.q_padded, padded_w, dw_weight, dw_bias, y, x, c, s.q); break;
            default: depthwise_pixels<8>(d, s.q_padded, padded_w, dw_weight, dw_bias, y, x, c, s.q); break;
          }
        }
  } else {
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        float* qd = s.q + (y * w + x) * kd;
        for (int64_t c = 0; c < kd; ++c) qd[c] = dw_bias ? dw_bias[c] : 0.f;
        for (int64_t ky = 0; ky < d.kernel_h; ++ky)
          for (int64_t kx = 0; kx < d.kernel_w; ++kx) {
            const float* src = s.q_padded + ((y + ky) * padded_w + x + kx) * kd;
            const float* wt = dw_weight + (ky * d.kernel_w + kx) * kd;
            for (int64_t c = 0; c < kd; ++c) qd[c] += wt[c] * src[c];
          }
      }
  }
  for (const QuantizeDequantizeParams& grid : d.q_grids)
    if (grid.scale > 0.f) quantize_dequantize_f32(s.q, s.q, static_cast<size_t>(n * kd), grid);
  // q transposed to channel rows at the lane-padded stride (padding lanes zero).
  for (int64_t c = 0; c < kd; ++c) {
    for (int64_t i = 0; i < n; ++i) s.q_t[c * stride + i] = s.q[i * kd + c];
    for (int64_t i = n; i < stride; ++i) s.q_t[c * stride + i] = 0.f;
  }

  // The scores transposed, S^T[j][i] = scale * k_j . q_i + bias[i][j], one row per key pixel j with
  // the query pixels i across the lanes: the softmax over j is then a column operation, vertical
  // across rows (max, exponentials, sums all whole vectors), and the result is P^T, the layout
  // out = v P^T reads. Padding lanes (i >= n) stay finite and are never stored.
  int64_t j0 = 0;
  for (; j0 + kScoreRows <= n; j0 += kScoreRows) score_rows<kScoreRows>(k, n, s.q_t, kd, stride, j0, s.probs_t);
  for (; j0 < n; ++j0) score_rows<1>(k, n, s.q_t, kd, stride, j0, s.probs_t);
  for (int64_t j = 0; j < n; ++j) {
    float* row = s.probs_t + j * stride;
    if (d.scores_grid.scale > 0.f) quantize_dequantize_f32(row, row, static_cast<size_t>(stride), d.scores_grid);
    const Vec scale = Vec{} + d.scale;
    for (int64_t i = 0; i < stride; i += kVectorFloats) {
      Vec logit = load_vec(row + i) * scale;
      if (bias_t) logit += load_vec(bias_t + j * stride + i);
      store_vec(row + i, logit);
    }
  }
  float* column_max = s.column;
  float* column_sum = s.column + stride;
  for (int64_t i = 0; i < stride; i += kVectorFloats) {
    Vec mx = load_vec(s.probs_t + i);
    for (int64_t j = 1; j < n; ++j) {
      const Vec x = load_vec(s.probs_t + j * stride + i);
      mx = x > mx ? x : mx;
    }
    store_vec(column_max + i, mx);
  }
  for (int64_t i = 0; i < stride; i += kVectorFloats) store_vec(column_sum + i, Vec{});
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < stride; i += kVectorFloats) {
      const Vec e = exp_nonpositive_vec(load_vec(s.probs_t + j * stride + i) - load_vec(column_max + i));
      store_vec(s.probs_t + j * stride + i, e);
      store_vec(column_sum + i, load_vec(column_sum + i) + e);
    }
  for (int64_t i = 0; i < stride; i += kVectorFloats) store_vec(column_sum + i, (Vec{} + 1.f) / load_vec(column_sum + i));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < stride; i += kVectorFloats)
      store_vec(s.probs_t + j * stride + i, load_vec(s.probs_t + j * stride + i) * load_vec(column_sum + i));
  if (d.probs_grid.scale > 0.f) quantize_dequantize_f32(s.probs_t, s.probs_t, static_cast<size_t>(n * stride), d.probs_grid);

  // out = v P^T, kAttentionOutRows rows x 16 pixels per register block.
  int64_t r = 0;
  for (; r + kAttentionOutRows <= vd; r += kAttentionOutRows)
    for (int64_t first = 0; first < n; first += kLanes)
      output_block<kAttentionOutRows>(v + r * n, s.probs_t, n, stride, first, out + r * n);
  for (; r < vd; ++r)
    for (int64_t first = 0; first < n; first += kLanes) output_block<1>(v + r * n, s.probs_t, n, stride, first, out + r * n);
}
