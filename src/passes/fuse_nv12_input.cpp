// The NV12 -> RGB conversion `effvit quantize` writes in front of a model (src/quant/qdq_model.cpp:
// ~40 int32 ONNX ops named effvit_pre/nv12/*, so any runtime reproduces OpenCV's
// COLOR_YUV2RGB_NV12) becomes one effvit.Nv12ToRgb node. Names prove nothing (a file may have been
// edited: U and V swapped, channels reordered), so the subgraph is run on a probe frame of random
// bytes and fused only when it computes exactly what the kernel computes; anything else keeps
// running op by op.
#include <cstring>
#include <map>
#include <set>

#include "effvit/error.h"
#include "ops/op.h"

#include "passes/passes.h"

namespace effvit {
namespace {

const std::string kPrefix = "effvit_pre/nv12/";

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// The subgraph `members` evaluated on `probe` (by specialize, which folds nodes of constant inputs)
// against effvit.Nv12ToRgb's own result in the given channel order.
bool computes_nv12_to_rgb(const Graph& g, const std::set<size_t>& members, ValueId input, ValueId rgb, const Tensor& probe,
                          bool rgb_order) {
  Graph sub = g;
  std::vector<Node> nodes;
  for (size_t i : members) nodes.push_back(g.nodes[i]);
  sub.nodes = std::move(nodes);
  sub.inputs.clear();
  sub.outputs = {rgb};
  Value& in = sub.value(input);
  in.is_constant = true;
  in.constant = probe;
  in.shape = probe.shape();
  in.shape_known = true;
  Graph evaluated;
  try {
    evaluated = specialize(sub, {});
  } catch (const Error&) {
    return false;
  }
  const Value& got = evaluated.value(evaluated.outputs[0]);
  if (!got.is_constant || got.dtype != DType::f32) return false;
  Node kernel;
  kernel.op = "effvit.Nv12ToRgb";
  kernel.set_int("rgb", rgb_order ? 1 : 0);
  Tensor want(DType::f32, got.constant.shape());
  find_op(kernel.op)->compute(kernel, {&probe}, {&want});
  return got.constant.shape() == want.shape() && std::memcmp(got.constant.raw(), want.raw(), want.bytes()) == 0;
}

}  // namespace

int fuse_nv12_input(Graph& g) {
  std::map<std::string, ValueId> by_name;
  for (size_t id = 0; id < g.values.size(); ++id) by_name[g.values[id].name] = static_cast<ValueId>(id);
  auto rgb_it = by_name.find(kPrefix + "rgb");
  if (rgb_it == by_name.end()) return 0;
  const ValueId rgb = rgb_it->second;

  std::set<size_t> members;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (starts_with(g.nodes[i].name, kPrefix)) members.insert(i);
  const int producer = g.producers()[static_cast<size_t>(rgb)];
  if (producer < 0 || !members.count(static_cast<size_t>(producer))) return 0;

  // One uint8 graph input feeds it; what it makes is read outside only through `rgb`.
  std::set<ValueId> produced;
  for (size_t i : members)
    for (ValueId id : g.nodes[i].outputs) produced.insert(id);
  ValueId input = kNoValue;
  for (size_t i : members)
    for (ValueId id : g.nodes[i].inputs) {
      if (id == kNoValue || produced.count(id) || g.is_constant(id)) continue;
      if (input != kNoValue && input != id) return 0;
      input = id;
    }
  bool is_graph_input = false;
  for (ValueId id : g.inputs) is_graph_input = is_graph_input || id == input;
  if (!is_graph_input || g.value(input).dtype != DType::u8) return 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (members.count(i)) continue;
    for (ValueId id : g.nodes[i].inputs)
      if (id != rgb && produced.count(id)) return 0;
  }
  for (ValueId id : g.outputs)
    if (id != rgb && produced.count(id)) return 0;
  const Shape& nv12 = g.value(input).shape;
  if (nv12.size() != 4 || nv12[1] <= 0 || nv12[1] % 3 || (nv12[1] / 3) % 2 || nv12[2] <= 0 || nv12[2] % 2 || nv12[3] != 1) return 0;

  // A probe frame of random bytes (a fixed linear congruential sequence): U and V differ, every
  // channel differs, values saturate both ways.
  Tensor probe(DType::u8, {1, nv12[1], nv12[2], 1});
  uint32_t state = 12345;
  for (int64_t i = 0; i < probe.numel(); ++i) {
    state = state * 1664525u + 1013904223u;
    probe.data<uint8_t>()[i] = static_cast<uint8_t>(state >> 24);
  }
  int order = -1;
  for (const bool rgb_order : {true, false})
    if (order < 0 && computes_nv12_to_rgb(g, members, input, rgb, probe, rgb_order)) order = rgb_order ? 1 : 0;
  if (order < 0) return 0;

  Node fused;
  fused.op = "effvit.Nv12ToRgb";
  fused.name = "effvit_pre/nv12";
  fused.inputs = {input};
  fused.outputs = {rgb};
  fused.set_int("rgb", order);
  std::vector<Node> nodes;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (static_cast<int>(i) == producer) nodes.push_back(fused);
    else if (!members.count(i)) nodes.push_back(std::move(g.nodes[i]));
  }
  g.nodes = std::move(nodes);
  g.remove_dead_nodes();
  return 1;
}

}  // namespace effvit
