#pragma once

#include "ops/op.h"

namespace effvit {

// effvit's float32 pointwise conv for a float32 Conv where it is the faster kernel: 1x1, stride 1,
// one group, input and output float32 in 16-channel blocks (nChw16c), channels in whole 16-blocks,
// small images, on an AVX-512 CPU. Null otherwise (oneDNN's then).
std::unique_ptr<Kernel> create_pointwise_conv_f32(const Node& node, const Graph& graph, const KernelOptions& options);

}  // namespace effvit
