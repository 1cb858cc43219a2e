#include "passes/passes.h"

namespace effvit {

void replace_uses(Graph& graph, ValueId from, ValueId to) {
  for (Node& n : graph.nodes)
    for (ValueId& id : n.inputs)
      if (id == from) id = to;
  for (ValueId& id : graph.outputs)
    if (id == from) id = to;
}

void optimize(Graph& graph) {
  remove_identity(graph);
  fold_batchnorm_into_conv(graph);
  fuse_conv_relu(graph);
  graph.remove_dead_nodes();
  assign_blocked_layout(graph);
}

}  // namespace effvit
