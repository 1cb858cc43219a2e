#include "passes/passes.h"

namespace effvit {

int remove_identity(Graph& g) {
  int removed = 0;
  const auto uses = g.use_counts();
  for (Node& n : g.nodes) {
    // A Dropout whose mask nobody reads is an Identity at inference.
    const bool dropout = n.op == "Dropout" && (n.outputs.size() == 1 || uses[static_cast<size_t>(n.outputs[1])] == 0);
    if (n.op != "Identity" && !dropout) continue;
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
