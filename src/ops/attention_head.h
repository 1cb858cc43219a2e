// effvit.AttentionHead (see attention_head.cpp): how a node's attributes and shapes become the
// kernel's dimensions, shared with the tests that drive the kernels directly.
#pragma once

#include "ir/graph.h"
#include "kernels/kernels.h"

namespace effvit {

AttentionHeadDims attention_head_dims(const Node& node, const Shape& qkv, const Shape& dw_weight);
// One intermediate's grid as the node's six-float attribute (k_grid, ...).
std::vector<float> attention_grid_floats(const QuantizeDequantizeParams& grid);

}  // namespace effvit
