#include "image/contact_sheet.h"

#include <algorithm>
#include <cmath>

#include "effvit/error.h"
#include "image/font.h"

namespace effvit {
namespace {

constexpr int kTextScale = 2;
constexpr int kPad = 16;
constexpr int kLineHeight = (kGlyphHeight + 2) * kTextScale;

Image fit(const Image& image, int cell) {
  const double f = std::min(static_cast<double>(cell) / image.width, static_cast<double>(cell) / image.height);
  const int width = std::clamp(static_cast<int>(std::lround(image.width * f)), 1, cell);
  const int height = std::clamp(static_cast<int>(std::lround(image.height * f)), 1, cell);
  return resize_bilinear(image, width, height);
}

void paste(Image& sheet, const Image& image, int left, int top) {
  for (int y = 0; y < image.height; ++y)
    std::copy_n(&image.rgb[static_cast<size_t>(y) * image.width * 3], static_cast<size_t>(image.width) * 3,
                &sheet.rgb[(static_cast<size_t>(top + y) * sheet.width + left) * 3]);
}

}  // namespace

Image render_contact_sheet(const std::vector<SheetItem>& items, int columns, int cell) {
  if (items.empty()) throw Error(ErrorKind::invalid_input, "contact sheet: no images");
  if (columns <= 0 || cell <= 0)
    throw Error(ErrorKind::invalid_input, "contact sheet: invalid layout (" + std::to_string(columns) + " columns, cell " +
                std::to_string(cell) + ")");

  int column_width = cell;
  size_t lines = 0;
  for (const SheetItem& item : items) {
    lines = std::max(lines, item.lines.size());
    for (const SheetLine& line : item.lines) column_width = std::max(column_width, text_width(line.text, kTextScale));
  }
  const int text_height = lines ? kPad / 2 + static_cast<int>(lines) * kLineHeight : 0;
  const int tile_height = cell + text_height;
  const int count = static_cast<int>(items.size());
  const int cols = std::min(columns, count);
  const int rows = (count + cols - 1) / cols;

  Image sheet;
  sheet.width = cols * column_width + (cols + 1) * kPad;
  sheet.height = rows * tile_height + (rows + 1) * kPad;
  sheet.rgb.assign(static_cast<size_t>(sheet.width) * sheet.height * 3, 255);
  for (int i = 0; i < count; ++i) {
    const int left = kPad + (i % cols) * (column_width + kPad);
    const int top = kPad + (i / cols) * (tile_height + kPad);
    const Image scaled = fit(items[i].image, cell);
    paste(sheet, scaled, left + (column_width - scaled.width) / 2, top + (cell - scaled.height) / 2);
    int y = top + cell + kPad / 2;
    for (const SheetLine& line : items[i].lines) {
      draw_text(sheet, left + (column_width - text_width(line.text, kTextScale)) / 2, y, line.text, line.rgb,
                kTextScale);
      y += kLineHeight;
    }
  }
  return sheet;
}

}  // namespace effvit
