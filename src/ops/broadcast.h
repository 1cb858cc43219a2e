// Walks an output shape with per-operand broadcast strides, handing the innermost run to a callback
// so element loops stay tight. Adjacent axes that every operand reads contiguously are merged first,
// so a same-shape or bias-style broadcast becomes one long run instead of many short rows. Rows are
// independent, so they are shared among the calling Session's threads (--threads N) when there are
// enough of them.
#pragma once

#include <omp.h>

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/hardware.h"
#include "effvit/error.h"
#include "kernels/kernels.h"
#include "effvit/tensor.h"
#include "ops/op.h"
#include "ops/parallel.h"

namespace effvit {

// Steps a row-major multi-index through `shape` (last axis fastest).
inline void next_index(std::vector<int64_t>& idx, const Shape& shape) {
  for (size_t d = idx.size(); d-- > 0;) {
    if (++idx[d] < shape[d]) return;
    idx[d] = 0;
  }
}

// Axes a strided walk handles: a run allocates nothing, offsets and indices live in fixed arrays.
// Shapes are capped at load (kMaxRank), and after dropping size-1 axes at most 36 remain (each
// other axis at least doubles the element count, capped at 2^36).
constexpr size_t kMaxWalkRank = kMaxRank;

// broadcast_strides() into a caller's array, for element loops that must not allocate.
inline void broadcast_strides_into(const Shape& shape, const Shape& out, int64_t (&strides)[kMaxWalkRank]) {
  if (out.size() > kMaxWalkRank)
    throw Error(ErrorKind::unsupported, "tensors of more than " + std::to_string(kMaxWalkRank) + " axes (shape " + shape_str(out) + ")");
  std::fill(strides, strides + kMaxWalkRank, 0);
  int64_t stride = 1;
  const size_t offset = out.size() - shape.size();
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i + offset] = shape[i] == 1 ? 0 : stride;
    stride *= shape[i];
  }
}

// row(offsets[N], out_offset, length, inner_strides[N]) is called once per innermost run;
// operand_strides[k] has one stride per axis of out_shape.
template <size_t N, typename F>
void for_each_row(const Shape& out_shape, const int64_t* const (&operand_strides)[N], F&& row) {
  if (shape_numel(out_shape) == 0) return;
  int64_t shape[kMaxWalkRank];
  int64_t strides[N][kMaxWalkRank];
  size_t rank = 0;
  for (size_t d = 0; d < out_shape.size(); ++d) {
    if (out_shape[d] == 1) continue;  // size-1 axes never move an offset
    const bool mergeable = rank > 0 && [&] {
      for (size_t k = 0; k < N; ++k)
        if (strides[k][rank - 1] != operand_strides[k][d] * out_shape[d]) return false;
      return true;
    }();
    if (mergeable) {
      shape[rank - 1] *= out_shape[d];
      for (size_t k = 0; k < N; ++k) strides[k][rank - 1] = operand_strides[k][d];
      continue;
    }
    if (rank == kMaxWalkRank)
      throw Error(ErrorKind::unsupported, "a tensor of shape " + shape_str(out_shape) + " has more than " +
                                              std::to_string(kMaxWalkRank) + " axes");
    shape[rank] = out_shape[d];
    for (size_t k = 0; k < N; ++k) strides[k][rank] = operand_strides[k][d];
    ++rank;
  }
  int64_t inner_stride[N];
  if (rank == 0) {
    int64_t offs[N] = {};
    for (size_t k = 0; k < N; ++k) inner_stride[k] = 0;
    row(offs, int64_t{0}, int64_t{1}, inner_stride);
    return;
  }
  const int64_t inner = shape[rank - 1];
  for (size_t k = 0; k < N; ++k) inner_stride[k] = strides[k][rank - 1];
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows *= shape[d];
  // Sessions set the OpenMP thread count to their --threads before running.
  parallel_for(omp_get_max_threads(), rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(inner, 1)),
               [&](int64_t first, int64_t last) {
                 int64_t idx[kMaxWalkRank] = {};
                 for (size_t d = rank - 1, rest = static_cast<size_t>(first); d-- > 0;) {
                   idx[d] = static_cast<int64_t>(rest % static_cast<size_t>(shape[d]));
                   rest /= static_cast<size_t>(shape[d]);
                 }
                 for (int64_t r = first; r < last; ++r) {
                   int64_t offs[N];
                   for (size_t k = 0; k < N; ++k) {
                     offs[k] = 0;
                     for (size_t d = 0; d + 1 < rank; ++d) offs[k] += idx[d] * strides[k][d];
                   }
                   row(offs, r * inner, inner, inner_stride);
                   for (size_t d = rank - 1; d-- > 0;) {  // next row-major index of the outer axes
                     if (++idx[d] < shape[d]) break;
                     idx[d] = 0;
                   }
                 }
               });
}

