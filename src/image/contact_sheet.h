// Internal: a labelled grid of images, for looking over a model's predictions at a glance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "effvit/image.h"

namespace effvit {

struct SheetLine {
  std::string text;  // printable ASCII; other bytes show as '?'
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
// to fit a cell x cell square; columns widen when a text line would not fit under it.
Image render_contact_sheet(const std::vector<SheetItem>& items, int columns, int cell = 160);

}  // namespace effvit
