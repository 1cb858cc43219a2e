// Small ONNX graphs written by hand for tests that load models from memory or files.
#pragma once

#include <string>
#include <vector>

#include "effvit/tensor.h"
#include "onnx/onnx_pb.h"

namespace effvit::test {

inline void add_initializer(onnx::GraphProto& g, const std::string& name, const Tensor& t) {
  auto* init = g.add_initializer();
  init->set_name(name);
  init->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : t.shape()) init->add_dims(d);
  init->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.bytes()));
}

// A node named after its one output.
inline onnx::NodeProto* add_node(onnx::GraphProto& g, const std::string& op, const std::vector<std::string>& inputs,
                                 const std::string& output) {
  auto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(output);
  for (const auto& i : inputs) n->add_input(i);
  n->add_output(output);
  return n;
}

inline void add_ints_attribute(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& values) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

}  // namespace effvit::test
