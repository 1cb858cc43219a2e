#include "passes/passes.h"

namespace effvit {

int fuse_conv_relu(Graph& g) {
  const auto uses = g.use_counts();
  const auto prod = g.producers();
  int fused = 0;
  for (Node& relu : g.nodes) {
    if (relu.op != "Relu") continue;
    Node* conv = sole_conv_producer(g, relu.inputs[0], uses, prod);
    if (!conv) continue;
    conv->set_string("effvit.activation", "Relu");
    absorb_consumer(*conv, relu);
    ++fused;
  }
  if (fused) g.remove_dead_nodes();
  return fused;
}

}  // namespace effvit
