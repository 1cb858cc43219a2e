// The quantization config, in the layout of the RDK toolchain's YAML (see ../shared/seed and
// docs/quantization.md): which model, how its input arrives at run time, how to calibrate, and
// per-node precision. Keys that only mean something to the board's compiler are accepted and
// reported as notes.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace effvit::quant {

enum class InputKind { nv12, rgb, bgr, gray, featuremap };
enum class NormType { data_mean_and_scale, data_mean, data_scale, no_preprocess };
enum class CalDataType { float32, uint8 };

struct NodePrecision {
  bool integer = true;       // ON: BPU (integer arithmetic) or CPU (kept in float32)
  bool placed = false;       // ON was given (node_info, run_on_cpu or run_on_bpu)
  int input_bits = 8;        // InputType: int8 | int16
  int output_bits = 8;       // OutputType: int8 | int16
  std::string source = "model_parameters.node_info";  // the key that named the node, for messages
};

struct QuantConfig {
  std::string path;          // the YAML file, for messages
  std::string dir;           // its folder: relative paths are resolved against it

  // model_parameters
  std::string onnx_model;    // resolved path
  std::string working_dir;   // resolved path
  std::string output_prefix;
  std::map<std::string, NodePrecision> node_info;

  // input_parameters
  std::string input_name;    // empty: the model's only input
  InputKind input_type_rt = InputKind::rgb;
  InputKind input_type_train = InputKind::rgb;
  std::string input_layout_train = "NCHW";
  std::string input_layout_rt = "NCHW";  // the deployed input's layout (defaults to the training one)
  NormType norm_type = NormType::no_preprocess;
  std::vector<float> mean;   // per channel (or one for all)
  std::vector<float> scale;

  // calibration_parameters
  std::string cal_data_dir;  // resolved path (a folder, or an IDX images file)
  CalDataType cal_data_type = CalDataType::float32;
  std::string calibration_type = "max";
  double max_percentile = 1.0;
  bool per_channel = true;   // weights: one scale per output channel (false: one per tensor)
  std::string qdq_model;     // resolved path; calibration_type load takes activation scales from it
  size_t num_bin = 2048;     // kl: histogram bins it searches (512 to 4096; 2048 as TensorRT)
  int num_quantized_bins = 0;  // kl: levels of the quantized histogram (0: each tensor's integer steps)
  double kl_min_percentile = 0.9999;  // kl never clips below the max at this percentile of |x| (1: no clipping)

  // Keys accepted but meaningless on a CPU, one line each ("march: ignored on a CPU").
  std::vector<std::string> notes;

  // Where quantize writes by default: WORKING_DIR/PREFIX.onnx.
  std::string output_path() const;
};

// Throws effvit::Error "<path>: <section.key>: <problem>" for a missing required key, a value of
// the wrong type, an unknown enum value or calibration type, a node_info entry that is not a
// mapping of ON / InputType / OutputType, a key given twice in one mapping (PyYAML, which the board
// toolchain reads with, would take the last; yaml-cpp the first), and a node that run_on_cpu,
// run_on_bpu and node_info place on both sides.
QuantConfig load_quant_config(const std::string& path);

const char* input_kind_name(InputKind kind);

// The config file at config.path with `float_nodes` added to model_parameters.node_info as
// {'ON': 'CPU'} (float32), written beside it (so its relative paths still hold) as
// <name>.auto_mixed.yaml. Returns that path. The file's own text is kept, comments and all, with
// node_info rewritten an entry a line; a layout too odd to edit line-wise (model_parameters as a
// one-line flow mapping) is written afresh instead, without its comments.
std::string write_config_with_float_nodes(const QuantConfig& config, const std::vector<std::string>& float_nodes);
// Where write_config_with_float_nodes writes: CFG.auto_mixed.yaml beside CFG.
std::string auto_mixed_config_path(const QuantConfig& config);

}  // namespace effvit::quant
