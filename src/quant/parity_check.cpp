#include "quant/parity_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace effvit::quant {

void ParityCheck::add(const Tensor& sample) {
  const Shape& s = sample.shape();
  if (sample.dtype() != DType::f32 || s.size() != 4 || sample.numel() == 0) return;
  const bool nhwc = config_.input_layout_train == "NHWC";
  const int64_t channels = s[nhwc ? 3 : 1], plane = s[nhwc ? 1 : 2] * s[nhwc ? 2 : 3];
  const float* x = sample.data<float>();
  for (int64_t i = 0; i < sample.numel(); ++i) {
    const double v = x[i];
    min_ = seen_ ? std::min(min_, v) : v;
    max_ = seen_ ? std::max(max_, v) : v;
    seen_ = true;
    sum_ += v;
    sum2_ += v * v;
    const int64_t c = nhwc ? i % channels : (i / plane) % channels;
    if (channels == 3) channel_sum_[c] += v;
  }
  count_ += static_cast<double>(sample.numel());
}

std::vector<std::string> ParityCheck::warnings() const {
  std::vector<std::string> w;
  if (!seen_ || config_.input_type_rt == InputKind::featuremap) return w;
  const double mean = sum_ / count_, sd = std::sqrt(std::max(0.0, sum2_ / count_ - mean * mean));
  char buf[320];
  if (min_ < -0.5) {
    std::snprintf(buf, sizeof buf,
                  "calibration data has negative values (min %.3g, mean %.3g, sd %.3g): it looks normalised already, and "
                  "the YAML's mean/scale would be applied twice; cal_data_dir wants 0..255 pixels before normalisation",
                  min_, mean, sd);
    w.push_back(buf);
  } else if (max_ <= 1.5) {
    std::snprintf(buf, sizeof buf,
                  "calibration data lies in [%.3g, %.3g]: it looks scaled to 0..1, but the deployed model takes 0..255 "
                  "pixels and the YAML's mean/scale expect them",
                  min_, max_);
    w.push_back(buf);
  }
  // Natural photos are brighter in red than in blue on average (ImageNet: 124 vs 104). When the
  // YAML's own mean says that order and the samples show the opposite by a clear margin, the
  // channels are probably swapped.
  const std::vector<float>& m = config_.mean;
  if (m.size() == 3 && count_ > 0 && w.empty()) {
    const double third = count_ / 3;
    const double first = channel_sum_[0] / third, last = channel_sum_[2] / third;
    if (m[0] > m[2] + 5 && last > first + 15) {
      std::snprintf(buf, sizeof buf,
                    "calibration data's first channel averages %.1f and its last %.1f, the opposite of the YAML's "
                    "mean_value (%.1f ... %.1f): are the files bgr where input_type_train says rgb?",
                    first, last, m[0], m[2]);
      w.push_back(buf);
    }
  }
  return w;
}

}  // namespace effvit::quant