// A gather that is a batch of 2-D transposes: out[b][r][c] = src[b * batch_stride + r + c * src_ld]
// (NCHW <-> NHWC and its windowed forms). Found once the walk's mergeable axes are merged.
struct BatchedTranspose {
  int64_t batch = 0, rows = 0, cols = 0, batch_stride = 0, src_ld = 0;
};

inline bool as_batched_transpose(const Shape& out, const std::vector<int64_t>& strides, BatchedTranspose& t) {
  int64_t shape[3], stride[3];
  size_t rank = 0;
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    if (rank > 0 && stride[rank - 1] == strides[d] * out[d]) {
      shape[rank - 1] *= out[d];
      stride[rank - 1] = strides[d];
      continue;
    }
    if (rank == 3) return false;
    shape[rank] = out[d];
    stride[rank] = strides[d];
    ++rank;
  }
  if (rank < 2 || stride[rank - 2] != 1 || stride[rank - 1] == 1) return false;
  t.batch = rank == 3 ? shape[0] : 1;
  t.batch_stride = rank == 3 ? stride[0] : 0;
  t.rows = shape[rank - 2];
  t.cols = shape[rank - 1];
  t.src_ld = stride[rank - 1];
  return true;
}

// dst (dense, shaped `out`) = elements of `src` at base + sum(idx[d] * strides[d]), for element
// sizes 1, 4 and 8. Transpose, Slice and Expand are all this one strided gather.
inline void strided_gather(const void* src, int64_t base, const std::vector<int64_t>& strides, void* dst,
                           const Shape& out, size_t elem) {
  if (shape_numel(out) == 0) return;
  BatchedTranspose t;
  if (elem == 4 && as_batched_transpose(out, strides, t)) {
    const auto transpose = hardware().kernels->transpose_u32;
    const uint32_t* s = static_cast<const uint32_t*>(src) + base;
    auto* d = static_cast<uint32_t*>(dst);
    // Bands of 8 output rows, shared among the Session's threads (at least 16k elements each);
    // with fewer bands than threads (an NHWC -> NCHW image of 3 channels) the columns split too.
    const int threads = omp_get_max_threads();
    const int64_t bands = (t.rows + 7) / 8;
    const int64_t col_chunks = t.batch * bands < threads ? std::min<int64_t>(threads, (t.cols + 7) / 8) : 1;
    const int64_t chunk_cols = ((t.cols + col_chunks - 1) / col_chunks + 7) / 8 * 8;
    parallel_for(threads, t.batch * bands * col_chunks, std::max<int64_t>(1, 16384 / (8 * chunk_cols)), [&](int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) {
        const int64_t b = i / (bands * col_chunks), band = i / col_chunks % bands, c0 = i % col_chunks * chunk_cols;
        const int64_t r = band * 8, rows = std::min<int64_t>(8, t.rows - r), cols = std::min(chunk_cols, t.cols - c0);
        if (cols > 0)
          transpose(s + b * t.batch_stride + r + c0 * t.src_ld, rows, cols, t.src_ld, d + (b * t.rows + r) * t.cols + c0, t.cols);
      }
    });
    return;
  }
  const int64_t* const st[1] = {strides.data()};
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* s = static_cast<const T*>(src) + base;
    T* d = static_cast<T*>(dst);
    for_each_row<1>(out, st, [&](const int64_t* offs, int64_t o, int64_t len, const int64_t* inner) {
      if (inner[0] == 1) {
        std::memcpy(d + o, s + offs[0], static_cast<size_t>(len) * sizeof(T));
      } else {
        for (int64_t j = 0; j < len; ++j) d[o + j] = s[offs[0] + j * inner[0]];
      }
    });
  };
  switch (elem) {
    case 1: run(uint8_t{}); break;
    case 2: run(uint16_t{}); break;  // 16-bit codes, bf16
    case 4: run(uint32_t{}); break;
    case 8: run(uint64_t{}); break;
    default: throw Error("internal error: strided gather of " + std::to_string(elem) + "-byte elements");
  }
}

// A strided gather whose source offsets are fixed at plan time (Transpose, Slice and Expand with
// constant parameters): a run reads no parameters and allocates nothing.
class StridedGatherKernel final : public Kernel {
 public:
  StridedGatherKernel(int64_t base, std::vector<int64_t> strides, Shape out, size_t elem)
      : base_(base), strides_(std::move(strides)), out_(std::move(out)), elem_(elem) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    strided_gather(in[0]->raw(), base_, strides_, out[0]->raw(), out_, elem_);
  }

 private:
  int64_t base_;
  std::vector<int64_t> strides_;
  Shape out_;
  size_t elem_;
};

}  // namespace effvit
