#include "passes/passes.h"

namespace effvit {

void replace_uses(Graph& graph, ValueId from, ValueId to) {
  for (Node& n : graph.nodes)
    for (ValueId& id : n.inputs)
      if (id == from) id = to;
  for (ValueId& id : graph.outputs)
    if (id == from) id = to;
}

Node* sole_producer(Graph& graph, ValueId value, const char* op, const std::vector<int>& uses,
                    const std::vector<int>& producers) {
  const int p = producers[static_cast<size_t>(value)];
  if (p < 0 || uses[static_cast<size_t>(value)] != 1) return nullptr;
  Node& n = graph.nodes[static_cast<size_t>(p)];
  return n.op == op ? &n : nullptr;
}

Node* sole_conv_producer(Graph& graph, ValueId value, const std::vector<int>& uses, const std::vector<int>& producers) {
  Node* conv = sole_producer(graph, value, "Conv", uses, producers);
  return conv && !conv->has("effvit.activation") ? conv : nullptr;
}

void absorb_consumer(Node& producer, Node& consumer) {
  std::swap(producer.outputs[0], consumer.outputs[0]);
  // The consumer now reads and writes the producer's old value, which nothing else reads.
  consumer.op = "Identity";
  consumer.inputs = {consumer.outputs[0]};
}

void optimize_structure(Graph& graph) {
  remove_identity(graph);
  fuse_nv12_input(graph);
  fold_batchnorm_into_conv(graph);
  fold_qdq_into_conv(graph);
  fuse_conv_relu(graph);
  fold_transpose_into_matmul(graph);
  graph.remove_dead_nodes();
}

void optimize_for_shapes(Graph& graph, int block) {
  fuse_attention_scores(graph);
  assign_blocked_layout(graph, block);
}

void optimize(Graph& graph, int block) {
  optimize_structure(graph);
  optimize_for_shapes(graph, block);
}

}  // namespace effvit
