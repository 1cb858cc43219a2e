// Walks an output shape with per-operand broadcast strides, handing the innermost dimension to a
// callback so element loops stay tight. Shared by the binary and ternary elementwise ops.
#pragma once

#include <cstdint>
#include <vector>

#include "effvit/tensor.h"

namespace effvit {

// Steps a row-major multi-index through `shape` (last axis fastest).
inline void next_index(std::vector<int64_t>& idx, const Shape& shape) {
  for (size_t d = idx.size(); d-- > 0;) {
    if (++idx[d] < shape[d]) return;
    idx[d] = 0;
  }
}

template <size_t N, typename F>
void for_each_row(const Shape& out, const std::vector<int64_t> (&strides)[N], F&& row) {
  const size_t rank = out.size();
  if (shape_numel(out) == 0) return;
  if (rank == 0) {
    int64_t offs[N] = {};
    row(offs, int64_t{0}, int64_t{1}, strides, /*inner_axis=*/-1);
    return;
  }
  const int64_t inner = out[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t out_offset = 0;
  for (;;) {
    int64_t offs[N];
    for (size_t k = 0; k < N; ++k) {
      offs[k] = 0;
      for (size_t d = 0; d + 1 < rank; ++d) offs[k] += idx[d] * strides[k][d];
    }
    row(offs, out_offset, inner, strides, static_cast<int>(rank - 1));
    out_offset += inner;
    size_t d = rank - 1;
    for (;;) {
      if (d == 0) return;
      --d;
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace effvit
