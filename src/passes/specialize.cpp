#include "effvit/error.h"
#include "ops/op.h"
#include "passes/passes.h"

namespace effvit {
namespace {

void check_against_onnx(const Node& n, const Value& v) {
  if (!v.onnx_shape) return;
  const Shape& theirs = *v.onnx_shape;
  bool same = theirs.size() == v.shape.size();
  for (size_t d = 0; same && d < theirs.size(); ++d) same = theirs[d] < 0 || theirs[d] == v.shape[d];
  if (!same)
    throw Error(n.describe() + ": output '" + v.name + "' has shape " + shape_str(v.shape) +
                " but ONNX shape inference says " + shape_str(theirs));
}

// Infers one node's outputs and, when all its inputs are constant (or it is a Shape whose input
// shape is now known), evaluates it; otherwise keeps it in `kept` for the runtime graph.
void specialize_node(Graph& g, Node& n, std::vector<Node>& kept) {
  const OpDef* def = find_op(n.op);
  if (!def) throw Error(n.describe() + ": unsupported op");
  InferContext ctx{n, g, {}, {}};
  for (ValueId id : n.inputs)
    if (id != kNoValue && !g.value(id).shape_known) ctx.fail("input '" + g.value(id).name + "' has no known shape");
  def->infer(ctx);
  if (ctx.out_shapes.size() < n.outputs.size()) ctx.fail("produces fewer outputs than the node declares");
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    Value& v = g.value(n.outputs[i]);
    v.dtype = ctx.out_dtypes[i];
    v.shape = ctx.out_shapes[i];
    v.shape_known = true;
    check_against_onnx(n, v);
  }
  bool foldable = n.op == "Shape";
  if (!foldable) {
    foldable = true;
    for (ValueId id : n.inputs)
      // A weight the Model holds only packed (released, see Value::weight_id) is not folded over.
      if (id != kNoValue && (!g.value(id).is_constant || !g.value(id).constant.defined())) foldable = false;
  }
  // Large results are left to the runtime graph: a few hundred bytes of ONNX (a ConstantOfShape or
  // Expand of a huge shape) must not make loading fill gigabytes.
  constexpr size_t kMaxFoldedBytes = size_t{64} << 20;
  size_t folded_bytes = 0;
  for (ValueId id : n.outputs) {
    const Value& v = g.value(id);
    folded_bytes += static_cast<size_t>(shape_numel(v.shape)) * dtype_size(v.dtype);
  }
  if (folded_bytes > kMaxFoldedBytes) foldable = false;
  if (!foldable) {
    kept.push_back(std::move(n));
    return;
  }
  TensorIn in;
  for (ValueId id : n.inputs) {
    if (id == kNoValue) in.push_back(nullptr);
    else if (g.value(id).is_constant) in.push_back(&g.value(id).constant);
    else in.push_back(nullptr);  // only Shape gets here: it reads nothing but the shape
  }
  Tensor shape_probe;
  if (n.op == "Shape") {
    const Value& x = g.value(n.inputs[0]);
    shape_probe = Tensor::view(x.dtype, x.shape, nullptr);
    in[0] = &shape_probe;
  }
  std::vector<Tensor> results;
  TensorOut out;
  results.reserve(n.outputs.size());
  for (ValueId id : n.outputs) results.emplace_back(g.value(id).dtype, g.value(id).shape);
  for (Tensor& t : results) out.push_back(&t);
  def->compute(n, in, out);
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    Value& v = g.value(n.outputs[i]);
    v.constant = results[i];
    v.is_constant = true;
  }
}

}  // namespace

Graph specialize(const Graph& source, const std::vector<Shape>& input_shapes) {
  Graph g = source;
  // Nothing the outputs do not need gets evaluated, not even constant arithmetic.
  g.remove_dead_nodes();
  if (input_shapes.size() != g.inputs.size()) throw Error("specialize: wrong number of input shapes");
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    Value& v = g.value(g.inputs[i]);
    v.shape = input_shapes[i];
    v.shape_known = true;
  }
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (Node& n : g.nodes) {
    try {
      specialize_node(g, n, kept);
    } catch (const Error& e) {
      // Errors raised below the op (e.g. a tensor too large to allocate) still name the node.
      const std::string what = e.what();
      if (what.rfind(n.describe(), 0) == 0) throw;
      throw Error(n.describe() + ": " + what);
    }
  }
  g.nodes = std::move(kept);
  g.remove_dead_nodes();
  return g;
}

}  // namespace effvit
