#include "quant/calibration_data.h"

#include <cmath>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "data/npy.h"
#include "effvit/error.h"
#include "effvit/image.h"

namespace effvit::quant {
namespace {

namespace fs = std::filesystem;

std::string extension(const std::string& path) {
  std::string e = fs::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e;
}

bool is_raw(const std::string& e) { return e == ".bin" || e == ".rgb" || e == ".raw"; }

}  // namespace

CalibrationSet::CalibrationSet(const QuantConfig& config, Shape input_shape, const std::map<std::string, std::string>& metadata, size_t limit)
    : config_(config), shape_(std::move(input_shape)), metadata_(metadata) {
  const std::string& dir = config.cal_data_dir;
  std::error_code ec;
  if (fs::is_regular_file(dir, ec)) {
    // Images only: calibration needs no labels.
    idx_ = std::make_unique<IdxArray>(read_idx(dir));
    if (idx_->dims.size() != 3 || idx_->dims[0] == 0)
      throw Error(ErrorKind::invalid_input, config.path + ": calibration_parameters.cal_data_dir: " + dir +
                                                " is not an IDX file of images ([count, height, width])");
    total_ = static_cast<size_t>(idx_->dims[0]);
  } else {
    if (!fs::is_directory(dir, ec))
      throw Error(ErrorKind::invalid_input, config.path + ": calibration_parameters.cal_data_dir: " + dir + " does not exist");
    // Tensors by their extension (raw bytes have no signature); images by content, as everywhere.
    ImageListing listing = list_images(dir, true);
    not_samples_.folder = dir;
    for (SkippedFile& file : listing.skipped) {
      const std::string e = extension(file.path);
      if (e == ".npy" || is_raw(e)) files_.push_back(std::move(file.path));
      else not_samples_.skipped.push_back(std::move(file));
    }
    files_.insert(files_.end(), listing.images.begin(), listing.images.end());
    std::sort(files_.begin(), files_.end());
    if (files_.empty())
      throw Error(ErrorKind::invalid_input, config.path + ": calibration_parameters.cal_data_dir: " + dir +
                                                " holds no .npy, .bin/.rgb/.raw file or JPEG, PNG, WebP or BMP image");
    total_ = files_.size();
  }
  count_ = limit ? std::min(limit, total_) : total_;
}

CalibrationSet::~CalibrationSet() = default;

size_t CalibrationSet::size() const { return count_; }

std::string CalibrationSet::source(size_t i) const { return idx_ ? config_.cal_data_dir + "#" + std::to_string(at(i)) : files_.at(at(i)); }

Tensor CalibrationSet::sample(size_t i) const {
  const std::string where = source(i);
  Tensor out(DType::f32, shape_);
  const int64_t n = out.numel();
  float* dst = out.data<float>();
  const std::string e = idx_ ? ".idx" : extension(where);
  if (e == ".npy") {
    const Tensor t = read_npy(where);
    // The same shape, leading 1s aside: a (1, 224, 224, 3) array must not pass for (1, 3, 224, 224).
    auto trimmed = [](const Shape& s) {
      size_t k = 0;
      while (k + 1 < s.size() && s[k] == 1) ++k;
      return Shape(s.begin() + static_cast<int64_t>(k), s.end());
    };
    if (trimmed(t.shape()) != trimmed(shape_))
      throw Error(ErrorKind::invalid_input, where + ": calibration sample of shape " + shape_str(t.shape()) + ", the model takes " + shape_str(shape_));
    if (t.dtype() == DType::f32) std::copy_n(t.data<float>(), n, dst);
    else if (t.dtype() == DType::u8) std::copy_n(t.data<uint8_t>(), n, dst);
    else throw Error(ErrorKind::invalid_input, where + ": calibration sample must be float32 or uint8, got " + dtype_name(t.dtype()));
    return out;
  }
  if (is_raw(e)) {
    const size_t elem = config_.cal_data_type == CalDataType::float32 ? 4 : 1;
    std::ifstream in(where, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() != static_cast<size_t>(n) * elem)
      throw Error(ErrorKind::invalid_input, where + ": " + std::to_string(bytes.size()) + " bytes, expected " +
                                                std::to_string(static_cast<size_t>(n) * elem) + " (" + shape_str(shape_) + " of " +
                                                (elem == 4 ? "float32" : "uint8") + ", cal_data_type)");
    if (elem == 4) std::copy_n(reinterpret_cast<const float*>(bytes.data()), n, dst);
    else std::copy_n(reinterpret_cast<const uint8_t*>(bytes.data()), n, dst);
    return out;
  }
  // An image: the model's own resize and crop, pixels kept at 0..255 in the training layout.
  Image image;
  if (idx_) {
    image.height = static_cast<int>(idx_->dims[1]);
    image.width = static_cast<int>(idx_->dims[2]);
    const size_t pixels = static_cast<size_t>(image.width) * image.height;
    image.rgb.resize(pixels * 3);
    for (size_t k = 0; k < pixels; ++k) std::fill_n(&image.rgb[k * 3], 3, idx_->data[at(i) * pixels + k]);
  } else {
    try {
      image = read_image(where);
    } catch (const Error& e) {
      throw Error(ErrorKind::invalid_input, std::string(e.what()) + " (a calibration sample in cal_data_dir: fix or remove it)");
    }
  }
  const bool nhwc = config_.input_layout_train == "NHWC";
  const int64_t channels = shape_[nhwc ? 3 : 1], height = shape_[nhwc ? 1 : 2], width = shape_[nhwc ? 2 : 3];
  Preprocess pre = Preprocess::from_metadata(metadata_);
  if (height != width || height != pre.crop)
    throw Error(ErrorKind::unsupported, where + ": images can only calibrate a square input of the model's crop (" +
                                            std::to_string(pre.crop) + "), not " + shape_str(shape_));
  for (int c = 0; c < 3; ++c) {
    pre.mean[c] = 0.f;
    pre.std[c] = 1.f / 255.f;
  }
  if (channels != 1 && channels != 3)
    throw Error(ErrorKind::unsupported, where + ": images can only calibrate a 1- or 3-channel input");
  const Tensor rgb = preprocess(image, pre);  // [1, 3, crop, crop], 0..255
  const float* p = rgb.data<float>();
  const int64_t plane = height * width;
  const bool bgr = config_.input_type_train == InputKind::bgr;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t k = 0; k < plane; ++k) {
      float v;
      if (channels == 1) v = 0.299f * p[k] + 0.587f * p[plane + k] + 0.114f * p[2 * plane + k];
      else v = p[(bgr ? 2 - c : c) * plane + k];
      if (nhwc) dst[k * channels + c] = v;
      else dst[c * plane + k] = v;
    }
  return out;
}

