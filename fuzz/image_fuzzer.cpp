// Image decoding (src/image/decode.cpp: JPEG with EXIF orientation, PNG, WebP, BMP) from memory,
// then the classifier preprocessing a decoded image goes through (resize, crop, normalise).
#include <cstdint>
#include <vector>

#include "effvit/error.h"
#include "effvit/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  effvit::DecodeOptions options;
  // As a server sets it (effvit serve: 4096 x 4096); smaller here so each input stays fast.
  options.max_pixels = int64_t{1} << 20;
  options.exif_orientation = true;
  effvit::Image image;
  try {
    image = effvit::decode_image(bytes, "fuzz", options);
  } catch (const effvit::Error&) {
    return 0;
  }
  if (image.width <= 0 || image.height <= 0 || image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
    __builtin_trap();  // a decoded image must be whole
  try {
    effvit::Preprocess pre;
    pre.resize_shorter = 32;
    pre.crop = 24;
    (void)effvit::preprocess(image, pre);
    pre.letterbox = true;
    pre.input = effvit::Preprocess::Input::nv12_u8;
    (void)effvit::preprocess(image, pre);
  } catch (const effvit::Error&) {
  }
  return 0;
}
