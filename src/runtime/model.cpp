#include "effvit/model.h"

#include "cpu/hardware.h"
#include "import/onnx_import.h"
#include "passes/passes.h"
#include "runtime/model_runtime.h"
#include "runtime/summary.h"

namespace effvit {

Model::Model() = default;
Model::~Model() = default;

std::shared_ptr<const Graph> Model::Runtime::graph_for(const std::vector<Shape>& shapes) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = graphs_[shapes];
  if (!slot) {
    Graph g = specialize(structural_, shapes);
    optimize_for_shapes(g, hardware().info.channel_block);
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
  Graph structural = *model->graph_;
  optimize_structure(structural);
  model->runtime_ = std::make_unique<Runtime>(std::move(structural));
  try {
    // Built now so load reports shape errors; the first Session at this shape reuses it.
    const auto runtime = model->runtime_->graph_for(shapes);
    model->summary_ = summarize(*model->graph_, specialized, *runtime);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  return model;
}

}  // namespace effvit
