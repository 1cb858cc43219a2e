#pragma once

#include <array>

#include "ir/graph.h"
#include "kernels/kernels.h"

namespace effvit {

// An 8-bit sum's parameters (effvit.QuantizedAdd, or a conv's folded residual) from its constant
// scalar grids: a's scale and zero point, b's, y's, in that order; the codes' types say the signs.
AddRequantizeParams quantized_add_params(const Graph& graph, const std::array<ValueId, 6>& grids, DType a, DType b, DType y);

}  // namespace effvit
