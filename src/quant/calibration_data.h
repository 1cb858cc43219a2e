// Calibration samples, as the toolchain's cal_data_dir holds them: tensors in the training layout
// before normalisation (pixels 0..255), one per file. A folder (and its subfolders) may hold .npy files, raw .bin /
// .rgb / .raw files of exactly the input's size (element type from cal_data_type), and JPEG/PNG
// images, which are decoded and resized by the model's own preprocessing (its metadata). An IDX
// images file (Fashion-MNIST's train-images-idx3-ubyte.gz, say) may stand for the folder.
#pragma once

#include <utility>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/idx.h"
#include "effvit/tensor.h"
#include "quant/config.h"

namespace effvit::quant {

class CalibrationSet {
 public:
  // `input_shape`: the float model's input at batch 1, in the training layout. Throws effvit::Error
  // naming cal_data_dir when it is missing or holds no sample.
  CalibrationSet(const QuantConfig& config, Shape input_shape, const std::map<std::string, std::string>& metadata);
  ~CalibrationSet();

  size_t size() const;
  // Sample i as float32 of `input_shape` (not normalised). Throws effvit::Error naming its file
  // when it has the wrong size, type or content.
  Tensor sample(size_t i) const;
  std::string source(size_t i) const;

 private:
  const QuantConfig& config_;
  Shape shape_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::string> files_;
  std::unique_ptr<IdxArray> idx_;  // an IDX images file: [count, height, width] gray bytes
};

// (x - mean) * scale per channel, in place: what the deployed model's preprocessing computes.
void normalize(Tensor& x, const QuantConfig& config);

// The values a pixel input can take once normalised: [min, max] over the channels of
// (0 - mean) * scale and (255 - mean) * scale.
std::pair<float, float> normalized_pixel_range(const QuantConfig& config);

}  // namespace effvit::quant
