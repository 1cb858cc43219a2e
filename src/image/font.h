// Internal: a built-in bitmap font so effvit can label images without a font library.
#pragma once

#include <cstdint>
#include <string_view>

#include "effvit/image.h"

namespace effvit {

// Glyphs are 5x9 cells (7 rows above the baseline, 2 for descenders) drawn on a 6-pixel advance,
// each font pixel becoming a scale x scale block.
constexpr int kGlyphWidth = 5;
constexpr int kGlyphHeight = 9;
constexpr int kGlyphAdvance = 6;

int text_width(std::string_view text, int scale);

// Draws printable ASCII with its top-left corner at (x, y), clipped to the image; any other byte
// shows as '?'. rgb is 0xRRGGBB.
void draw_text(Image& image, int x, int y, std::string_view text, uint32_t rgb, int scale);

}  // namespace effvit
