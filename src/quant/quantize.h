// Post-training quantization end to end: the float model and the YAML in, a standard QDQ ONNX out
// (int8 weights per channel, int8/uint8 activations per tensor calibrated by `max` at
// max_percentile, int32 biases, the input's preprocessing inside the model).
#pragma once

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "quant/agreement.h"
#include "quant/report.h"
#include "quant/config.h"

namespace effvit::quant {

struct QuantizeReport {
  std::string output_path;
  size_t samples = 0;
  int batchnorms_folded = 0;
  size_t quantized_nodes = 0;  // Conv / Gemm / MatMul with constant weights, now integer
  size_t float_nodes = 0;      // of those kinds, left in float32 (node_info ON: CPU, run-time weights)
  size_t activations = 0;      // tensors given a QuantizeLinear/DequantizeLinear pair
  bool per_channel = true;     // weight scales per output channel (opset 13+), else per tensor
  // Logits cosine against float32 with the weights' scales as written and the other way (per tensor
  // vs per channel), on the sensitivity samples; NaN before opset 13 (no per-channel there).
  double weights_kept_way_cosine = NAN, weights_other_way_cosine = NAN;
  std::vector<std::string> notes;
  // What a grouped note stands for, one line each (a node a line): shown with --verbose.
  std::vector<std::string> details;
  std::string calibration;     // how the clipping bounds were chosen ("max at percentile ...", kl, mse)
  Agreement agreement;         // the written model against the float one, on calibration samples
  std::vector<ActivationRange> ranges;  // every quantized activation: range, bound, grid, histogram
  std::vector<NodeSensitivity> sensitivity;  // with --sensitivity / --auto-mixed: most sensitive first
  std::vector<std::string> auto_mixed_float;  // --auto-mixed: the nodes it kept in float32, in that order
};

// Calibration samples the agreement check runs at most (each runs both models).
constexpr size_t kAgreementSamples = 100;
// Calibration samples each sensitivity / auto-mixed measurement runs (one model per node).
constexpr size_t kSensitivitySamples = 32;

// How the integers are laid out.
//   portable (default): uint8 activations, with a zero point where a tensor's range is signed, and
//     weights within [-64, 64]. Every x86 CPU's int8 kernels compute these exactly: without VNNI
//     oneDNN sums pairs of u8 x s8 products in int16, which 255 * 64 * 2 does not overflow. The
//     same file is int8 on an AVX2 laptop and on a VNNI server.
//   full_range: int8 (signed) or uint8 activations without zero points and weights within
//     [-127, 127]: one more bit for the weights, integer speed only with VNNI or AMX (elsewhere
//     those convs run in float32 on the dequantized values).
enum class QuantScheme { portable, full_range };

const char* scheme_name(QuantScheme scheme);

// --auto-mixed: the logits cosine, or the top-1 agreement, that must hold on calibration samples.
struct Budget {
  std::string text;  // as given, for messages
  bool top1 = false;
  double value = 1;
};
// "cosine>=0.999", "top1>=99.5%" (or "top1-agreement>=0.995"); throws effvit::Error otherwise.
Budget parse_budget(const std::string& text);

struct QuantizeOptions {
  QuantScheme scheme = QuantScheme::portable;
  bool sensitivity = false;            // measure each node quantized alone
  std::optional<Budget> auto_mixed;    // keep the most sensitive nodes in float32 until it holds
  size_t calibration_samples = 0;      // at most this many of cal_data_dir's, spread over it (0: all)
};

// Calls progress(phase, done, total) after each sample: phase "calibrate", "choose" (calibration_type
// default, once per candidate), then "compare".
using Progress = std::function<void(const char* phase, size_t done, size_t total)>;

// Writes `bytes` to `path` through a temporary file renamed into place: readers never see half a
// file, and a failure leaves nothing behind. Throws effvit::Error "<path>: cannot write the <what>".
void write_atomically(const std::string& path, const std::string& bytes, const std::string& what);

// Writes the quantized model to `output_path` (config.output_path() when empty) atomically, after
// checking that effvit loads it. Throws effvit::Error naming the file and the problem.
QuantizeReport quantize(const QuantConfig& config, std::string output_path, const Progress& progress,
                        const QuantizeOptions& options = {});

}  // namespace effvit::quant
