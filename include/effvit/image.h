// Image decoding and the classifier preprocessing effvit applies before a model.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "effvit/tensor.h"

namespace effvit {

// 8-bit interleaved RGB, row-major (height x width x 3).
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
};

// Decodes a JPEG or PNG file (gray, gray+alpha, RGB, RGBA, palette; 8 or 16 bit) to RGB.
// Throws effvit::Error naming the file when it is missing or cannot be decoded.
Image read_image(const std::string& path);
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name_for_errors);
void write_png(const std::string& path, const Image& image);

// How a classifier wants its pixels. Defaults are timm's eval transform for EfficientViT-MSRA:
// resize the shorter side to 256 (bilinear, antialiased like PIL), center-crop 224x224, scale to
// [0,1], subtract mean and divide by std per RGB channel.
struct Preprocess {
  int resize_shorter = 256;  // 0: resize both sides straight to crop x crop
  int crop = 224;
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};

  // Reads the keys python/export_onnx.py writes into ONNX metadata_props
  // (effvit.resize_shorter, effvit.crop, effvit.mean, effvit.std); missing keys keep defaults.
  static Preprocess from_metadata(const std::map<std::string, std::string>& metadata);
};

// PIL-style separable resampling with a triangle (bilinear) filter whose support widens when
// shrinking (antialiasing). For upscaling it equals half-pixel bilinear (torch align_corners=False).
Image resize_bilinear(const Image& image, int width, int height);

// Image -> float32 tensor (1, 3, crop, crop), normalised, in RGB channel order.
Tensor preprocess(const Image& image, const Preprocess& pre);
// Writes the same into `out` (3 * crop * crop floats), for batching without extra copies.
void preprocess_into(const Image& image, const Preprocess& pre, float* out);

}  // namespace effvit
