// An execution plan for one set of concrete input shapes: the specialised, optimised graph, one
// kernel per node, and one arena whose offsets were fixed ahead of time from value lifetimes, so a
// run allocates nothing but the returned outputs.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ops/op.h"

namespace effvit {

// Conv, MatMul, Gemm and layout reorders must not run a reference loop (10-1000x slower than the
// vectorised kernels; one appearing means a format this ISA tier has no kernel for): an error
// naming the node when `strict`, else a one-line warning on stderr, once per node and process.
void check_hot_path_kernel(const Node& node, const Kernel& kernel, bool strict);

class Plan {
 public:
  Plan(Graph graph, const KernelOptions& options);
  ~Plan();

  // Runs on `inputs` (already checked against the graph's inputs); the results stay in the arena
  // until the next run, readable through output().
  void execute(const std::vector<Tensor>& inputs);
  const Tensor& output(size_t i) const { return slots_[static_cast<size_t>(graph_.outputs[i])]; }
  // Runs and returns copies of every output.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  const Graph& graph() const { return graph_; }
  // The implementation each node's kernel runs, in node order.
  std::vector<std::string> implementations() const;
  // Everything the plan holds per run: activations, then the kernels' shared workspace.
  size_t arena_bytes() const { return arena_bytes_; }

 private:
  struct Step {
    std::unique_ptr<Kernel> kernel;
    std::vector<ValueId> inputs, outputs;
    TensorIn in;
    TensorOut out;
  };
  void keep_only_read_weights(const KernelOptions& options);
  void assign_memory();
  void run_profiled();

  Graph graph_;
  std::vector<Step> steps_;
  std::vector<Tensor> slots_;  // one per value: constants, bound inputs, arena views
  std::vector<ValueId> alias_of_;  // per value: the value whose storage it shares, or kNoValue
  std::shared_ptr<void> arena_;
  size_t arena_bytes_ = 0;
  int profile_ = 0;  // EFFVIT_PROFILE: 1 time per op type, 2 also per node
  int runs_ = 0;
  std::map<std::string, double> op_ms_;
  std::vector<double> node_ms_;
};

}  // namespace effvit
