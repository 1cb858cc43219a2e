#include <gtest/gtest.h>
#include <spng.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "effvit/error.h"
#include "effvit/image.h"
#include "image/contact_sheet.h"
#include "image/resample.h"
#include "test_util.h"

namespace effvit {
namespace {

namespace fs = std::filesystem;

class ImageTest : public test::TempDirTest {};

Image random_image(int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  Image image{width, height, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3)};
  for (uint8_t& v : image.rgb) v = static_cast<uint8_t>(rng());
  return image;
}

// Smooth content, so JPEG's loss stays small enough to compare against the source.
Image gradient_image(int width, int height) {
  Image image{width, height, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3)};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &image.rgb[(static_cast<size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>(255 * x / (width - 1));
      p[1] = static_cast<uint8_t>(255 * y / (height - 1));
      p[2] = 96;
    }
  return image;
}

Image constant_image(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  Image image{width, height, {}};
  for (int i = 0; i < width * height; ++i) image.rgb.insert(image.rgb.end(), {r, g, b});
  return image;
}

std::vector<uint8_t> encode_jpeg(const Image& image, int subsamp, int quality) {
  tjhandle tj = tjInitCompress();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  int rc = tjCompress2(tj, image.rgb.data(), image.width, 0, image.height, TJPF_RGB, &buffer, &size, subsamp,
                       quality, TJFLAG_ACCURATEDCT);
  EXPECT_EQ(rc, 0) << tjGetErrorStr2(tj);
  std::vector<uint8_t> bytes(buffer, buffer + size);
  tjFree(buffer);
  tjDestroy(tj);
  return bytes;
}

// Encodes raw PNG samples (already in the layout ihdr describes) with an optional palette.
std::vector<uint8_t> encode_png(spng_ihdr ihdr, const std::vector<uint8_t>& samples, const spng_plte* plte = nullptr) {
  spng_ctx* ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  spng_set_ihdr(ctx, &ihdr);
  if (plte) spng_set_plte(ctx, const_cast<spng_plte*>(plte));
  int rc = spng_encode_image(ctx, samples.data(), samples.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  EXPECT_EQ(rc, 0) << spng_strerror(rc);
  size_t size = 0;
  void* buffer = spng_get_png_buffer(ctx, &size, &rc);
  std::vector<uint8_t> bytes(static_cast<uint8_t*>(buffer), static_cast<uint8_t*>(buffer) + size);
  std::free(buffer);
  spng_ctx_free(ctx);
  return bytes;
}

spng_ihdr png_header(int width, int height, uint8_t color_type, uint8_t bit_depth) {
  spng_ihdr ihdr{};
  ihdr.width = width;
  ihdr.height = height;
  ihdr.color_type = color_type;
  ihdr.bit_depth = bit_depth;
  return ihdr;
}

using test::expect_error;

TEST_F(ImageTest, PngRoundTripLeavesNoTemporaryFiles) {
  Image image = random_image(37, 23, 1);
  write_png(path("a.png"), image);
  write_png(path("a.png"), image);  // overwriting goes through the same rename
  Image back = read_image(path("a.png"));
  EXPECT_EQ(back.width, 37);
  EXPECT_EQ(back.height, 23);
  EXPECT_EQ(back.rgb, image.rgb);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(ImageTest, PngColorTypesDecodeToRgb) {
  const std::vector<uint8_t> gray = {0, 100, 200, 255};
  auto expect_gray = [&](const Image& image) {
    ASSERT_EQ(image.width, 2);
    ASSERT_EQ(image.height, 2);
    for (int i = 0; i < 4; ++i)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(image.rgb[i * 3 + c], gray[i]) << "pixel " << i;
  };
  expect_gray(decode_image(encode_png(png_header(2, 2, SPNG_COLOR_TYPE_GRAYSCALE, 8), gray), "gray.png"));
  expect_gray(decode_image(encode_png(png_header(2, 2, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, 8),
                                      {0, 1, 100, 2, 200, 3, 255, 4}),
                           "gray_alpha.png"));

  // spng takes 16-bit samples in host order; decoding keeps their high byte.
  std::vector<uint8_t> rgb16(12 * 2);
  for (int i = 0; i < 12; ++i) {
    uint16_t sample = static_cast<uint16_t>((10 * (i + 1)) << 8 | 0x7f);
    std::memcpy(&rgb16[i * 2], &sample, 2);
  }
  Image deep = decode_image(encode_png(png_header(2, 2, SPNG_COLOR_TYPE_TRUECOLOR, 16), rgb16), "deep.png");
  EXPECT_EQ(deep.rgb, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120}));

  Image rgba = decode_image(encode_png(png_header(2, 1, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, 8), {1, 2, 3, 0, 4, 5, 6, 9}),
                            "rgba.png");
  EXPECT_EQ(rgba.rgb, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));

