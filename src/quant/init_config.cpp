#include "quant/init_config.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "effvit/error.h"
#include "effvit/image.h"
#include "onnx/onnx_pb.h"
#include "quant/qdq_model.h"
#include "quant/yaml_text.h"

namespace effvit::quant {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.8g", v);
  return buf;
}

}  // namespace

InputKind parse_input_kind(const std::string& name) {
  for (InputKind k : {InputKind::nv12, InputKind::rgb, InputKind::bgr, InputKind::gray, InputKind::featuremap})
    if (name == input_kind_name(k)) return k;
  throw Error(ErrorKind::invalid_input, "--input-type: '" + name + "' is not one of nv12, rgb, bgr, gray, featuremap");
}

std::string starter_config(const std::string& model_file, const std::string& model_path_in_yaml,
                           std::optional<InputKind> input_type_rt) {
  std::ifstream in(model_file, std::ios::binary);
  if (!in) throw Error(ErrorKind::invalid_input, model_file + ": cannot open the model");
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&in)) throw Error(ErrorKind::invalid_model, model_file + ": not an ONNX model (protobuf parse failed)");
  refuse_quantized(model, model_file);

  // The image input: the first graph input that is not an initializer.
  std::vector<std::string> initializers;
  for (const auto& t : model.graph().initializer()) initializers.push_back(t.name());
  const onnx::ValueInfoProto* input = nullptr;
  for (const auto& v : model.graph().input())
    if (std::find(initializers.begin(), initializers.end(), v.name()) == initializers.end()) {
      input = &v;
      break;
    }
  if (!input || input->type().tensor_type().shape().dim_size() != 4)
    throw Error(ErrorKind::unsupported, model_file + ": needs one 4-D image input to write a config for");
  const auto& shape = input->type().tensor_type().shape();
  auto dim = [&](int i) { return shape.dim(i).has_dim_value() ? shape.dim(i).dim_value() : int64_t{-1}; };
  const bool nhwc = dim(1) != 1 && dim(1) != 3 && (dim(3) == 1 || dim(3) == 3);
  const int64_t channels = nhwc ? dim(3) : dim(1);
  const bool gray = channels == 1;
  // NV12 (camera frames, as the seed) where it can be: a 3-channel NCHW model.
  const InputKind rt = input_type_rt.value_or(gray ? InputKind::gray : nhwc ? InputKind::rgb : InputKind::nv12);
  if (rt == InputKind::nv12 && nhwc)
    throw Error(ErrorKind::invalid_input, model_file + ": an NHWC model cannot take nv12 input (quantize writes NV12 conversion for NCHW)");
  if (gray && rt != InputKind::gray && rt != InputKind::featuremap)
    throw Error(ErrorKind::invalid_input, model_file + ": a 1-channel model takes gray or featuremap input, not " + input_kind_name(rt));
  if (!gray && rt == InputKind::gray)
    throw Error(ErrorKind::invalid_input, model_file + ": a " + std::to_string(channels) + "-channel model cannot take gray input");

  std::map<std::string, std::string> metadata;
  for (const auto& p : model.metadata_props()) metadata[p.key()] = p.value();
  const Preprocess pre = Preprocess::from_metadata(metadata);  // ImageNet's mean/std when absent
  std::vector<std::string> softmax;
  // Named as quantize names nodes: an unnamed one by its first output.
  for (const auto& n : model.graph().node())
    if (n.op_type() == "Softmax") softmax.push_back(n.name().empty() && n.output_size() ? n.output(0) : n.name());

  const std::string stem = std::filesystem::path(model_file).stem().string();
  const std::string size = dim(nhwc ? 1 : 2) > 0 ? std::to_string(dim(nhwc ? 1 : 2)) + "x" + std::to_string(dim(nhwc ? 2 : 3)) + "_" : "";
  std::ostringstream y;
  y << "# Starter config for " << std::filesystem::path(model_file).filename().string()
    << ", written by `effvit quantize --init-config`.\n"
    << "# Fill in calibration_parameters.cal_data_dir, then: effvit quantize --config THIS_FILE.yaml\n"
    << "# Paths are relative to this file's folder. Keys the RDK board's compiler reads (march,\n"
    << "# compiler_parameters, ...) may be added; effvit notes and ignores them.\n"
    << "model_parameters:\n"
    << "  onnx_model: " << yaml_quoted(model_path_in_yaml) << "\n"
    << "  working_dir: " << yaml_quoted(stem + "_int8") << "\n"
    << "  output_model_file_prefix: " << yaml_quoted(stem + "_" + size + input_kind_name(rt)) << "\n";
  if (softmax.empty()) {
    y << "  # node_info: per node name, {'ON': 'BPU' (integer) or 'CPU' (float32), 'InputType'/'OutputType': 'int8' or 'int16'}\n";
  } else {
    y << "  # The attention Softmax nodes, pinned to int16 as the seed's M5 config does (effvit keeps them\n"
      << "  # in float32, which is at least as precise). Per node: 'ON': 'BPU' (integer) or 'CPU' (float32).\n";
    std::vector<NodeInfoEntry> pinned;
    for (const std::string& name : softmax) pinned.push_back({name, {{"ON", "BPU"}, {"InputType", "int16"}, {"OutputType", "int16"}}});
    y << node_info_block(pinned, 2);
  }
  y << "\ninput_parameters:\n"
    << "  # What the deployed model takes: nv12 (camera frames), rgb, bgr, gray (uint8 pixels) or featuremap.\n"
    << "  input_type_rt: " << yaml_quoted(input_kind_name(rt)) << "\n"
    << "  input_type_train: " << yaml_quoted(rt == InputKind::featuremap ? "featuremap" : gray ? "gray" : "rgb") << "\n"
    << "  input_layout_train: " << yaml_quoted(nhwc ? "NHWC" : "NCHW") << "\n"
    << "  # (pixel - mean) * scale on 0..255 pixels, from the model's metadata"
    << (metadata.count("effvit.mean") ? "" : " (none: ImageNet's)") << ".\n"
    << "  norm_type: 'data_mean_and_scale'\n";
  const int n = gray ? 1 : 3;
  y << "  mean_value:";
  for (int c = 0; c < n; ++c) y << " " << number(255.0 * pre.mean[c]);
  y << "\n  scale_value:";
  for (int c = 0; c < n; ++c) y << " " << number(1.0 / (255.0 * pre.std[c]));
  y << "\n\ncalibration_parameters:\n"
    << "  # A folder of .npy tensors in the training layout before normalisation (0..255), raw .bin/.rgb\n"
    << "  # files of that size, JPEG/PNG images (resized by the model's own rules), or an IDX images file.\n"
    << "  cal_data_dir: './calibration_data'\n"
    << "  cal_data_type: 'float32'\n"
    << "  # max, kl, mse, default (the best of max, max at 0.99995 and kl), mix (per tensor) or load.\n"
    << "  calibration_type: 'max'\n"
    << "  max_percentile: 0.99999\n"
    << "  # kl only: histogram bins searched (512-4096) and quantized levels (0: each tensor's own).\n"
    << "  # num_bin: 2048\n"
    << "  # num_quantized_bins: 0\n";
  return y.str();
}

}  // namespace effvit::quant
