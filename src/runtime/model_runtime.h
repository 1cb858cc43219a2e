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

// The shapes a model is inspected at when it loads (Model::example_input_shapes): dynamic batch 1,
// dynamic image size the metadata's crop. Also what `effvit quantize` calibrates at.
std::vector<Shape> default_input_shapes(const Graph& graph, const std::map<std::string, std::string>& metadata);

struct Model::Runtime {
  // The imported graph after the shape-independent rewrites (optimize_structure), run once. Its
  // large Conv weights get weight ids (Value::weight_id).
  explicit Runtime(Graph structural);

  // Specialised to `shapes` and laid out for the kernels; built on first use, then shared. Weights
  // the Model holds only packed may be released in it (Plan recovers what its kernels read).
  // `bf16`: for a bf16 plan (passes/bf16_activations.cpp).
  std::shared_ptr<const Graph> graph_for(const std::vector<Shape>& shapes, bool bf16 = false);

  // Drops the plain bytes of every weight `weights` now holds packed, from the shape-independent
  // graph and each per-shape one, so the Model keeps its weights once. Called after each plan is
  // built; a later specialisation recovers them from the packed copies.
  void release_packed_weights();

  WeightCache weights;

 private:
  // Per-shape graphs kept at once (least recently used dropped first): a server seeing many batch
  // sizes must not grow without bound.
  static constexpr size_t kMaxGraphs = 16;
  struct Cached {
    std::shared_ptr<const Graph> graph;
    uint64_t last_use;
  };
  Graph structural_;  // guarded by mutex_, like graphs_
  std::mutex mutex_;
  uint64_t clock_ = 0;
  std::map<std::pair<std::vector<Shape>, bool>, Cached> graphs_;  // by shapes and bf16
};

}  // namespace effvit