  spng_plte plte{};
  plte.n_entries = 2;
  plte.entries[0] = {200, 10, 20, 255};
  plte.entries[1] = {30, 40, 250, 255};
  Image indexed = decode_image(encode_png(png_header(3, 1, SPNG_COLOR_TYPE_INDEXED, 8), {1, 0, 1}, &plte),
                               "indexed.png");
  EXPECT_EQ(indexed.rgb, (std::vector<uint8_t>{30, 40, 250, 200, 10, 20, 30, 40, 250}));
}

TEST_F(ImageTest, JpegDecodesCloseToSource) {
  Image source = gradient_image(64, 48);
  write_bytes("photo.jpg", encode_jpeg(source, TJSAMP_444, 95));
  Image color = read_image(path("photo.jpg"));
  ASSERT_EQ(color.width, 64);
  ASSERT_EQ(color.height, 48);
  double total = 0;
  for (size_t i = 0; i < source.rgb.size(); ++i) {
    int diff = std::abs(int(color.rgb[i]) - int(source.rgb[i]));
    EXPECT_LE(diff, 12) << "byte " << i;
    total += diff;
  }
  EXPECT_LT(total / source.rgb.size(), 2.0);

  Image gray = decode_image(encode_jpeg(source, TJSAMP_GRAY, 90), "gray.jpg");
  for (size_t i = 0; i < gray.rgb.size(); i += 3) {
    EXPECT_EQ(gray.rgb[i], gray.rgb[i + 1]);
    EXPECT_EQ(gray.rgb[i], gray.rgb[i + 2]);
  }
}

TEST_F(ImageTest, FormatComesFromContentNotExtension) {
  write_bytes("really_a_jpeg.png", encode_jpeg(gradient_image(16, 16), TJSAMP_420, 90));
  EXPECT_EQ(read_image(path("really_a_jpeg.png")).width, 16);
}

TEST_F(ImageTest, ReadErrorsNameTheFile) {
  expect_error([&] { read_image(path("missing.png")); }, {path("missing.png"), "cannot open file", "No such file"});
  expect_error([&] { read_image(dir_.string()); }, {dir_.string(), "a folder, not an image file"});

  write_bytes("notes.jpg", std::string("hello\n"));
  expect_error([&] { read_image(path("notes.jpg")); }, {path("notes.jpg"), "not a JPEG, PNG, WebP or BMP image"});
  write_bytes("empty.png", std::string());
  expect_error([&] { read_image(path("empty.png")); }, {path("empty.png"), "empty file"});

  write_png(path("whole.png"), random_image(32, 32, 2));
  std::vector<uint8_t> png = read_bytes<std::vector<uint8_t>>("whole.png");
  png.resize(png.size() / 2);
  write_bytes("cut.png", png);
  expect_error([&] { read_image(path("cut.png")); }, {path("cut.png"), "corrupt PNG: "});

  std::vector<uint8_t> jpeg = encode_jpeg(random_image(64, 64, 3), TJSAMP_444, 90);
  jpeg.resize(jpeg.size() / 2);
  write_bytes("cut.jpg", jpeg);
  expect_error([&] { read_image(path("cut.jpg")); }, {path("cut.jpg"), "corrupt JPEG: "});
  expect_error([&] { decode_image({0xff, 0xd8, 0xff, 0xe0, 0, 0}, "header.jpg"); }, {"header.jpg: corrupt JPEG: "});
}