void normalize(Tensor& x, const QuantConfig& config) {
  const bool nhwc = config.input_layout_train == "NHWC";
  const Shape& s = x.shape();
  const int64_t channels = s[nhwc ? 3 : 1];
  const int64_t plane = s[nhwc ? 1 : 2] * s[nhwc ? 2 : 3];
  float* p = x.data<float>();
  for (const auto* v : {&config.mean, &config.scale})
    if (v->size() > 1 && static_cast<int64_t>(v->size()) != channels)
      throw Error(ErrorKind::internal, config.path + ": mean_value/scale_value counts were not checked against the model's " +
                                           std::to_string(channels) + " channels");
  auto param = [](const std::vector<float>& v, int64_t c, float fallback) {
    return v.empty() ? fallback : v[v.size() == 1 ? 0 : static_cast<size_t>(c)];
  };
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < channels; ++c) {
      const float mean = param(config.mean, c, 0.f), scale = param(config.scale, c, 1.f);
      for (int64_t k = 0; k < plane; ++k) {
        float& v = p[nhwc ? (n * plane + k) * channels + c : (n * channels + c) * plane + k];
        v = (v - mean) * scale;
      }
    }
}

std::pair<float, float> normalized_pixel_range(const QuantConfig& config) {
  // 1 or the model's channel count each (check_config_against_model): the larger is the count.
  const size_t channels = std::max<size_t>({config.mean.size(), config.scale.size(), 1});
  if ((config.mean.size() > 1 && config.mean.size() != channels) || (config.scale.size() > 1 && config.scale.size() != channels))
    throw Error(ErrorKind::internal, config.path + ": mean_value and scale_value have different channel counts");
  float lo = INFINITY, hi = -INFINITY;
  for (size_t c = 0; c < channels; ++c) {
    const float mean = config.mean.empty() ? 0.f : config.mean[config.mean.size() == 1 ? 0 : c];
    const float scale = config.scale.empty() ? 1.f : config.scale[config.scale.size() == 1 ? 0 : c];
    for (const float pixel : {0.f, 255.f}) {
      lo = std::min(lo, (pixel - mean) * scale);
      hi = std::max(hi, (pixel - mean) * scale);
    }
  }
  return {lo, hi};
}

}  // namespace effvit::quant
