// Fast kernels backed by oneDNN, offered to the planner through each op's OpDef::create.
#pragma once

#include "ops/op.h"

namespace effvit {

std::unique_ptr<Kernel> create_matmul_dnnl(const Node& node, const Graph& graph, const KernelOptions& options);
std::unique_ptr<Kernel> create_gemm_dnnl(const Node& node, const Graph& graph, const KernelOptions& options);

}  // namespace effvit
