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

// An opset-13 model with one float input "x" and one float output "y" of the given sizes, and no
// nodes yet.
inline onnx::ModelProto model_x_to_y(const std::string& name, const std::vector<int64_t>& x_dims, const std::vector<int64_t>& y_dims) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto& g = *m.mutable_graph();
  g.set_name(name);
  for (auto [v, dims] : {std::pair{g.add_input(), &x_dims}, std::pair{g.add_output(), &y_dims}}) {
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : *dims) t->mutable_shape()->add_dim()->set_dim_value(d);
  }
  g.mutable_input(0)->set_name("x");
  g.mutable_output(0)->set_name("y");
  return m;
}

inline void add_ints_attribute(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& values) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

}  // namespace effvit::test
