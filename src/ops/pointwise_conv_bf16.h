#pragma once

#include "ops/op.h"

namespace effvit {

// effvit's bf16 pointwise conv for a Conv of a bf16 plan (passes/bf16_activations.cpp) where it is
// the faster kernel: 1x1, stride 1, one group, channels in whole 16-blocks, input and output each
// bf16 blocked or plain float32, small images, on a CPU with AVX512_BF16. Null otherwise (oneDNN's
// then).
std::unique_ptr<Kernel> create_pointwise_conv_bf16(const Node& node, const Graph& graph, const KernelOptions& options);

}  // namespace effvit