TEST_F(ImageTest, WriteErrorsNameTheFile) {
  std::string target = path("no_such_dir/out.png");
  expect_error([&] { write_png(target, random_image(4, 4, 4)); }, {target, "cannot create file"});
  expect_error([&] { write_png(path("bad.png"), Image{4, 4, std::vector<uint8_t>(5)}); }, {path("bad.png")});
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 0);
}

// The definition of the resampler, written out directly: every output pixel is a normalised
// triangle-weighted sum over the whole input, with no separability or tap windows.
std::vector<double> direct_resize(const Image& image, int out_width, int out_height) {
  auto weight = [](int in_size, int out_size, int i, int o) {
    double scale = double(in_size) / out_size, support = std::max(scale, 1.0);
    return std::max(0.0, 1.0 - std::abs(i + 0.5 - (o + 0.5) * scale) / support);
  };
  std::vector<double> out;
  for (int oy = 0; oy < out_height; ++oy)
    for (int ox = 0; ox < out_width; ++ox)
      for (int c = 0; c < 3; ++c) {
        double sum = 0, total = 0;
        for (int y = 0; y < image.height; ++y)
          for (int x = 0; x < image.width; ++x) {
            double w = weight(image.width, out_width, x, ox) * weight(image.height, out_height, y, oy);
            sum += w * image.rgb[(static_cast<size_t>(y) * image.width + x) * 3 + c];
            total += w;
          }
        out.push_back(sum / total);
      }
  return out;
}

TEST(Resize, MatchesDirectDefinitionUpAndDown) {
  std::mt19937 rng(7);
  auto size = [&] { return static_cast<int>(rng() % 40) + 1; };
  for (int trial = 0; trial < 30; ++trial) {
    Image image = random_image(size(), size(), trial);
    int width = size(), height = size();
    std::vector<double> expected = direct_resize(image, width, height);
    std::vector<float> got = resample_window(image, width, height, 0, 0, width, height);
    Image rounded = resize_bilinear(image, width, height);
    ASSERT_EQ(got.size(), expected.size());
    SCOPED_TRACE(std::to_string(image.width) + "x" + std::to_string(image.height) + " -> " + std::to_string(width) +
                 "x" + std::to_string(height));
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], expected[i], 2e-3) << "value " << i;
      ASSERT_NEAR(rounded.rgb[i], expected[i], 0.501) << "value " << i;
    }
  }
}

TEST(Resize, WindowIsPartOfTheFullOutput) {
  Image image = random_image(50, 31, 11);
  std::vector<float> full = resample_window(image, 23, 67, 0, 0, 23, 67);
  std::vector<float> window = resample_window(image, 23, 67, 5, 20, 10, 30);
  for (int y = 0; y < 30; ++y)
    for (int k = 0; k < 10 * 3; ++k)
      ASSERT_EQ(window[y * 30 + k], full[(static_cast<size_t>(y + 20) * 23 + 5) * 3 + k]);
  EXPECT_THROW(resample_window(image, 23, 67, 20, 0, 10, 5), Error);
}

TEST(Resize, UpscaleIsHalfPixelBilinearWithClampedEdges) {
  Image image = random_image(28, 28, 5);
  std::vector<float> got = resample_window(image, 224, 224, 0, 0, 224, 224);
  auto source = [](int o) {
    double s = std::clamp((o + 0.5) * 28 / 224 - 0.5, 0.0, 27.0);
    int i0 = static_cast<int>(s);
    return std::tuple(i0, std::min(i0 + 1, 27), s - i0);
  };
  for (int y = 0; y < 224; ++y) {
    auto [y0, y1, fy] = source(y);
    for (int x = 0; x < 224; ++x) {
      auto [x0, x1, fx] = source(x);
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int yy, int xx) { return double(image.rgb[(yy * 28 + xx) * 3 + c]); };
        double expected = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) +
                          fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
        ASSERT_NEAR(got[(y * 224 + x) * 3 + c], expected, 1e-3) << x << "," << y << " channel " << c;
      }
    }
  }
}

