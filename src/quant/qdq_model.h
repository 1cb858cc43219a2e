// The ONNX-level edits quantization makes, on onnx::ModelProto so the result is a standard QDQ file
// any runtime loads: BatchNorm folded into the convs before weights are quantized, calibration
// outputs, the deployed input's preprocessing, and QuantizeLinear/DequantizeLinear pairs.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "effvit/model.h"
#include "onnx/onnx_pb.h"
#include "quant/config.h"

namespace effvit::quant {

// A Conv, Gemm or MatMul whose weights are a constant: quantized as integer arithmetic (int8
// weights per output channel, int8/uint8 activations per tensor) unless node_info says ON: CPU.
struct QuantTarget {
  std::string node;        // node name (or its first output when unnamed)
  std::string op;
  std::string activation;  // the tensor it reads (input 0)
  std::string weight;      // its constant weight initializer
  std::string bias;        // Conv/Gemm bias initializer, or empty
};

// How an activation tensor is quantized: uint8 with zero point 0 when calibration saw no negative
// value (ReLU outputs), else int8 symmetric.
struct ActivationQuant {
  float scale = 1;
  bool is_unsigned = false;
  int zero_point = 0;  // uint8 only
};

// The model's default-domain opset.
int default_opset(const onnx::ModelProto& model);

// Conv -> BatchNormalization pairs (the conv's output read by that BN only, all parameters
// constant) become one Conv writing the BN's output. Returns how many were folded; `folded_into`,
// if given, receives each folded BN's name -> its Conv's name.
int fold_batchnorm_into_conv(onnx::ModelProto& model, std::map<std::string, std::string>* folded_into = nullptr);

// The nodes to quantize, in graph order: every Conv, Gemm and MatMul with constant weights that
// node_info leaves integer at 8 bits (ON: CPU and int16 keep float32). node_info names that match
// no node are an error naming them (`config_path` for the message).
std::vector<QuantTarget> find_targets(const onnx::ModelProto& model, const QuantConfig& config);

// A node's name, or its first output's when it has none (how quantize and node_info name nodes).
std::string node_name(const onnx::NodeProto& node);

// Throws, naming `path`, when `model` is already quantized (QDQ pairs, QOperator or integer ops):
// quantizing needs the float32 export it came from, and reading its integer tensors as float
// would only fail later with a message about tensors.
void refuse_quantized(const onnx::ModelProto& model, const std::string& path);

// `model` loaded by effvit (checked as any load checks it), `name` standing for it in messages.
std::shared_ptr<const Model> load_proto(const onnx::ModelProto& model, const std::string& name);

// Adds tensors (name -> rank) as extra float32 graph outputs, so one run reports them all.
void add_outputs(onnx::ModelProto& model, const std::map<std::string, size_t>& tensors);

// Replaces each target's activation input with QuantizeLinear -> DequantizeLinear at `ranges`, its
// weight with an int8 per-channel initializer behind a DequantizeLinear, and its bias with int32
// at scale (activation scale x weight scale). Before opset 13 ONNX has no per-axis DequantizeLinear:
// weights then get one scale per tensor (less accurate; re-export at opset 13+ to avoid it).
// weight_levels: each output channel's largest |w| maps to this (127: full int8; 64: 7-bit, exact in
// oneDNN's int8 kernels without VNNI).
// per_channel false gives every weight one scale (also what happens before opset 13).
// A channel whose int32 bias would saturate has its weight scale widened until the bias fits; each
// node where that happened gets a line in `notes`.
void insert_qdq(onnx::ModelProto& model, const std::vector<QuantTarget>& targets,
                const std::map<std::string, ActivationQuant>& ranges, int weight_levels, bool per_channel = true,
                std::vector<std::string>* notes = nullptr);

// The activation grids of an existing QDQ model (effvit's or ONNX Runtime's): for each tensor a
// QuantizeLinear with a constant scalar scale and zero point reads, by that tensor's name. An int8
// grid with a zero point becomes the uint8 grid with the zero point 128 higher (the same values).
// `path` names the model in errors.
std::map<std::string, ActivationQuant> read_activation_grids(const onnx::ModelProto& qdq, const std::string& path);

// Throws the one-line error a config that does not fit the model's input deserves (input name,
// type pairing, layout, mean/scale counts, NV12 geometry), before any data is read.
void check_config_against_model(const onnx::ModelProto& model, const QuantConfig& config);

// The deployed model takes raw pixels: the graph input becomes uint8 (rgb, bgr, gray: NCHW as in
// training) and Cast, channel reversal (bgr <-> rgb) and (x - mean) * scale are prepended as
// standard ops. featuremap inputs stay float32 and only get the normalisation. An input_layout_rt
// other than the training layout makes the deployed input take that layout, with a Transpose.
void prepend_preprocessing(onnx::ModelProto& model, const QuantConfig& config);

}  // namespace effvit::quant
