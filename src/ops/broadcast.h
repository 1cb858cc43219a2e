// Walks an output shape with per-operand broadcast strides, handing the innermost run to a callback
// so element loops stay tight. Adjacent axes that every operand reads contiguously are merged first,
// so a same-shape or bias-style broadcast becomes one long run instead of many short rows. Rows are
// independent, so they are shared among the calling Session's threads (--threads N) when there are
// enough of them.
#pragma once

#include <omp.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "effvit/tensor.h"
#include "ops/parallel.h"

namespace effvit {

// Steps a row-major multi-index through `shape` (last axis fastest).
inline void next_index(std::vector<int64_t>& idx, const Shape& shape) {
  for (size_t d = idx.size(); d-- > 0;) {
    if (++idx[d] < shape[d]) return;
    idx[d] = 0;
  }
}

// row(offsets[N], out_offset, length, inner_strides[N]) is called once per innermost run.
template <size_t N, typename F>
void for_each_row(const Shape& out_shape, const std::vector<int64_t> (&operand_strides)[N], F&& row) {
  if (shape_numel(out_shape) == 0) return;
  Shape shape;
  std::vector<int64_t> strides[N];
  for (size_t d = 0; d < out_shape.size(); ++d) {
    if (out_shape[d] == 1) continue;  // size-1 axes never move an offset
    const bool mergeable = !shape.empty() && [&] {
      for (size_t k = 0; k < N; ++k)
        if (strides[k].back() != operand_strides[k][d] * out_shape[d]) return false;
      return true;
    }();
    if (mergeable) {
      shape.back() *= out_shape[d];
      for (size_t k = 0; k < N; ++k) strides[k].back() = operand_strides[k][d];
    } else {
      shape.push_back(out_shape[d]);
      for (size_t k = 0; k < N; ++k) strides[k].push_back(operand_strides[k][d]);
    }
  }
  int64_t inner_stride[N];
  if (shape.empty()) {
    int64_t offs[N] = {};
    for (size_t k = 0; k < N; ++k) inner_stride[k] = 0;
    row(offs, int64_t{0}, int64_t{1}, inner_stride);
    return;
  }
  const size_t rank = shape.size();
  const int64_t inner = shape[rank - 1];
  for (size_t k = 0; k < N; ++k) inner_stride[k] = strides[k][rank - 1];
  const Shape outer(shape.begin(), shape.end() - 1);
  const int64_t rows = shape_numel(outer);
  // Sessions set the OpenMP thread count to their --threads before running.
  parallel_for(omp_get_max_threads(), rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(inner, 1)),
               [&](int64_t first, int64_t last) {
                 std::vector<int64_t> idx(rank - 1, 0);
                 for (size_t d = rank - 1, rest = static_cast<size_t>(first); d-- > 0;) {
                   idx[d] = static_cast<int64_t>(rest % static_cast<size_t>(outer[d]));
                   rest /= static_cast<size_t>(outer[d]);
                 }
                 for (int64_t r = first; r < last; ++r) {
                   int64_t offs[N];
                   for (size_t k = 0; k < N; ++k) {
                     offs[k] = 0;
                     for (size_t d = 0; d + 1 < rank; ++d) offs[k] += idx[d] * strides[k][d];
                   }
                   row(offs, r * inner, inner, inner_stride);
                   next_index(idx, outer);
                 }
               });
}

// dst (dense, shaped `out`) = elements of `src` at base + sum(idx[d] * strides[d]), for element
// sizes 1, 4 and 8. Transpose, Slice and Expand are all this one strided gather.
inline void strided_gather(const void* src, int64_t base, const std::vector<int64_t>& strides, void* dst,
                           const Shape& out, size_t elem) {
  const std::vector<int64_t> st[1] = {strides};
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
    case 4: run(uint32_t{}); break;
    default: run(uint64_t{}); break;
  }
}

}  // namespace effvit
