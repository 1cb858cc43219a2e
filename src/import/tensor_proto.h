// Conversion between ONNX TensorProto and effvit::Tensor. Only this folder sees protobuf.
#pragma once

#include <string>

#include "effvit/tensor.h"
#include "onnx/onnx_pb.h"

namespace effvit {

// `model_dir` resolves external-data locations; `what` names the tensor in error messages.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& model_dir, const std::string& what);

}  // namespace effvit
