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

std::shared_ptr<const Graph> Model::Runtime::graph_for(const std::vector<Shape>& shapes) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++clock_;
  auto it = graphs_.find(shapes);
  if (it != graphs_.end()) {
    it->second.last_use = clock_;
    return it->second.graph;
  }
  Graph g = specialize(structural_, shapes);
  optimize_for_shapes(g, hardware().info.channel_block);
  auto graph = std::make_shared<const Graph>(std::move(g));
  // Plans copy what they need, so dropping the least recently used graph only costs a rebuild.
  if (graphs_.size() >= kMaxGraphs) {
    auto oldest = graphs_.begin();
    for (auto i = graphs_.begin(); i != graphs_.end(); ++i)
      if (i->second.last_use < oldest->second.last_use) oldest = i;
    graphs_.erase(oldest);
  }
  graphs_.emplace(shapes, Cached{graph, clock_});
  return graph;
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
