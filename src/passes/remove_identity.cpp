#include "passes/passes.h"

namespace effvit {

int remove_identity(Graph& g) {
  int removed = 0;
  for (Node& n : g.nodes) {
    if (n.op != "Identity") continue;
    const ValueId out = n.outputs[0];
    bool is_graph_output = false;
    for (ValueId id : g.outputs) is_graph_output = is_graph_output || id == out;
    if (is_graph_output) continue;  // keep the output's name and storage distinct
    replace_uses(g, out, n.inputs[0]);
    ++removed;
  }
  if (removed) g.remove_dead_nodes();
  return removed;
}

}  // namespace effvit
