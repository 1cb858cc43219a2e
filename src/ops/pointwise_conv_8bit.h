#pragma once

#include "ops/op.h"

namespace effvit {

// effvit's 8-bit pointwise conv for an integer Conv (passes/fold_qdq_into_conv.cpp) where it is the
// faster kernel: 1x1, stride 1, one group, uint8/int8 activations channels-last, in_c a multiple of
// 4 and out_c of 16, 8-bit channels-last or float32 output, small images, on a CPU of the
// avx512_bf16 tier (AVX512-VNNI). Null otherwise (oneDNN's then).
std::unique_ptr<Kernel> create_pointwise_conv_8bit(const Node& node, const Graph& graph, const KernelOptions& options);

}  // namespace effvit
