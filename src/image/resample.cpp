// Separable triangle-filter resampling with PIL's geometry, so effvit's pixels match what timm
// (PIL) and torch's antialiased interpolate feed models in python.
#include "image/resample.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "effvit/error.h"

namespace effvit {
namespace {

// Taps of output samples [begin, begin + n) along one axis: sample i reads inputs
// first[i] .. first[i] + count[i] - 1 with weights[i * stride ...].
struct Taps {
  std::vector<int> first, count;
  std::vector<float> weights;
  int stride = 0;
};

// The geometry is computed in float like torch's antialiased interpolate (PIL uses double), so
// effvit agrees with the python reference to float rounding rather than to ~1e-5 of full scale.
Taps compute_taps(int in_size, int out_size, int begin, int n) {
  const float scale = static_cast<float>(in_size) / out_size;
  // When shrinking, the filter widens to cover every input pixel an output pixel spans; that is
  // the antialiasing. When enlarging it stays one input pixel wide: plain bilinear.
  const float filter_scale = std::max(scale, 1.0f);
  const float support = filter_scale;
  Taps taps;
  taps.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  taps.first.resize(n);
  taps.count.resize(n);
  taps.weights.assign(static_cast<size_t>(n) * taps.stride, 0.0f);
  for (int i = 0; i < n; ++i) {
    const float center = (begin + i + 0.5f) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    float* w = &taps.weights[static_cast<size_t>(i) * taps.stride];
    float total = 0;
    for (int j = lo; j < hi; ++j) {
      w[j - lo] = std::max(0.0f, 1.0f - std::abs((j + 0.5f - center) / filter_scale));
      total += w[j - lo];
    }
    // Near the borders part of the filter falls outside the image; renormalising there is what
    // makes enlarging clamp to the edge pixel.
    for (int j = lo; j < hi; ++j) w[j - lo] /= total;
    taps.first[i] = lo;
    taps.count[i] = hi - lo;
  }
  return taps;
}

void check_image(const Image& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
    throw Error(ErrorKind::invalid_input, "resize: invalid " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                " image with " + std::to_string(image.rgb.size()) + " bytes");
}

}  // namespace

std::vector<float> resample_window(const Image& image, int out_width, int out_height, int left, int top, int width,
                                   int height) {
  check_image(image);
  if (out_width <= 0 || out_height <= 0)
    throw Error(ErrorKind::invalid_input, "resize: invalid target size " + std::to_string(out_width) + "x" + std::to_string(out_height));
  // 2^28 pixels (a 16k x 16k image): far beyond any classifier input, and what keeps a hostile
  // size from ending in std::bad_alloc.
  if (static_cast<int64_t>(width) * height > (int64_t{1} << 28) || static_cast<int64_t>(out_width) * out_height > (int64_t{1} << 34))
    throw Error(ErrorKind::invalid_input, "resize: target " + std::to_string(width) + "x" + std::to_string(height) + " is too large");
  if (left < 0 || top < 0 || width <= 0 || height <= 0 || left + width > out_width || top + height > out_height)
    throw Error(ErrorKind::invalid_input, "resize: window outside the " + std::to_string(out_width) + "x" + std::to_string(out_height) +
                " output");

  const Taps cols = compute_taps(image.width, out_width, left, width);
  const Taps rows = compute_taps(image.height, out_height, top, height);
  // Only the input rows the window's vertical taps read go through the horizontal pass.
  const int row_begin = rows.first.front();
  int row_end = 0;
  for (int i = 0; i < height; ++i) row_end = std::max(row_end, rows.first[i] + rows.count[i]);

  const size_t line = static_cast<size_t>(width) * 3;
  std::vector<float> horizontal(static_cast<size_t>(row_end - row_begin) * line);
  for (int y = row_begin; y < row_end; ++y) {
    const uint8_t* src = &image.rgb[static_cast<size_t>(y) * image.width * 3];
    float* dst = &horizontal[(y - row_begin) * line];
    for (int x = 0; x < width; ++x) {
      const float* w = &cols.weights[static_cast<size_t>(x) * cols.stride];
      const uint8_t* px = src + static_cast<size_t>(cols.first[x]) * 3;
      float r = 0, g = 0, b = 0;
      for (int t = 0; t < cols.count[x]; ++t, px += 3) {
        r += w[t] * px[0];
        g += w[t] * px[1];
        b += w[t] * px[2];
      }
      dst[x * 3] = r;
      dst[x * 3 + 1] = g;
      dst[x * 3 + 2] = b;
    }
  }

  std::vector<float> out(static_cast<size_t>(height) * line, 0.0f);
  for (int y = 0; y < height; ++y) {
    const float* w = &rows.weights[static_cast<size_t>(y) * rows.stride];
    float* dst = &out[y * line];
    for (int t = 0; t < rows.count[y]; ++t) {
      const float* src = &horizontal[(rows.first[y] + t - row_begin) * line];
      for (size_t k = 0; k < line; ++k) dst[k] += w[t] * src[k];
    }
  }
  return out;
}

Image resize_bilinear(const Image& image, int width, int height) {
  std::vector<float> values = resample_window(image, width, height, 0, 0, width, height);
  Image out;
  out.width = width;
  out.height = height;
  out.rgb.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i)
    out.rgb[i] = static_cast<uint8_t>(std::clamp(values[i] + 0.5f, 0.0f, 255.0f));
  return out;
}

}  // namespace effvit
