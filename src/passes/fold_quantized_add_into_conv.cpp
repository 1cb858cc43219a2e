// An integer Conv writing 8-bit codes that only an effvit.QuantizedAdd reads (a QDQ file's residual
// connection after a block's last conv) computes the sum itself, while its codes are in registers:
// the Add's other operand and the Add's grids become the conv's inputs 4 to 10 (ops/conv.h,
// kConvResidual). The conv's codes are rounded as before and the sum from them exactly as the
// QuantizedAdd computes it, so the bytes are unchanged; one pass over the tensor fewer.
//
//   integer Conv -> c -+
//                      +-> effvit.QuantizedAdd -> y    ==>    integer Conv(x, w, b, ws, r, r grid, c grid, y grid) -> y
//   r -----------------+
// Needs shapes (the operands must match: no broadcast), so it runs with the shape-specific passes.
#include "ops/conv.h"
#include "passes/passes.h"

namespace effvit {

int fold_quantized_add_into_conv(Graph& g) {
  const auto uses = g.use_counts();
  const auto producers = g.producers();
  int folded = 0;
  for (Node& add : g.nodes) {
    if (add.op != "effvit.QuantizedAdd" || add.inputs.size() != 8) continue;
    for (const size_t own : {size_t{0}, size_t{3}}) {
      // codes == residual is read twice: never the sole reader's.
      const ValueId codes = add.inputs[own], residual = add.inputs[3 - own];
      Node* found = sole_eight_bit_conv(g, codes, uses, producers);
      if (!found) continue;
      const Node& conv = *found;
      const Value& r = g.value(residual);
      if (r.shape != g.value(codes).shape || r.shape != g.value(add.outputs[0]).shape) continue;
      // The fused conv takes the Add's place in the node order: the residual's producer may come
      // after the conv (a ResNet-style shortcut exported after the branch), never after the Add.
      Node fused = conv;
      fused.inputs.resize(kConvResidual, kNoValue);
      fused.inputs.insert(fused.inputs.end(), {residual, add.inputs[3 - own + 1], add.inputs[3 - own + 2], add.inputs[own + 1],
                                               add.inputs[own + 2], add.inputs[6], add.inputs[7]});
      fused.outputs = add.outputs;
      add = std::move(fused);  // the conv left behind writes codes nothing reads any more
      ++folded;
      break;
    }
  }
  if (folded) g.remove_dead_nodes();
  return folded;
}

}  // namespace effvit