TEST(Resize, RejectsInvalidInput) {
  EXPECT_THROW(resize_bilinear(Image{}, 4, 4), Error);
  EXPECT_THROW(resize_bilinear(Image{2, 2, std::vector<uint8_t>(11)}, 4, 4), Error);
  EXPECT_THROW(resize_bilinear(random_image(3, 3, 0), 0, 4), Error);
}

TEST(Preprocess, NormalisesAConstantImage) {
  Preprocess pre;
  Tensor t = preprocess(constant_image(300, 200, 10, 128, 250), pre);
  ASSERT_EQ(t.dtype(), DType::f32);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 224, 224}));
  const uint8_t value[3] = {10, 128, 250};
  for (int c = 0; c < 3; ++c) {
    float expected = (value[c] / 255.0f - pre.mean[c]) / pre.std[c];
    for (int i = 0; i < 224 * 224; ++i) ASSERT_NEAR(t.data<float>()[c * 224 * 224 + i], expected, 1e-5);
  }

  pre.resize_shorter = 0;
  pre.crop = 32;
  std::vector<float> out(3 * 32 * 32);
  preprocess_into(constant_image(7, 90, 0, 0, 0), pre, out.data());
  EXPECT_NEAR(out[0], -pre.mean[0] / pre.std[0], 1e-6);
  EXPECT_NEAR(out.back(), -pre.mean[2] / pre.std[2], 1e-6);
}

TEST(Preprocess, CropsTheCentreOfThePortrait) {
  // Thirds red / green / blue from top to bottom: the 224 crop of the 256x768 resize is all green.
  Image image = constant_image(100, 300, 255, 0, 0);
  for (int y = 100; y < 300; ++y)
    for (int x = 0; x < 100; ++x) {
      uint8_t* p = &image.rgb[(y * 100 + x) * 3];
      p[0] = 0;
      p[y < 200 ? 1 : 2] = 255;
    }
  Preprocess pre;
  pre.mean[0] = pre.mean[1] = pre.mean[2] = 0;
  pre.std[0] = pre.std[1] = pre.std[2] = 1;
  Tensor t = preprocess(image, pre);
  const float* data = t.data<float>();
  for (int i = 0; i < 224 * 224; ++i) {
    ASSERT_NEAR(data[i], 0, 1e-6);
    ASSERT_NEAR(data[224 * 224 + i], 1, 1e-6);
    ASSERT_NEAR(data[2 * 224 * 224 + i], 0, 1e-6);
  }
}

TEST(Preprocess, FromMetadata) {
  Preprocess defaults = Preprocess::from_metadata({});
  EXPECT_EQ(defaults.resize_shorter, 256);
  EXPECT_EQ(defaults.crop, 224);
  EXPECT_FLOAT_EQ(defaults.std[2], 0.225f);

  Preprocess pre = Preprocess::from_metadata({{"effvit.resize_shorter", "0"},
                                              {"effvit.crop", " 224 "},
                                              {"effvit.mean", "0.5 0.25  -1"},
                                              {"effvit.std", "0.1 2 3e-1"},
                                              {"other.key", "ignored"}});
  EXPECT_EQ(pre.resize_shorter, 0);
  EXPECT_EQ(pre.crop, 224);
  EXPECT_FLOAT_EQ(pre.mean[0], 0.5f);
  EXPECT_FLOAT_EQ(pre.mean[1], 0.25f);
  EXPECT_FLOAT_EQ(pre.mean[2], -1.0f);
  EXPECT_FLOAT_EQ(pre.std[0], 0.1f);
  EXPECT_FLOAT_EQ(pre.std[1], 2.0f);
  EXPECT_FLOAT_EQ(pre.std[2], 0.3f);
}

