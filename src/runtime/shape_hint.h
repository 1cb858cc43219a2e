// What a shape that does not fit a model's input most likely is, said as the fix: the two slips
// that make nearly every such error are an image array left channels-last (HWC, as image libraries
// and NumPy hand it over) and a single image without its batch dimension.
#pragma once

#include <string>

#include "effvit/tensor.h"

namespace effvit {

// `got` fits `wanted`: the same rank, and the same size on every fixed dimension (-1: any).
bool shape_fits(const Shape& wanted, const Shape& got);

// "; it looks channels-last (NHWC): x.transpose(0, 3, 1, 2)" and the like, or "" when the shape
// is neither slip. `wanted` may hold -1 for a free dimension.
std::string shape_mismatch_hint(const Shape& wanted, const Shape& got);

}  // namespace effvit
