// Internal: a labelled grid of images, for looking over a model's predictions at a glance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "effvit/image.h"

namespace effvit {

struct SheetLine {
  std::string text;  // UTF-8 (drawn with Pango: a character no installed font has shows as a box, a
                     // byte that is not UTF-8 as U+FFFD)
  uint32_t rgb = 0;  // 0xRRGGBB
};

// Readable on the sheet's white background.
constexpr uint32_t kSheetCorrect = 0x1a8a2a;
constexpr uint32_t kSheetWrong = 0xd0201a;

struct SheetItem {
  Image image;
  std::vector<SheetLine> lines;  // drawn under the image, e.g. "pred: Sneaker 97%", "true: Sneaker"
};

// Lays items out left to right, `columns` per row. Each image is scaled, keeping its aspect ratio,
// to fit a cell x cell square; columns widen when a text line would not fit under it. Text lines are
// centred under their image in a sans font of 15 pixels; one wider than 4096 pixels ends in an ellipsis.
Image render_contact_sheet(const std::vector<SheetItem>& items, int columns, int cell = 160);

}  // namespace effvit