TEST(Preprocess, FromMetadataRejectsBadValues) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"effvit.resize_shorter", "-1"}, {"effvit.resize_shorter", "256px"}, {"effvit.crop", "0"},
      {"effvit.crop", ""},             {"effvit.mean", "0.5 0.5"},         {"effvit.mean", "0.5 0.5 0.5 0.5"},
      {"effvit.mean", "a b c"},        {"effvit.mean", "0.5 nan 0.5"},     {"effvit.std", "1 0 1"},
      {"effvit.std", "1,1,1"},
  };
  for (const auto& [key, value] : bad)
    expect_error([&] { Preprocess::from_metadata({{key, value}}); }, {key});
  expect_error([&] { Preprocess::from_metadata({{"effvit.resize_shorter", "200"}}); }, {"effvit.resize_shorter"});
}

int count_pixels(const Image& image, uint32_t rgb) {
  int n = 0;
  for (size_t i = 0; i < image.rgb.size(); i += 3)
    n += image.rgb[i] == uint8_t(rgb >> 16) && image.rgb[i + 1] == uint8_t(rgb >> 8) && image.rgb[i + 2] == uint8_t(rgb);
  return n;
}

TEST(ContactSheet, LaysOutImagesWithColouredText) {
  std::vector<SheetItem> items;
  for (int i = 0; i < 5; ++i)
    items.push_back({constant_image(28, 28 + i, 128, 128, 128),
                     {{"pred: Sneaker 97%", i % 2 ? kSheetWrong : kSheetCorrect}, {"true: Sneaker", 0x000000}}});
  Image sheet = render_contact_sheet(items, 3, 160);
  EXPECT_EQ(sheet.rgb.size(), static_cast<size_t>(sheet.width) * sheet.height * 3);
  EXPECT_GE(sheet.width, 3 * 160);
  EXPECT_LT(sheet.width, 4 * 300);
  EXPECT_GE(sheet.height, 2 * (160 + 2 * 18));
  EXPECT_LT(sheet.height, 3 * 300);

  EXPECT_GT(count_pixels(sheet, kSheetCorrect), 0);
  EXPECT_GT(count_pixels(sheet, kSheetWrong), 0);
  EXPECT_GT(count_pixels(sheet, 0x000000), 0);
  EXPECT_GE(count_pixels(sheet, 0x808080), 5 * 130 * 130);

  Image bare = render_contact_sheet({{constant_image(10, 10, 0, 0, 0), {}}}, 4, 64);
  EXPECT_LT(bare.width, 100);
  EXPECT_LT(bare.height, 100);
  EXPECT_EQ(count_pixels(bare, 0x000000), 64 * 64);
}

// The old bitmap font's sheets (measured with it): a line that fits in the cell leaves the layout as
// it was. (A longer ASCII line widened the old font's columns sooner: its glyphs advanced 12 pixels,
// so "pred: Sneaker 97%" made 202-pixel columns, where the sans font's line fits in 160.)
TEST(ContactSheet, KeepsTheLayoutOfLinesThatFit) {
  struct Case {
    int count, columns, cell;
    std::vector<SheetLine> lines;
    int width, height;
  };
  const std::vector<Case> cases = {
      {5, 3, 160, {{"Sneaker 97%", kSheetCorrect}, {"true: Sneaker", 0x606060}}, 544, 472},
      {7, 5, 160, {{"Sandal 88%", kSheetWrong}, {"true: Sneaker", 0x606060}}, 896, 472},
      {1, 5, 160, {{"Bag 51%", 0x202020}}, 192, 222},
      {4, 2, 120, {{"a", 0}, {"bb", 0}, {"ccc", 0}}, 288, 436},
      {6, 6, 64, {{"x", 0}}, 496, 126},
      {3, 4, 64, {}, 256, 96},
  };
  for (const Case& c : cases) {
    std::vector<SheetItem> items;
    for (int i = 0; i < c.count; ++i) items.push_back({constant_image(28 + 3 * i, 28, 128, 128, 128), c.lines});
    const Image sheet = render_contact_sheet(items, c.columns, c.cell);
    EXPECT_EQ(sheet.width, c.width) << c.count << " images, " << c.columns << " columns";
    EXPECT_EQ(sheet.height, c.height) << c.count << " images, " << c.columns << " columns";
  }
}

