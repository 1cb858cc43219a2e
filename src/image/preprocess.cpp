// The classifier input transform: timm/torchvision's eval geometry, then per-channel normalisation.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "effvit/error.h"
#include "effvit/image.h"
#include "image/resample.h"

namespace effvit {
namespace {

void check_geometry(const Preprocess& pre, const std::string& context) {
  // torchvision would zero-pad a crop larger than the resized image; no timm model asks for that.
  if (pre.crop <= 0 || pre.resize_shorter < 0 || (pre.resize_shorter > 0 && pre.resize_shorter < pre.crop))
    throw Error(ErrorKind::unsupported, context + ": unsupported geometry (resize_shorter " + std::to_string(pre.resize_shorter) +
                ", crop " + std::to_string(pre.crop) + ")");
}

struct Window {
  int resized_width, resized_height, left, top;
};

Window crop_window(const Image& image, const Preprocess& pre) {
  if (pre.resize_shorter == 0) return {pre.crop, pre.crop, 0, 0};
  const bool portrait = image.width <= image.height;
  const int64_t shorter = portrait ? image.width : image.height;
  const int64_t longer = portrait ? image.height : image.width;
  // torchvision's Resize(int): int(size * long / short), a truncating float division.
  const int resized_long =
      static_cast<int>(static_cast<double>(pre.resize_shorter * longer) / static_cast<double>(shorter));
  Window w;
  w.resized_width = portrait ? pre.resize_shorter : resized_long;
  w.resized_height = portrait ? resized_long : pre.resize_shorter;
  // torchvision's CenterCrop: int(round((size - crop) / 2.0)), and python rounds halves to even,
  // as nearbyint does in the default rounding mode.
  w.left = static_cast<int>(std::nearbyint((w.resized_width - pre.crop) / 2.0));
  w.top = static_cast<int>(std::nearbyint((w.resized_height - pre.crop) / 2.0));
  return w;
}

// The crop x crop RGB pixels (0..255, interleaved) the model sees, before normalisation.
std::vector<float> model_pixels(const Image& image, const Preprocess& pre) {
  if (!pre.letterbox) {
    const Window w = crop_window(image, pre);
    return resample_window(image, w.resized_width, w.resized_height, w.left, w.top, pre.crop, pre.crop);
  }
  const double scale = static_cast<double>(pre.crop) / std::max(image.width, image.height);
  const int width = std::clamp(static_cast<int>(std::lround(image.width * scale)), 1, pre.crop);
  const int height = std::clamp(static_cast<int>(std::lround(image.height * scale)), 1, pre.crop);
  const std::vector<float> fitted = resample_window(image, width, height, 0, 0, width, height);
  std::vector<float> canvas(static_cast<size_t>(pre.crop) * pre.crop * 3, 127.f);
  const int left = (pre.crop - width) / 2, top = (pre.crop - height) / 2;
  for (int y = 0; y < height; ++y)
    std::copy_n(&fitted[static_cast<size_t>(y) * width * 3], static_cast<size_t>(width) * 3,
                &canvas[(static_cast<size_t>(top + y) * pre.crop + left) * 3]);
  return canvas;
}

std::string_view trim(std::string_view s) {
  const char* space = " \t\r\n";
  size_t begin = s.find_first_not_of(space);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

template <typename T>
bool parse_number(std::string_view s, T& value) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return ec == std::errc() && end == s.data() + s.size();
}

[[noreturn]] void bad_key(const std::string& key, const std::string& value, const std::string& expected) {
  throw Error(ErrorKind::invalid_model, "model metadata " + key + ": expected " + expected + ", got \"" + value + "\"");
}

int parse_size(const std::string& key, const std::string& value, int min) {
  int parsed = 0;
  if (!parse_number(trim(value), parsed) || parsed < min)
    bad_key(key, value, min == 0 ? "a non-negative integer" : "a positive integer");
  return parsed;
}

void parse_triple(const std::string& key, const std::string& value, bool positive, float out[3]) {
  const std::string expected = positive ? "3 space-separated positive numbers" : "3 space-separated numbers";
  std::string_view rest = trim(value);
  for (int i = 0; i < 3; ++i) {
    size_t end = rest.find_first_of(" \t");
    float parsed = 0;
    if (!parse_number(rest.substr(0, end), parsed) || !std::isfinite(parsed) || (positive && parsed <= 0))
      bad_key(key, value, expected);
    out[i] = parsed;
    rest = end == std::string_view::npos ? std::string_view() : trim(rest.substr(end));
  }
  if (!rest.empty()) bad_key(key, value, expected);
}

}  // namespace

Preprocess Preprocess::from_metadata(const std::map<std::string, std::string>& metadata) {
  Preprocess pre;
  auto find = [&](const char* key) { return metadata.find(key); };
  if (auto it = find("effvit.resize_shorter"); it != metadata.end())
    pre.resize_shorter = parse_size(it->first, it->second, 0);
  if (auto it = find("effvit.crop"); it != metadata.end()) pre.crop = parse_size(it->first, it->second, 1);
  if (auto it = find("effvit.mean"); it != metadata.end()) parse_triple(it->first, it->second, false, pre.mean);
  if (auto it = find("effvit.std"); it != metadata.end()) parse_triple(it->first, it->second, true, pre.std);
  if (auto it = find("effvit.input_type_rt"); it != metadata.end()) {
    const std::string& v = it->second;
    if (v == "rgb") pre.input = Input::rgb_u8;
    else if (v == "bgr") pre.input = Input::bgr_u8;
    else if (v == "gray") pre.input = Input::gray_u8;
    else if (v == "nv12") pre.input = Input::nv12_u8;
    else if (v != "featuremap") bad_key(it->first, v, "nv12, rgb, bgr, gray or featuremap");
  }
  if (auto it = find("effvit.input_layout"); it != metadata.end()) {
    if (it->second != "NCHW" && it->second != "NHWC") bad_key(it->first, it->second, "NCHW or NHWC");
    pre.nhwc = it->second == "NHWC";
  }
  check_geometry(pre, "model metadata effvit.resize_shorter/effvit.crop");
  return pre;
}

void preprocess_into(const Image& image, const Preprocess& pre, float* out) {
  check_geometry(pre, "preprocess");
  if (image.width <= 0 || image.height <= 0)
    throw Error(ErrorKind::invalid_input, "preprocess: empty " + std::to_string(image.width) + "x" + std::to_string(image.height) + " image");
  const std::vector<float> pixels = model_pixels(image, pre);
  const size_t plane = static_cast<size_t>(pre.crop) * pre.crop;
  for (int c = 0; c < 3; ++c) {
    const float mean = pre.mean[c], std = pre.std[c];
    if (pre.nhwc) {  // a featuremap model quantized with input_layout_rt NHWC
      for (size_t i = 0; i < plane; ++i) out[i * 3 + c] = (pixels[i * 3 + c] / 255.0f - mean) / std;
      continue;
    }
    float* dst = out + c * plane;
    for (size_t i = 0; i < plane; ++i) dst[i] = (pixels[i * 3 + c] / 255.0f - mean) / std;
  }
}

Tensor preprocess(const Image& image, const Preprocess& pre) {
  check_geometry(pre, "preprocess");
  if (pre.input == Preprocess::Input::normalized_f32) {
    Tensor t(DType::f32, pre.nhwc ? Shape{1, pre.crop, pre.crop, 3} : Shape{1, 3, pre.crop, pre.crop});
    preprocess_into(image, pre, t.data<float>());
    return t;
  }
  if (image.width <= 0 || image.height <= 0)
    throw Error(ErrorKind::invalid_input, "preprocess: empty " + std::to_string(image.width) + "x" + std::to_string(image.height) + " image");
  const std::vector<float> rgb = model_pixels(image, pre);
  auto to_u8 = [](float v) { return static_cast<uint8_t>(std::clamp(v + 0.5f, 0.f, 255.f)); };
  if (pre.input == Preprocess::Input::nv12_u8) {
    if (pre.crop % 2) throw Error(ErrorKind::unsupported, "preprocess: NV12 needs an even image size, the model's crop is " + std::to_string(pre.crop));
    std::vector<uint8_t> packed(rgb.size());
    std::transform(rgb.begin(), rgb.end(), packed.begin(), to_u8);
    const std::vector<uint8_t> nv12 = rgb_to_nv12(packed.data(), pre.crop, pre.crop);
    Tensor t(DType::u8, {1, int64_t{pre.crop} * 3 / 2, pre.crop, 1});
    std::copy(nv12.begin(), nv12.end(), t.data<uint8_t>());
    return t;
  }
  const int64_t channels = pre.input == Preprocess::Input::gray_u8 ? 1 : 3, plane = int64_t{pre.crop} * pre.crop;
  Tensor t(DType::u8, pre.nhwc ? Shape{1, pre.crop, pre.crop, channels} : Shape{1, channels, pre.crop, pre.crop});
  uint8_t* out = t.data<uint8_t>();
  for (int64_t k = 0; k < plane; ++k) {
    const float* px = &rgb[static_cast<size_t>(k) * 3];
    for (int64_t c = 0; c < channels; ++c) {
      float v = px[pre.input == Preprocess::Input::bgr_u8 ? 2 - c : c];
      if (channels == 1) v = 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
      out[pre.nhwc ? k * channels + c : c * plane + k] = to_u8(v);
    }
  }
  return t;
}

std::vector<uint8_t> rgb_to_nv12(const uint8_t* rgb, int width, int height) {
  if (width <= 0 || height <= 0 || width % 2 || height % 2)
    throw Error(ErrorKind::invalid_input, "NV12: the image must have an even size, got " + std::to_string(width) + "x" + std::to_string(height));
  // OpenCV's BT.601 fixed-point coefficients (20 fractional bits).
  constexpr int kShift = 20, kHalf = 1 << (kShift - 1), k16 = 16 << kShift, k128 = 128 << kShift;
  constexpr int kRY = 269484, kGY = 528482, kBY = 102760;
  constexpr int kRU = -155188, kGU = -305135, kBU = 460324;
  constexpr int kRV = 460324, kGV = -385875, kBV = -74448;
  auto clamp = [](int v) { return static_cast<uint8_t>(std::clamp(v, 0, 255)); };
  const size_t w = static_cast<size_t>(width), h = static_cast<size_t>(height);
  std::vector<uint8_t> out(w * h * 3 / 2);
  uint8_t* y = out.data();
  uint8_t* uv = out.data() + w * h;
  for (size_t i = 0; i < h; ++i)
    for (size_t j = 0; j < w; ++j) {
      const uint8_t* p = rgb + (i * w + j) * 3;
      const int r = p[0], g = p[1], b = p[2];
      y[i * w + j] = clamp((kRY * r + kGY * g + kBY * b + kHalf + k16) >> kShift);
      if (i % 2 == 0 && j % 2 == 0) {  // chroma from the top-left pixel of each 2x2 block
        uint8_t* c = uv + (i / 2) * w + j;
        c[0] = clamp((kRU * r + kGU * g + kBU * b + kHalf + k128) >> kShift);
        c[1] = clamp((kRV * r + kGV * g + kBV * b + kHalf + k128) >> kShift);
      }
    }
  return out;
}

}  // namespace effvit
