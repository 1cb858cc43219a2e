#include "image/contact_sheet.h"

#include <cairo.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "effvit/error.h"

namespace effvit {
namespace {

constexpr int kPad = 16;
// The pitch of the text lines under an image; a script whose glyphs are taller gets more.
constexpr int kLineHeight = 22;
// Sans at a fixed pixel size (independent of any screen resolution), the font the quantization
// report's plots use too; fontconfig falls back per character to a font that has it (CJK, ...).
constexpr const char* kFont = "Sans 15px";
// A longer line ends in an ellipsis (a Cairo surface is at most 32767 pixels wide).
constexpr int kMaxLineWidth = 4096;

struct GObjectUnref {
  void operator()(void* p) const { g_object_unref(p); }
};
using Context = std::unique_ptr<PangoContext, GObjectUnref>;
using Layout = std::unique_ptr<PangoLayout, GObjectUnref>;

// One line of text, shaped and measured (pixels, relative to the layout's origin).
struct Text {
  Layout layout;
  PangoRectangle ink{}, logical{};
  int baseline = 0;  // from the top of the logical rectangle
  uint32_t rgb = 0;
};

Text shape(PangoContext* context, const PangoFontDescription* font, const SheetLine& line) {
  // Labels come from user files: bytes that are not UTF-8 show as U+FFFD rather than ending the text.
  gchar* utf8 = g_utf8_make_valid(line.text.data(), static_cast<gssize>(line.text.size()));
  Text t{Layout(pango_layout_new(context)), {}, {}, 0, line.rgb};
  PangoLayout* layout = t.layout.get();
  pango_layout_set_font_description(layout, font);
  pango_layout_set_single_paragraph_mode(layout, TRUE);  // a newline shows as a symbol, the line stays one line
  pango_layout_set_text(layout, utf8, -1);
  g_free(utf8);
  pango_layout_get_pixel_extents(layout, &t.ink, &t.logical);
  if (t.logical.width > kMaxLineWidth) {
    pango_layout_set_width(layout, kMaxLineWidth * PANGO_SCALE);
    pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
    pango_layout_get_pixel_extents(layout, &t.ink, &t.logical);
  }
  t.baseline = pango_layout_get_baseline(layout) / PANGO_SCALE - t.logical.y;
  return t;
}

// Draws `t` with its layout origin at (x, y), blending its colour over the sheet by coverage.
void draw(Image& sheet, const Text& t, int x, int y) {
  // The union of the ink and logical rectangles: accents and overhangs may reach past the latter.
  const int x0 = std::min(t.ink.x, t.logical.x), y0 = std::min(t.ink.y, t.logical.y);
  const int x1 = std::max(t.ink.x + t.ink.width, t.logical.x + t.logical.width);
  const int y1 = std::max(t.ink.y + t.ink.height, t.logical.y + t.logical.height);
  if (x1 <= x0 || y1 <= y0) return;
  cairo_surface_t* mask = cairo_image_surface_create(CAIRO_FORMAT_A8, x1 - x0, y1 - y0);
  if (cairo_surface_status(mask) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(mask);
    throw Error(ErrorKind::invalid_input, "contact sheet: cannot draw a text line of " + std::to_string(x1 - x0) + "x" +
                std::to_string(y1 - y0) + " pixels");
  }
  cairo_t* cr = cairo_create(mask);
  cairo_move_to(cr, -x0, -y0);
  pango_cairo_show_layout(cr, t.layout.get());
  cairo_destroy(cr);
  cairo_surface_flush(mask);
  const unsigned char* data = cairo_image_surface_get_data(mask);
  const int stride = cairo_image_surface_get_stride(mask);
  const int colour[3] = {static_cast<int>(t.rgb >> 16 & 0xff), static_cast<int>(t.rgb >> 8 & 0xff), static_cast<int>(t.rgb & 0xff)};
  for (int my = 0; my < y1 - y0; ++my) {
    const int sy = y + y0 + my;
    if (sy < 0 || sy >= sheet.height) continue;
    for (int mx = 0; mx < x1 - x0; ++mx) {
      const int sx = x + x0 + mx, a = data[static_cast<size_t>(my) * stride + mx];
      if (a == 0 || sx < 0 || sx >= sheet.width) continue;
      uint8_t* p = &sheet.rgb[(static_cast<size_t>(sy) * sheet.width + sx) * 3];
      for (int c = 0; c < 3; ++c) p[c] = static_cast<uint8_t>((p[c] * (255 - a) + colour[c] * a + 127) / 255);
    }
  }
  cairo_surface_destroy(mask);
}

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

  // Shaped once: measuring decides the layout, then the same layouts are drawn. Grey antialiasing
  // (a PNG's pixels have no subpixel order), whatever fontconfig says.
  Context context(pango_font_map_create_context(pango_cairo_font_map_get_default()));
  cairo_font_options_t* options = cairo_font_options_create();
  cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY);
  cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_ON);
  pango_cairo_context_set_font_options(context.get(), options);
  cairo_font_options_destroy(options);
  PangoFontDescription* font = pango_font_description_from_string(kFont);
  std::vector<std::vector<Text>> texts(items.size());
  for (size_t i = 0; i < items.size(); ++i)
    for (const SheetLine& line : items[i].lines) texts[i].push_back(shape(context.get(), font, line));
  pango_font_description_free(font);

  // Every line's baseline sits at the same height in its slot, so a row's labels line up whatever
  // fonts their characters came from.
  int column_width = cell, ascent = 0, descent = 0;
  size_t lines = 0;
  for (const auto& item : texts) {
    lines = std::max(lines, item.size());
    for (const Text& t : item) {
      column_width = std::max(column_width, t.logical.width);
      ascent = std::max(ascent, t.baseline);
      descent = std::max(descent, t.logical.height - t.baseline);
    }
  }
  const int line_height = std::max(kLineHeight, ascent + descent);
  const int baseline = (line_height - ascent - descent) / 2 + ascent;
  const int text_height = lines ? kPad / 2 + static_cast<int>(lines) * line_height : 0;
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
    for (const Text& t : texts[i]) {
      // Centred by the logical rectangle (what the text advances), which may not start at the origin.
      draw(sheet, t, left + (column_width - t.logical.width) / 2 - t.logical.x, y + baseline - t.baseline - t.logical.y);
      y += line_height;
    }
  }
  return sheet;
}

}  // namespace effvit
