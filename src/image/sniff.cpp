#include "image/sniff.h"

#include <cstdio>
#include <cstring>
#include <memory>

namespace effvit {
namespace {

bool has_at(const uint8_t* head, size_t size, size_t at, const char* magic, size_t length) {
  return size >= at + length && std::memcmp(head + at, magic, length) == 0;
}

}  // namespace

ImageFormat sniff_image_format(const uint8_t* head, size_t size) {
  if (has_at(head, size, 0, "\x89PNG\r\n\x1a\n", 8)) return ImageFormat::png;
  if (has_at(head, size, 0, "\xff\xd8\xff", 3)) return ImageFormat::jpeg;
  if (has_at(head, size, 0, "RIFF", 4) && has_at(head, size, 8, "WEBP", 4)) return ImageFormat::webp;
  // "BM" alone starts plenty of text ("BMW ..."): the DIB header's size, at 14, must be one of
  // the BMP versions' (OS/2 12 and 64, Windows 40, 52, 56, 108, 124).
  if (has_at(head, size, 0, "BM", 2) && size >= 18) {
    const uint32_t dib = head[14] | head[15] << 8 | head[16] << 16 | static_cast<uint32_t>(head[17]) << 24;
    if (dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 || dib == 124) return ImageFormat::bmp;
  }
  if (has_at(head, size, 0, "GIF8", 4)) return ImageFormat::gif;
  if (has_at(head, size, 0, "II*\0", 4) || has_at(head, size, 0, "MM\0*", 4)) return ImageFormat::tiff;
  // An ISO media file is HEIF/AVIF by its brand; the same box starts MP4 and MOV videos.
  if (has_at(head, size, 4, "ftyp", 4))
    for (const char* brand : {"heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1", "avif", "avis"})
      if (has_at(head, size, 8, brand, 4)) return ImageFormat::heif;
  return ImageFormat::unknown;
}

ImageFormat sniff_image_file(const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!file) return ImageFormat::unknown;
  uint8_t head[18];
  return sniff_image_format(head, std::fread(head, 1, sizeof head, file.get()));
}

bool is_readable(ImageFormat format) {
  return format == ImageFormat::jpeg || format == ImageFormat::png || format == ImageFormat::webp || format == ImageFormat::bmp;
}

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::png: return "PNG";
    case ImageFormat::webp: return "WebP";
    case ImageFormat::bmp: return "BMP";
    case ImageFormat::gif: return "GIF";
    case ImageFormat::tiff: return "TIFF";
    case ImageFormat::heif: return "HEIF/AVIF";
    case ImageFormat::unknown: break;
  }
  return "";
}

}  // namespace effvit
