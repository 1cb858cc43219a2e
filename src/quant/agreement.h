// How far the quantized model is from the float one, measured the way a user would check it: both
// run on calibration samples, and every quantized node's output and the final logits are compared
// (cosine similarity, largest absolute error), plus how often the two agree on the top-1 class.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

// Forward-declared: the CLI includes this header through quantize.h without ONNX on its path.
namespace onnx {
class ModelProto;
}
#include "quant/calibration_data.h"
#include "quant/config.h"

namespace effvit::quant {

struct TensorAgreement {
  std::string node;    // the quantized node (Conv / Gemm / MatMul) whose output this is
  std::string tensor;  // its output tensor
  double cosine = 1;   // over all compared samples: <int8, fp32> / (|int8| |fp32|)
  double max_error = 0;
  double max_abs = 0;  // largest |fp32| value, the scale max_error is read against
};

struct Agreement {
  size_t samples = 0;
  double logits_cosine = 1;
  double top1_agreement = 1;         // share of samples whose argmax is the same class
  std::vector<TensorAgreement> nodes;  // in graph order
};

// `float_model`: the float model after BN folding (what was quantized); `deployed`: the QDQ model as
// written (it takes the run-time input: uint8 pixels, NV12 or a featuremap). `nodes`: quantized node
// name -> its output tensor; `ranks`: every tensor's rank. Runs at most `max_samples` samples,
// spread evenly over the set. The logits and top-1 come from `deployed` as written; the per-node
// table from a copy with each node's output added as a graph output (which keeps the engine from
// fusing across those nodes).
// Throws effvit::Error on a sample the models cannot take.
Agreement measure_agreement(const onnx::ModelProto& float_model, const onnx::ModelProto& deployed,
                            const std::vector<std::pair<std::string, std::string>>& nodes,
                            const std::map<std::string, size_t>& ranks, const CalibrationSet& samples,
                            const QuantConfig& config, size_t max_samples,
                            const std::function<void(size_t, size_t)>& progress);

// A calibration sample (training layout, 0..255, not normalised) as the deployed model takes it:
// uint8 pixels in the run-time channel order, NV12 as OpenCV makes it, or the float tensor itself.
Tensor deployed_input(const Tensor& sample, const QuantConfig& config);

// The logits of the float model on a fixed set of calibration samples, kept, so many candidate
// quantized models can be compared against them cheaply (sensitivity, --auto-mixed): each
// measure() loads one model and runs it on the same samples.
class LogitsProbe {
 public:
  LogitsProbe(const onnx::ModelProto& float_model, const CalibrationSet& samples, const QuantConfig& config, size_t max_samples);
  // Logits cosine and top-1 agreement of `deployed` (taking the run-time input) against float32.
  std::pair<double, double> measure(const onnx::ModelProto& deployed) const;
  size_t samples() const { return inputs_.size(); }

 private:
  const QuantConfig& config_;
  std::vector<Tensor> inputs_;  // as the deployed model takes them
  std::vector<Tensor> logits_;  // float32's
};

}  // namespace effvit::quant
