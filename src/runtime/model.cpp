#include "effvit/model.h"

#include "import/onnx_import.h"
#include "passes/passes.h"
#include "runtime/model_runtime.h"
#include "runtime/summary.h"

namespace effvit {

Model::Model() : runtime_(std::make_unique<Runtime>()) {}
Model::~Model() = default;

void Model::Runtime::remember(const std::vector<Shape>& shapes, Graph graph) {
  std::lock_guard<std::mutex> lock(mutex_);
  graphs_[shapes] = std::make_shared<const Graph>(std::move(graph));
}

std::shared_ptr<const Graph> Model::Runtime::graph_for(const Graph& imported, const std::vector<Shape>& shapes) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = graphs_[shapes];
  if (!slot) {
    Graph g = specialize(imported, shapes);
    optimize(g);
    slot = std::make_shared<const Graph>(std::move(g));
  }
  return slot;
}

namespace {
// Dynamic dimensions become 1 for the shapes effvit inspects at load time.
std::vector<Shape> default_input_shapes(const Graph& g) {
  std::vector<Shape> shapes;
  for (ValueId id : g.inputs) {
    Shape s = g.value(id).shape;
    for (int64_t& d : s)
      if (d < 0) d = 1;
    shapes.push_back(s);
  }
  return shapes;
}

}  // namespace

std::shared_ptr<const Model> Model::load(const std::string& path) {
  ImportedModel imported = import_onnx(path);
  std::shared_ptr<Model> model(new Model());
  model->path_ = path;
  model->metadata_ = std::move(imported.metadata);
  model->graph_ = std::make_unique<Graph>(std::move(imported.graph));
  const std::vector<Shape> shapes = default_input_shapes(*model->graph_);
  Graph specialized;
  try {
    specialized = specialize(*model->graph_, shapes);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  Graph runtime = specialized;
  optimize(runtime);
  model->summary_ = summarize(*model->graph_, specialized, runtime);
  // The first Session at the default shape reuses this graph instead of building it again.
  model->runtime_->remember(shapes, std::move(runtime));
  return model;
}

}  // namespace effvit
