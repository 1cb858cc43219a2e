// Whether the calibration data looks like what the deployed model will be fed. The commonest
// mistakes make a quantized model fail silently: samples already scaled to 0..1 (the YAML's
// mean/scale expect 0..255 pixels), samples already normalised (mean/scale applied twice), and
// colour channels in the other order (the YAML says rgb, the files are bgr).
#pragma once

#include <string>
#include <vector>

#include "effvit/tensor.h"
#include "quant/config.h"

namespace effvit::quant {

class ParityCheck {
 public:
  explicit ParityCheck(const QuantConfig& config) : config_(config) {}
  // A sample as calibration reads it: training layout, before normalisation.
  void add(const Tensor& sample);
  // One line per suspicion (empty when the data looks right).
  std::vector<std::string> warnings() const;

 private:
  const QuantConfig& config_;
  double min_ = 0, max_ = 0;
  double sum_ = 0, sum2_ = 0;
  double channel_sum_[3] = {0, 0, 0};
  double count_ = 0;
  bool seen_ = false;
};

}  // namespace effvit::quant