// The bounding box of the non-white pixels in rows [top, bottom), and how many columns have any.
struct Ink {
  int left = 1 << 30, right = -1, top = 1 << 30, bottom = -1, pixels = 0, columns = 0;
  int width() const { return right < left ? 0 : right - left + 1; }
  int height() const { return bottom < top ? 0 : bottom - top + 1; }
};

Ink ink(const Image& image, int top, int bottom) {
  Ink box;
  std::vector<bool> inked(static_cast<size_t>(image.width));
  for (int y = std::max(top, 0); y < std::min(bottom, image.height); ++y)
    for (int x = 0; x < image.width; ++x) {
      const uint8_t* p = &image.rgb[(static_cast<size_t>(y) * image.width + x) * 3];
      if (std::min({p[0], p[1], p[2]}) >= 224) continue;
      box.left = std::min(box.left, x), box.right = std::max(box.right, x);
      box.top = std::min(box.top, y), box.bottom = std::max(box.bottom, y);
      ++box.pixels;
      inked[static_cast<size_t>(x)] = true;
    }
  box.columns = static_cast<int>(std::count(inked.begin(), inked.end(), true));
  return box;
}

// Within `tolerance` per channel of rgb (0xRRGGBB): the inside of a stroke.
int count_near(const Image& image, uint32_t rgb, int tolerance) {
  int n = 0;
  for (size_t i = 0; i < image.rgb.size(); i += 3)
    n += std::abs(image.rgb[i] - int(rgb >> 16 & 0xff)) <= tolerance && std::abs(image.rgb[i + 1] - int(rgb >> 8 & 0xff)) <= tolerance &&
         std::abs(image.rgb[i + 2] - int(rgb & 0xff)) <= tolerance;
  return n;
}

// One 160-pixel grey image with `lines` under it; the text starts at row 16 + 160.
Image one_item(std::vector<SheetLine> lines) {
  return render_contact_sheet({{constant_image(10, 10, 128, 128, 128), std::move(lines)}}, 5, 160);
}

// Chinese labels (users load Chinese ImageNet class names) are drawn as glyphs: a font without them
// draws a box per character (Pango's boxes hold the code point in hex), as tall as a glyph and inked
// edge to edge. 一 is one horizontal stroke and 丨 one vertical stroke; their boxes are neither.
TEST(ContactSheet, DrawsChineseAsGlyphsNotBoxes) {
  const int text_top = 16 + 160;
  const Image one = one_item({{"一一一一", 0x000000}});
  const Ink flat = ink(one, text_top, one.height);
  EXPECT_GE(flat.width(), 40) << "four 15-pixel glyphs";
  EXPECT_LE(flat.height(), 4) << "一 drawn as a box: is a CJK font installed (scripts/install-deps.sh)?";

  const Image bar = one_item({{"丨丨丨丨", 0x000000}});
  const Ink tall = ink(bar, text_top, bar.height);
  EXPECT_GE(tall.height(), 9);
  EXPECT_GE(tall.width(), 30);
  EXPECT_LE(tall.columns, 16) << "丨 drawn as a box: is a CJK font installed (scripts/install-deps.sh)?";

  // A label as classify draws it, in its colour, centred under the image; different names differ.
  const Image sneaker = one_item({{"运动鞋 97%", kSheetWrong}, {"true: 短靴", 0x606060}});
  const Image boot = one_item({{"短靴 97%", kSheetWrong}, {"true: 短靴", 0x606060}});
  ASSERT_EQ(sneaker.width, 192);
  ASSERT_EQ(sneaker.height, 16 + 160 + 8 + 2 * 22 + 16) << "the CJK font's lines keep the 22-pixel pitch";
  const Ink first = ink(sneaker, text_top, text_top + 8 + 22), second = ink(sneaker, text_top + 8 + 22, sneaker.height);
  EXPECT_GE(first.width(), 60);
  EXPECT_GE(first.height(), 10);
  EXPECT_NEAR((first.left + first.right) / 2.0, sneaker.width / 2.0, 3);
  EXPECT_NEAR((second.left + second.right) / 2.0, sneaker.width / 2.0, 3);
  EXPECT_EQ(ink(sneaker, 0, 16).pixels, 0);
  EXPECT_GT(count_near(sneaker, kSheetWrong, 48), 20);
  EXPECT_GT(count_near(sneaker, 0x606060, 24), 10);
  EXPECT_NE(sneaker.rgb, boot.rgb);
  EXPECT_EQ(ink(sneaker, text_top + 8 + 22, sneaker.height).pixels, ink(boot, text_top + 8 + 22, boot.height).pixels);
}

