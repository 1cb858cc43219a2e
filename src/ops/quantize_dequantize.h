// effvit.QuantizeDequantize (see quantize_dequantize.cpp): a node's constant parameters as the
// kernels take them, shared with the passes that fold round trips into other kernels.
#pragma once

#include <optional>

#include "ir/graph.h"
#include "kernels/kernels.h"

namespace effvit {

// The round trip's grid, or nothing when a parameter is not a constant scalar of a code type.
std::optional<QuantizeDequantizeParams> round_trip_params(const Graph& graph, const Node& node);
// The codes' range of an 8- or 16-bit integer type, as floats ([0, 255] for uint8, ...).
std::pair<float, float> code_range(DType codes);

}  // namespace effvit
