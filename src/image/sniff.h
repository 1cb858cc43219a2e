// What an image file is, by its first bytes (never its name): how folders of images are listed, and
// how a file effvit cannot read is named ("a GIF image") instead of "not an image".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace effvit {

enum class ImageFormat { unknown, jpeg, png, webp, bmp, gif, tiff, heif };

ImageFormat sniff_image_format(const uint8_t* head, size_t size);
// The file's first bytes sniffed; a file that cannot be opened is unknown (decoding it names why).
ImageFormat sniff_image_file(const std::string& path);

// effvit decodes it: JPEG, PNG, WebP or BMP.
bool is_readable(ImageFormat format);
// "JPEG", "GIF", "HEIF/AVIF", ...; "" for unknown.
const char* image_format_name(ImageFormat format);

}  // namespace effvit
