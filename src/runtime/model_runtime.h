// What a loaded Model shares with its Sessions: the optimised graph for each input-shape set (so
// BatchNorm folding and friends run once and every Session reads the same constants) and the
// packed weights oneDNN kernels build from those constants.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "effvit/model.h"
#include "ir/graph.h"
#include "ops/op.h"

namespace effvit {

struct Model::Runtime {
  std::shared_ptr<const Graph> graph_for(const Graph& imported, const std::vector<Shape>& shapes);
  void remember(const std::vector<Shape>& shapes, Graph graph);

  WeightCache weights;

 private:
  std::mutex mutex_;
  std::map<std::vector<Shape>, std::shared_ptr<const Graph>> graphs_;
};

}  // namespace effvit
