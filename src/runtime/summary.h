// What `effvit info` reports about a model, computed from its graph.
#pragma once

#include "effvit/model.h"
#include "ir/graph.h"

namespace effvit {

// `specialized` is the graph at batch 1 before optimisation passes (so BatchNorm parameters are
// still visible as such); `runtime` is what the executor runs, for the op histogram.
ModelSummary summarize(const Graph& imported, const Graph& specialized, const Graph& runtime);

}  // namespace effvit
