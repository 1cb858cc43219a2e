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
#include "data/image_listing.h"
#include "effvit/tensor.h"
#include "quant/config.h"

namespace effvit::quant {

class CalibrationSet {
 public:
  // `input_shape`: the float model's input at batch 1, in the training layout. `limit` (0: all)
  // takes that many samples spread evenly over the set (files sort by class folder: the first
  // hundred may be one class). Throws effvit::Error naming cal_data_dir when it is missing or holds
  // no sample.
  CalibrationSet(const QuantConfig& config, Shape input_shape, const std::map<std::string, std::string>& metadata, size_t limit = 0);
  ~CalibrationSet();

  size_t size() const;
  // Files in cal_data_dir that are none of the sample kinds (a GIF, notes.txt), for a note.
  const ImageListing& not_samples() const { return not_samples_; }
  // Sample i as float32 of `input_shape` (not normalised). Throws effvit::Error naming its file
  // when it has the wrong size, type or content.
  Tensor sample(size_t i) const;
  std::string source(size_t i) const;

 private:
  // The set's own position of sample i.
  size_t at(size_t i) const { return i * total_ / count_; }

  const QuantConfig& config_;
  Shape shape_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::string> files_;
  ImageListing not_samples_;
  std::unique_ptr<IdxArray> idx_;  // an IDX images file: [count, height, width] gray bytes
  size_t total_ = 0, count_ = 0;
};

// (x - mean) * scale per channel, in place: what the deployed model's preprocessing computes.
void normalize(Tensor& x, const QuantConfig& config);

// The values a pixel input can take once normalised: [min, max] over the channels of
// (0 - mean) * scale and (255 - mean) * scale.
std::pair<float, float> normalized_pixel_range(const QuantConfig& config);

}  // namespace effvit::quant
