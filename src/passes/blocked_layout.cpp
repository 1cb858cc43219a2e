// Keeps conv chains in oneDNN's blocked nChw<B>c layout (the idea of ONNX Runtime's NCHWc
// transformer): every 2-D Conv writes it, an Add of two same-shape activations or a Relu stays
// blocked when an input already is, and explicit effvit.ToPlain / effvit.ToBlocked nodes convert on
// the edges
// where a reader needs the other layout. Between two convs of a block nothing is reordered; the
// attention's reshapes and transposes read plain NCHW through one conversion.
#include "passes/passes.h"

namespace effvit {
namespace {

bool is_activation(const Value& v) { return v.dtype == DType::f32 && v.shape.size() == 4; }

bool reads_blocked(const Node& n, size_t input, const Graph& g) {
  if (n.op == "Conv") return input == 0;
  if (n.op == "Add" || n.op == "Relu") return g.value(n.outputs[0]).layout == Layout::Blocked;
  return false;
}

}  // namespace

int assign_blocked_layout(Graph& g, int block) {
  std::vector<bool> is_output(g.values.size(), false);
  for (ValueId id : g.outputs) is_output[static_cast<size_t>(id)] = true;

  std::vector<std::vector<const Node*>> readers(g.values.size());
  for (const Node& n : g.nodes)
    for (ValueId id : n.inputs)
      if (id != kNoValue) readers[static_cast<size_t>(id)].push_back(&n);

  // Decide output layouts in topological order.
  int blocked = 0;
  for (const Node& n : g.nodes) {
    Value& out = g.value(n.outputs[0]);
    if (!is_activation(out)) continue;
    bool to_block = false;
    if (n.op == "Conv") {
      // oneDNN's blocked convs take a zero-padded last block (24 channels in nChw16c run on its jit
      // kernels), but below one full block they fall back to its reference loop (8 channels did);
      // blocking only pays when a reader can stay blocked (otherwise it is one more reorder).
      bool blocked_reader = false;
      for (const Node* r : readers[static_cast<size_t>(n.outputs[0])])
        blocked_reader = blocked_reader || (r->op == "Conv" && r->inputs[0] == n.outputs[0]) || r->op == "Add" || r->op == "Relu";
      to_block = out.shape[1] >= block && out.shape[1] % 8 == 0 && blocked_reader;
    } else if (n.op == "Relu") {
      to_block = g.value(n.inputs[0]).layout == Layout::Blocked;
    } else if (n.op == "Add") {
      const Value& a = g.value(n.inputs[0]);
      const Value& b = g.value(n.inputs[1]);
      to_block = a.shape == b.shape && !a.is_constant && !b.is_constant &&
              (a.layout == Layout::Blocked || b.layout == Layout::Blocked);
    }
    if (to_block) {
      out.layout = Layout::Blocked;
      out.channel_block = block;
      ++blocked;
    }
  }
  if (!blocked) return 0;

  // A Conv reads its input in either layout (oneDNN reorders inside); other readers as they say.
  insert_layout_conversions(
      g,
      [&](const Node& n, size_t i) {
        if (n.op == "Conv" && i == 0) return g.value(n.inputs[0]).layout;
        return reads_blocked(n, i, g) ? Layout::Blocked : Layout::Plain;
      },
      block);
  return blocked;
}

}  // namespace effvit
