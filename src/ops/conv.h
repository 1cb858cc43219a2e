// Convolution geometry shared by the reference Conv and its oneDNN kernel.
#pragma once

#include "ops/op.h"

namespace effvit {

struct ConvGeometry {
  int64_t batch, in_c, in_h, in_w;
  int64_t out_c, out_h, out_w;
  int64_t groups, kh, kw;
  int64_t stride_h, stride_w, dil_h, dil_w;
  int64_t pad_t, pad_l, pad_b, pad_r;
};

ConvGeometry conv_geometry(const Node& node, const Shape& input, const Shape& weight);

std::unique_ptr<Kernel> create_conv_dnnl(const Node& node, const Graph& graph, const KernelOptions& options);

}  // namespace effvit
