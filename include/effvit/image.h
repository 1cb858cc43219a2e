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

struct DecodeOptions {
  // Turn a JPEG by its EXIF orientation (as a phone's gallery shows it) instead of as stored.
  bool exif_orientation = true;
  // Refuse images of more pixels than this (0: effvit's own limit, 2^28), before decoding them: a
  // server taking images from anyone sets it so a small file cannot expand to gigabytes.
  int64_t max_pixels = 0;
  // The caller's option that sets max_pixels (a server's flag), named in the error of an image over
  // it so that whoever reads the error knows what raises the limit.
  std::string max_pixels_option;
};

// Decodes a JPEG (RGB, gray, CMYK and YCCK; CMYK read as Adobe's inverted values and made RGB as
// PIL makes it), PNG (gray, gray+alpha, RGB, RGBA, palette; 8 or 16 bit), WebP or BMP file to RGB, by its
// content, not its name. Throws effvit::Error naming the file when it is missing or cannot be
// decoded.
Image read_image(const std::string& path, const DecodeOptions& options = {});
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name_for_errors, const DecodeOptions& options = {});
// The image as shown for EXIF orientation 1..8 (1, or anything else: unchanged).
Image apply_orientation(const Image& image, int orientation);
void write_png(const std::string& path, const Image& image);

// How a classifier wants its pixels. Defaults are timm's eval transform for EfficientViT-MSRA:
// resize the shorter side to 256 (bilinear, antialiased like PIL), center-crop 224x224, scale to
// [0,1], subtract mean and divide by std per RGB channel.
struct Preprocess {
  // What the model takes: normalised float32 RGB NCHW, or (a quantized model with its
  // normalisation inside, see `effvit quantize`) raw uint8 pixels.
  enum class Input { normalized_f32, rgb_u8, bgr_u8, gray_u8, nv12_u8 };

  int resize_shorter = 256;  // 0: resize both sides straight to crop x crop
  int crop = 224;
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};
  Input input = Input::normalized_f32;
  bool nhwc = false;  // uint8 inputs only: channels last
  // Instead of resize-then-crop: the whole image scaled (aspect ratio kept) to fit crop x crop,
  // centered on gray 127, as the RDK board's demo does. Nothing is cut off.
  bool letterbox = false;

  // Reads the keys python/export_onnx.py writes into ONNX metadata_props
  // (effvit.resize_shorter, effvit.crop, effvit.mean, effvit.std), and those `effvit quantize`
  // adds (effvit.input_type_rt, effvit.input_layout); missing keys keep defaults.
  static Preprocess from_metadata(const std::map<std::string, std::string>& metadata);
};

// Packed RGB (height x width x 3, both even) -> NV12 (Y plane, then interleaved U/V rows), bit-exact
// with OpenCV's COLOR_BGR2YUV_I420 followed by interleaving.
std::vector<uint8_t> rgb_to_nv12(const uint8_t* rgb, int width, int height);

// PIL-style separable resampling with a triangle (bilinear) filter whose support widens when
// shrinking (antialiasing). For upscaling it equals half-pixel bilinear (torch align_corners=False).
Image resize_bilinear(const Image& image, int width, int height);

// Image -> the model's input at batch 1: float32 (1, 3, crop, crop), normalised, in RGB channel
// order; uint8 pixels (1, C, crop, crop) (channels last with pre.nhwc) in the order pre.input
// names; or NV12 (1, crop * 3 / 2, crop, 1) as a camera pipeline (and the RDK board's demo) makes
// it: OpenCV's COLOR_BGR2YUV_I420 (BT.601 video range, chroma of each 2x2 block from its top-left
// pixel), then the U and V planes interleaved.
Tensor preprocess(const Image& image, const Preprocess& pre);
// Writes the same into `out` (3 * crop * crop floats), for batching without extra copies.
void preprocess_into(const Image& image, const Preprocess& pre, float* out);

}  // namespace effvit