// A line that does not fit widens every column, and stays centred; one that is not UTF-8 is drawn.
TEST(ContactSheet, WidensColumnsForLongLines) {
  std::vector<SheetItem> items;
  for (int i = 0; i < 3; ++i)
    items.push_back({constant_image(20, 20, 128, 128, 128), {{i == 1 ? "a much longer label than the cell is wide 97%" : "ok", 0}}});
  const Image sheet = render_contact_sheet(items, 3, 100);
  const int column = (sheet.width - 4 * 16) / 3;
  EXPECT_EQ(sheet.width, 3 * column + 4 * 16);
  EXPECT_GT(column, 200);
  EXPECT_LT(column, 500);
  const int text_top = 16 + 100;
  Image middle = sheet;  // only the second column's text
  for (int y = 0; y < middle.height; ++y)
    for (int x = 0; x < middle.width; ++x)
      if (x < 16 + column + 16 || x >= 2 * (16 + column)) std::fill_n(&middle.rgb[(static_cast<size_t>(y) * middle.width + x) * 3], 3, 255);
  const Ink line = ink(middle, text_top, middle.height);
  EXPECT_GE(line.width(), column - 6);
  EXPECT_NEAR((line.left + line.right) / 2.0, 16 + column + 16 + column / 2.0, 3);

  const Image huge = one_item({{std::string(2000, 'W'), 0}});
  EXPECT_LE(huge.width, 4096 + 2 * 16) << "a line past 4096 pixels ends in an ellipsis";
  const Image bad = one_item({{"bad \xff\xfe utf-8 \xe4\xb8", 0}});
  EXPECT_GT(ink(bad, 16 + 160, bad.height).width(), 60);
}

TEST(ContactSheet, RejectsBadLayouts) {
  expect_error([] { render_contact_sheet({}, 3, 160); }, {"contact sheet"});
  expect_error([] { render_contact_sheet({{constant_image(4, 4, 0, 0, 0), {}}}, 0, 160); }, {"contact sheet"});
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

// Letterbox: a 40x20 image in a 16x16 crop is scaled to 16x8, centered, gray 127 above and below;
// nothing of it is cut off (a center crop would keep only its middle half).
TEST(Preprocess, LetterboxKeepsTheWholeImageOnGray) {
  Image image;
  image.width = 40;
  image.height = 20;
  image.rgb.resize(40 * 20 * 3);
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 40; ++x) {
      uint8_t* p = &image.rgb[(y * 40 + x) * 3];
      p[0] = x < 20 ? 200 : 10;  // left half bright, right half dark: both must survive
      p[1] = 50;
      p[2] = 90;
    }
  Preprocess pre;
  pre.crop = 16;
  pre.input = Preprocess::Input::rgb_u8;
  pre.letterbox = true;
  const Tensor t = preprocess(image, pre);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 16, 16}));
  auto at = [&](int c, int y, int x) { return t.data<uint8_t>()[(c * 16 + y) * 16 + x]; };
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) {
      const bool inside = y >= 4 && y < 12;
      if (!inside) {
        EXPECT_EQ(at(0, y, x), 127) << y << "," << x;
        EXPECT_EQ(at(2, y, x), 127) << y << "," << x;
      } else {
        EXPECT_EQ(at(1, y, x), 50) << y << "," << x;
      }
    }
  EXPECT_EQ(at(0, 8, 0), 200);   // the left edge is still there
  EXPECT_EQ(at(0, 8, 15), 10);   // and the right one
}

}  // namespace
}  // namespace effvit
