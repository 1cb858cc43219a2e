// Internal: the float core of resize_bilinear, shared with preprocessing.
#pragma once

#include <vector>

#include "effvit/image.h"

namespace effvit {

// Resamples `image` to out_width x out_height like resize_bilinear, but evaluates only the window
// of `width` x `height` output pixels starting at (left, top), which must lie inside the output.
// Returns interleaved RGB floats in 0..255, unrounded, so callers lose no precision to u8.
std::vector<float> resample_window(const Image& image, int out_width, int out_height, int left, int top, int width,
                                   int height);

}  // namespace effvit
