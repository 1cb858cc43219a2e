// ONNX's QOperator form of an int8 model (QLinearConv, QLinearMatMul, and ONNX Runtime's own
// com.microsoft QLinearAdd, QLinearMul, QLinearConcat, QLinearGlobalAveragePool, QLinearSigmoid,
// QLinearSoftmax, QGemm: what its quantize_static writes with quant_format=QOperator) rewritten
// into the QDQ form effvit's passes fold into integer kernels, so one set of int8 kernels serves
// both.
#pragma once

#include <string>

#include "onnx/onnx_pb.h"

namespace effvit {

// Each QLinearConv / QLinearMatMul of `graph` becomes DequantizeLinear on its inputs, the float op,
// and QuantizeLinear of the result, with the same scales and zero points: by the ONNX definition
// the same numbers up to the float rounding of the requantisation, which the folded integer conv
// does as the QLinear op would (int32 sums, one scaling). `opset` is the model's default-domain
// opset: per-channel scales need DequantizeLinear's axis (opset 13); below it such a node is left
// as it is, and refused as an unsupported op. A node breaking the ops' type rules, or a
// com.microsoft one the rewrite cannot express (channels_last pooling, QGemm's alpha, a Softmax of
// another opset), is an Error naming `path` and the node. Returns how many nodes were rewritten.
int expand_qoperator_ops(onnx::GraphProto& graph, int opset, const std::string& path);

}  // namespace effvit
