// Runs a float graph's convolutions in bfloat16 (a bf16 plan; see SessionOptions::precision):
//   - every float32 Conv computes with bf16 operands and float32 sums (effvit.compute = "bf16");
//     its weights are packed to bf16 once, at plan time;
//   - every blocked activation (the conv chains assign_blocked_layout made: Conv outputs and the
//     Adds and Relus between them) is stored as bf16, so neighbouring convs pass bf16 to each other
//     and the Adds and Relus between them read and write bf16; so is a plain Conv output that only
//     Convs read (a stem too narrow to block, a squeeze-excite's two convs), which would otherwise
//     round-trip through float32 between them;
//   - the layout conversions at the chains' edges (effvit.ToPlain / effvit.ToBlocked) convert type
//     and layout in one reorder, so a bf16 plan reorders no more often than a float32 one.
// Everything plain stays float32: the attention heads (their softmax above all), the classifier,
// the graph's inputs and outputs.
//
// Keeping the residual stream (the Adds' outputs) in float32 instead was measured and not worth
// it: on the M0-M5 fixtures it moved the logits' cosine to float32 by under 0.001, because
// rounding each conv's input to bf16 is what costs accuracy, and that is bf16 itself.
#include "ops/conv.h"
#include "passes/passes.h"

namespace effvit {

int assign_bf16_activations(Graph& g) {
  int changed = 0;
  for (Node& n : g.nodes)
    if (n.op == "Conv" && !is_quantized_conv(n)) {
      n.set_string("effvit.compute", "bf16");
      ++changed;
    }
  // Values a bf16 Conv writes that only bf16 Convs read (as their input), plain or blocked.
  std::vector<bool> conv_only(g.values.size(), false), read(g.values.size(), false);
  for (const Node& n : g.nodes)
    if (n.op == "Conv" && !is_quantized_conv(n)) conv_only[static_cast<size_t>(n.outputs[0])] = true;
  for (const Node& n : g.nodes)
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const ValueId id = n.inputs[i];
      if (id == kNoValue) continue;
      read[static_cast<size_t>(id)] = true;
      if (!(n.op == "Conv" && i == 0 && n.has("effvit.compute"))) conv_only[static_cast<size_t>(id)] = false;
    }
  for (ValueId id : g.outputs) conv_only[static_cast<size_t>(id)] = false;
  for (size_t i = 0; i < g.values.size(); ++i) {
    Value& v = g.values[i];
    if (v.dtype != DType::f32 || v.shape.size() != 4) continue;
    if (v.layout == Layout::Blocked || (conv_only[i] && read[i])) {
      v.dtype = DType::bf16;
      ++changed;
    }
  }
  return changed;
}

}  // namespace effvit
