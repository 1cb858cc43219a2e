// The NV12 -> RGB conversion `effvit quantize` writes in front of a model (src/quant/qdq_model.cpp:
// ~40 int32 ONNX ops named effvit_pre/nv12/*, so any runtime reproduces OpenCV's
// COLOR_YUV2RGB_NV12) becomes one effvit.Nv12ToRgb node. Fused only when the subgraph is exactly the
// one written: the same ops, the BT.601 coefficients, the plane boundaries, one uint8 input, and no
// reader outside it; anything else keeps running op by op.
#include <map>
#include <set>

#include "passes/passes.h"

namespace effvit {
namespace {

const std::string kPrefix = "effvit_pre/nv12/";

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// The integer constant a node of the subgraph reads under `name`, or nullopt.
std::optional<int64_t> scalar_constant(const Graph& g, const std::string& name, const std::map<std::string, ValueId>& by_name) {
  auto it = by_name.find(kPrefix + name);
  if (it == by_name.end() || !g.is_constant(it->second)) return std::nullopt;
  const Tensor& t = g.value(it->second).constant;
  if (t.numel() != 1) return std::nullopt;
  if (t.dtype() == DType::i32) return t.data<int32_t>()[0];
  if (t.dtype() == DType::i64) return t.data<int64_t>()[0];
  return std::nullopt;
}

}  // namespace

int fuse_nv12_input(Graph& g) {
  std::map<std::string, ValueId> by_name;
  for (size_t id = 0; id < g.values.size(); ++id) by_name[g.values[id].name] = static_cast<ValueId>(id);
  auto rgb_it = by_name.find(kPrefix + "rgb");
  if (rgb_it == by_name.end()) return 0;
  const ValueId rgb = rgb_it->second;

  std::set<size_t> members;
  std::map<std::string, int> ops;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (starts_with(g.nodes[i].name, kPrefix)) {
      members.insert(i);
      ++ops[g.nodes[i].op];
    }
  const std::map<std::string, int> expected_ops{{"Cast", 4}, {"Slice", 4}, {"Reshape", 6}, {"Expand", 2}, {"Sub", 6},
                                                {"Clip", 4},  {"Mul", 5},   {"Add", 5},     {"Div", 3},    {"Concat", 1}};
  if (ops != expected_ops) return 0;

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

  // The coefficients and plane boundaries it was written with.
  const Shape& nv12 = g.value(input).shape;
  if (nv12.size() != 4 || nv12[1] <= 0 || nv12[1] % 3) return 0;
  const int64_t height = nv12[1] / 3 * 2;
  const std::map<std::string, int64_t> expected{
      {"c16", 16},          {"cy", 1220542},    {"r_cv", 1673527}, {"g_cv", -852492},
      {"g_cu", -409993},    {"b_cu", 2116026},  {"c128", 128},     {"half_plus_offset", (1 << 19) + (int64_t{1024} << 20)},
      {"two20", 1 << 20},   {"k1024", 1024},    {"c255", 255},     {"zero", 0},
      {"y_start", 0},       {"y_end", height},  {"uv_start", height}, {"uv_end", height * 3 / 2}};
  for (const auto& [name, value] : expected)
    if (scalar_constant(g, name, by_name) != value) return 0;

  // RGB or BGR: the order the Concat reads its channels in.
  const int producer = g.producers()[static_cast<size_t>(rgb)];
  if (producer < 0 || !members.count(static_cast<size_t>(producer))) return 0;
  const Node& concat = g.nodes[static_cast<size_t>(producer)];
  if (concat.op != "Concat" || concat.inputs.size() != 3) return 0;
  const std::string first = g.value(concat.inputs[0]).name;
  Node fused;
  fused.op = "effvit.Nv12ToRgb";
  fused.name = "effvit_pre/nv12";
  fused.inputs = {input};
  fused.outputs = {rgb};
  fused.set_int("rgb", first == kPrefix + "r" ? 1 : 0);

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
