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

class Plan {
 public:
  Plan(Graph graph, const KernelOptions& options);
  ~Plan();

  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  const Graph& graph() const { return graph_; }
  size_t arena_bytes() const { return arena_bytes_; }

 private:
  struct Step {
    std::unique_ptr<Kernel> kernel;
    std::vector<ValueId> inputs, outputs;
    TensorIn in;
    TensorOut out;
  };
  void assign_memory();
  void run_profiled();

  Graph graph_;
  std::vector<Step> steps_;
  std::vector<Tensor> slots_;  // one per value: constants, bound inputs, arena views
  std::shared_ptr<void> arena_;
  size_t arena_bytes_ = 0;
  bool profile_ = false;
  int runs_ = 0;
  std::map<std::string, double> op_ms_;
};

}  // namespace effvit
