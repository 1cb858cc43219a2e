#include <cmath>

#include "passes/passes.h"

namespace effvit {

int fold_batchnorm_into_conv(Graph& g) {
  const auto uses = g.use_counts();
  const auto prod = g.producers();
  int folded = 0;
  for (Node& bn : g.nodes) {
    if (bn.op != "BatchNormalization" || bn.outputs.size() != 1) continue;
    Node* found = sole_conv_producer(g, bn.inputs[0], uses, prod);
    if (!found) continue;
    Node& conv = *found;
    bool constant = g.is_constant(conv.inputs[1]);
    for (size_t i = 1; i <= 4; ++i) constant = constant && g.is_constant(bn.inputs[i]);
    if (conv.inputs.size() > 2 && conv.inputs[2] != kNoValue) constant = constant && g.is_constant(conv.inputs[2]);
    if (!constant) continue;

    const Tensor& w = g.value(conv.inputs[1]).constant;
    if (w.rank() == 0 || w.dim(0) <= 0 || w.numel() == 0) continue;  // empty: Conv inference rejects it
    const int64_t out_c = w.dim(0), per_out = w.numel() / out_c;
    const float eps = bn.attr_float("epsilon", 1e-5f);
    const float* gamma = g.value(bn.inputs[1]).constant.data<float>();
    const float* beta = g.value(bn.inputs[2]).constant.data<float>();
    const float* mean = g.value(bn.inputs[3]).constant.data<float>();
    const float* var = g.value(bn.inputs[4]).constant.data<float>();
    const float* old_bias = conv.inputs.size() > 2 && conv.inputs[2] != kNoValue ? g.value(conv.inputs[2]).constant.data<float>() : nullptr;
    Tensor nw(DType::f32, w.shape()), nb(DType::f32, {out_c});
    for (int64_t o = 0; o < out_c; ++o) {
      const float scale = gamma[o] / std::sqrt(var[o] + eps);
      for (int64_t k = 0; k < per_out; ++k) nw.data<float>()[o * per_out + k] = w.data<float>()[o * per_out + k] * scale;
      nb.data<float>()[o] = ((old_bias ? old_bias[o] : 0.f) - mean[o]) * scale + beta[o];
    }
    const std::string base = conv.name.empty() ? g.value(conv.outputs[0]).name : conv.name;
    conv.inputs.resize(3);
    conv.inputs[1] = g.add_constant(base + ".folded_weight", nw);
    conv.inputs[2] = g.add_constant(base + ".folded_bias", nb);
    absorb_consumer(conv, bn);
    ++folded;
  }
  if (folded) g.remove_dead_nodes();
  return folded;
}

}  // namespace effvit
