#include "passes/passes.h"

namespace effvit {

int fuse_conv_relu(Graph& g) {
  const auto uses = g.use_counts();
  const auto prod = g.producers();
  int fused = 0;
  for (Node& relu : g.nodes) {
    if (relu.op != "Relu") continue;
    const int p = prod[static_cast<size_t>(relu.inputs[0])];
    if (p < 0) continue;
    Node& conv = g.nodes[static_cast<size_t>(p)];
    if (conv.op != "Conv" || conv.has("effvit.activation") || uses[static_cast<size_t>(conv.outputs[0])] != 1) continue;
    conv.set_string("effvit.activation", "Relu");
    // Swap outputs so the conv writes the Relu's value; the Relu is left reading nothing anyone needs.
    std::swap(conv.outputs[0], relu.outputs[0]);
    relu.inputs[0] = relu.outputs[0];
    relu.op = "Identity";
    ++fused;
  }
  if (fused) g.remove_dead_nodes();
  return fused;
}

}  // namespace effvit
