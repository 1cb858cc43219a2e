// `effvit quantize --init-config MODEL.onnx`: a starter config in the RDK toolchain's YAML layout
// for one export, ready to quantize once cal_data_dir points at calibration data. It names the
// model's own Softmax nodes (timm or Cream layout, any variant) pinned to int16 as the seed's M5
// config does, takes the normalisation from the model's metadata (ImageNet's otherwise) and the
// input layout from its input, and comments every key.
#pragma once

#include <optional>
#include <string>

#include "quant/config.h"

namespace effvit::quant {

// `model_path` as the YAML should name it (relative paths are resolved against the YAML's folder).
// `input_type_rt`: what the deployed model will take (nv12, rgb, bgr, gray, featuremap); none:
// nv12 for a 3-channel model (camera frames, as the seed), gray for a 1-channel one.
// Throws effvit::Error naming the model when it cannot be read or has no 4-D image input.
std::string starter_config(const std::string& model_file, const std::string& model_path_in_yaml,
                           std::optional<InputKind> input_type_rt);

// "nv12" -> InputKind::nv12 ...; throws effvit::Error listing the choices.
InputKind parse_input_kind(const std::string& name);

}  // namespace effvit::quant
