#include "image/sniff.h"

#include <gtest/gtest.h>

#include <string>

namespace effvit {
namespace {

ImageFormat sniff(const std::string& head) { return sniff_image_format(reinterpret_cast<const uint8_t*>(head.data()), head.size()); }

TEST(Sniff, NamesFormatsByTheirFirstBytes) {
  EXPECT_EQ(sniff(std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16)), ImageFormat::png);
  EXPECT_EQ(sniff("\xff\xd8\xff\xe0"), ImageFormat::jpeg);
  EXPECT_EQ(sniff("RIFF\x10\x20\x30\x40WEBPVP8 "), ImageFormat::webp);
  EXPECT_EQ(sniff(std::string("BM6\x0c\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", 18)), ImageFormat::bmp);  // Windows DIB header (40)
  EXPECT_EQ(sniff(std::string("BM6\x0c\0\0\0\0\0\0\x36\0\0\0\x7c\0\0\0", 18)), ImageFormat::bmp);  // BITMAPV5HEADER (124)
  EXPECT_EQ(sniff("GIF89a"), ImageFormat::gif);
  EXPECT_EQ(sniff(std::string("II*\0", 4)), ImageFormat::tiff);
  EXPECT_EQ(sniff(std::string("MM\0*", 4)), ImageFormat::tiff);
  EXPECT_EQ(sniff(std::string("\0\0\0\x18" "ftypheic", 12)), ImageFormat::heif);
  EXPECT_EQ(sniff(std::string("\0\0\0\x1c" "ftypavif", 12)), ImageFormat::heif);
  for (const ImageFormat f : {ImageFormat::jpeg, ImageFormat::png, ImageFormat::webp, ImageFormat::bmp}) EXPECT_TRUE(is_readable(f));
  for (const ImageFormat f : {ImageFormat::gif, ImageFormat::tiff, ImageFormat::heif, ImageFormat::unknown}) EXPECT_FALSE(is_readable(f));
}

TEST(Sniff, ShortAndForeignBytesAreUnknown) {
  EXPECT_EQ(sniff(""), ImageFormat::unknown);
  EXPECT_EQ(sniff("\x89PNG"), ImageFormat::unknown);      // cut inside the signature
  EXPECT_EQ(sniff("RIFF\x10\x20\x30\x40WAVE"), ImageFormat::unknown);
  EXPECT_EQ(sniff("\xff\xd8"), ImageFormat::unknown);
  EXPECT_EQ(sniff("notes: a text file"), ImageFormat::unknown);
  EXPECT_EQ(sniff("BMW service notes, 2026\n"), ImageFormat::unknown);  // "BM" without a DIB header
  EXPECT_EQ(sniff(std::string("\0\0\0\x18" "ftypisom", 12)), ImageFormat::unknown);  // an MP4 video
  EXPECT_STREQ(image_format_name(ImageFormat::unknown), "");
  EXPECT_EQ(sniff_image_file("/nonexistent/x.png"), ImageFormat::unknown);
}

}  // namespace
}  // namespace effvit
