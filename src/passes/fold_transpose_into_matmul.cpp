#include "passes/passes.h"

namespace effvit {
namespace {

// perm swaps the last two axes and keeps the others in place.
bool swaps_last_two(const std::vector<int64_t>& perm) {
  const size_t r = perm.size();
  if (r < 2 || perm[r - 1] != static_cast<int64_t>(r - 2) || perm[r - 2] != static_cast<int64_t>(r - 1)) return false;
  for (size_t d = 0; d + 2 < r; ++d)
    if (perm[d] != static_cast<int64_t>(d)) return false;
  return true;
}

}  // namespace

int fold_transpose_into_matmul(Graph& g) {
  const auto uses = g.use_counts();
  const auto prod = g.producers();
  int folded = 0;
  for (Node& mm : g.nodes) {
    if (mm.op != "MatMul") continue;
    for (size_t i = 0; i < 2; ++i) {
      const char* flag = i == 0 ? "effvit.trans_a" : "effvit.trans_b";
      const int p = prod[static_cast<size_t>(mm.inputs[i])];
      if (p < 0 || mm.attr_int(flag, 0) || uses[static_cast<size_t>(mm.inputs[i])] != 1) continue;
      const Node& t = g.nodes[static_cast<size_t>(p)];
      if (t.op != "Transpose" || !t.has("perm") || !swaps_last_two(t.attr_ints("perm"))) continue;
      mm.inputs[i] = t.inputs[0];
      mm.set_int(flag, 1);
      ++folded;
    }
  }
  if (folded) g.remove_dead_nodes();
  return folded;
}

}  // namespace effvit
