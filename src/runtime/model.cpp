#include "effvit/model.h"

#include "cpu/hardware.h"
#include "effvit/image.h"
#include "import/onnx_import.h"
#include "runtime/api_boundary.h"
#include "passes/passes.h"
#include "runtime/model_runtime.h"
#include "runtime/summary.h"

namespace effvit {

Model::Model() = default;
Model::~Model() = default;

namespace {

// Weights worth holding only packed: float constants of at least this many bytes that only Convs
// read, as their weights. Smaller ones (and everything else) stay plain in the graph.
constexpr size_t kPackedOnlyBytes = 16 * 1024;

void assign_weight_ids(Graph& g) {
  std::vector<char> conv_weight_only(g.values.size(), 1);
  for (const Node& n : g.nodes)
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (n.inputs[k] != kNoValue && !(n.op == "Conv" && k == 1)) conv_weight_only[static_cast<size_t>(n.inputs[k])] = 0;
  for (ValueId id : g.outputs) conv_weight_only[static_cast<size_t>(id)] = 0;
  uint64_t next = 0;
  for (size_t id = 0; id < g.values.size(); ++id) {
    Value& v = g.values[id];
    if (v.is_constant && v.dtype == DType::f32 && v.constant.bytes() >= kPackedOnlyBytes && conv_weight_only[id]) v.weight_id = ++next;
  }
}

// Whether any weight of `g` still has plain bytes that `weights` could rebuild.
bool holds_releasable(const Graph& g, WeightCache& weights) {
  for (const Value& v : g.values)
    if (v.weight_id && v.constant.defined() && weights.recoverable(v.weight_id)) return true;
  return false;
}

void release_recoverable(Graph& g, WeightCache& weights) {
  for (Value& v : g.values)
    if (v.weight_id && v.constant.defined() && weights.recoverable(v.weight_id)) v.constant = Tensor();
}

}  // namespace

Model::Runtime::Runtime(Graph structural) : structural_(std::move(structural)) { assign_weight_ids(structural_); }

std::shared_ptr<const Graph> Model::Runtime::graph_for(const std::vector<Shape>& shapes, bool bf16) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++clock_;
  const auto key = std::make_pair(shapes, bf16);
  auto it = graphs_.find(key);
  if (it != graphs_.end()) {
    it->second.last_use = clock_;
    return it->second.graph;
  }
  // Released weights stay released: passes only need their shapes, Plan recovers the ones a kernel
  // reads, and a Conv's kernel finds its packing in the cache (or packs from a recovered copy).
  Graph g = specialize(structural_, shapes);
  optimize_for_shapes(g, hardware().info.channel_block, bf16);
  auto graph = std::make_shared<const Graph>(std::move(g));
  // Plans copy what they need, so dropping the least recently used graph only costs a rebuild.
  if (graphs_.size() >= kMaxGraphs) {
    auto oldest = graphs_.begin();
    for (auto i = graphs_.begin(); i != graphs_.end(); ++i)
      if (i->second.last_use < oldest->second.last_use) oldest = i;
    graphs_.erase(oldest);
  }
  graphs_.emplace(key, Cached{graph, clock_});
  return graph;
}

void Model::Runtime::release_packed_weights() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_recoverable(structural_, weights);
  // Sessions may be reading a per-shape graph right now: it is replaced, not changed.
  for (auto& [shapes, cached] : graphs_) {
    if (!holds_releasable(*cached.graph, weights)) continue;
    Graph light = *cached.graph;
    release_recoverable(light, weights);
    cached.graph = std::make_shared<const Graph>(std::move(light));
  }
}

// A dynamic image size is the model's own crop because an image model cannot take 1x1 pixels. Every
// real input shape is specialised again when it arrives.
std::vector<Shape> default_input_shapes(const Graph& g, const std::map<std::string, std::string>& metadata) {
  int64_t crop = 224;
  try {
    crop = Preprocess::from_metadata(metadata).crop;
  } catch (const Error&) {
    // Bad preprocessing metadata is reported where it is used (classify, eval).
  }
  std::vector<Shape> shapes;
  for (ValueId id : g.inputs) {
    Shape s = g.value(id).shape;
    for (size_t k = 0; k < s.size(); ++k) {
      if (s[k] >= 0) continue;
      const bool image = s.size() == 4;
      s[k] = image && k >= 2 ? crop : image && k == 1 ? 3 : 1;
    }
    shapes.push_back(s);
  }
  return shapes;
}

// Everything after parsing: validate, specialise at the default shapes (so load reports shape
// errors), summarise, and keep only what Sessions need (the imported graph goes).
struct ModelLoader {
  static std::shared_ptr<const Model> from_imported(ImportedModel imported, const std::string& path);
};

std::shared_ptr<const Model> ModelLoader::from_imported(ImportedModel imported, const std::string& path) {
  std::shared_ptr<Model> model(new Model());  // private constructor: no make_shared
  model->path_ = path;
  model->metadata_ = std::move(imported.metadata);
  model->file_info_ = std::move(imported.file_info);
  const Graph& graph = imported.graph;
  model->example_input_shapes_ = default_input_shapes(graph, model->metadata_);
  const std::vector<Shape>& shapes = model->example_input_shapes_;
  Graph specialized;
  try {
    specialized = specialize(graph, shapes);
  } catch (const Error& e) {
    throw e.has_kind() ? Error(e.kind(), path + ": " + e.what()) : Error(path + ": " + e.what());
  }
  Graph structural = graph;
  optimize_structure(structural);
  model->runtime_ = std::make_unique<Model::Runtime>(std::move(structural));
  try {
    // Built now so load reports shape errors; the first Session at this shape reuses it.
    const auto runtime = model->runtime_->graph_for(shapes);
    model->summary_ = summarize(graph, specialized, *runtime);
    for (auto* list : {&model->summary_.inputs, &model->summary_.outputs})
      for (TensorInfo& info : *list) {
        const auto names = imported.dim_names.find(info.name);
        // The file's names fit the shape effvit reports unless shape inference changed its rank.
        if (names != imported.dim_names.end() && names->second.size() == info.shape.size()) info.dim_names = names->second;
        else info.dim_names.assign(info.shape.size(), "");
      }
  } catch (const Error& e) {
    throw e.has_kind() ? Error(e.kind(), path + ": " + e.what()) : Error(path + ": " + e.what());
  }
  return model;
}

std::shared_ptr<const Model> Model::load(const std::string& path) {
  return at_api_boundary(ErrorKind::invalid_model, path, [&] { return ModelLoader::from_imported(import_onnx(path), path); });
}

std::shared_ptr<const Model> Model::load_from_memory(const void* data, size_t size, const std::string& name) {
  return at_api_boundary(ErrorKind::invalid_model, name,
                         [&] { return ModelLoader::from_imported(import_onnx_bytes(data, size, name), name); });
}

}  // namespace effvit
