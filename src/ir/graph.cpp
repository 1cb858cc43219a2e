#include "ir/graph.h"

#include <stdexcept>

namespace effvit {

size_t value_bytes(const Value& v) {
  int64_t n = shape_numel(v.shape);
  if (v.layout == Layout::Blocked) {
    const int64_t c = v.shape.at(1), b = v.channel_block, padded = (c + b - 1) / b * b;
    n = n / c * padded;
  }
  return static_cast<size_t>(n) * dtype_size(v.dtype);
}

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.i;
}

float Node::attr_float(const std::string& key, float fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.f;
}

std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.s;
}

std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.ints;
}

void Node::set_int(const std::string& key, int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::Int;
  a.i = v;
  attrs[key] = a;
}

void Node::set_float(const std::string& key, float v) {
  Attribute a;
  a.kind = Attribute::Kind::Float;
  a.f = v;
  attrs[key] = a;
}

void Node::set_floats(const std::string& key, std::vector<float> v) {
  Attribute a;
  a.kind = Attribute::Kind::Floats;
  a.floats = std::move(v);
  attrs[key] = a;
}

void Node::set_ints(const std::string& key, std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::Ints;
  a.ints = std::move(v);
  attrs[key] = a;
}

void Node::set_string(const std::string& key, const std::string& v) {
  Attribute a;
  a.kind = Attribute::Kind::String;
  a.s = v;
  attrs[key] = a;
}

std::string Node::describe() const {
  // Names come from the file: a control character in one must not break the one-line error.
  std::string shown = name;
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return op + " node '" + shown + "'";
}

ValueId Graph::add_value(Value v) {
  // A value added by a pass is new data, even when copied from a weight: only the Model assigns
  // weight ids (model.cpp), to values already in the graph.
  v.weight_id = 0;
  values.push_back(std::move(v));
  return static_cast<ValueId>(values.size() - 1);
}

ValueId Graph::add_constant(const std::string& name, Tensor t) {
  Value v;
  v.name = name;
  v.dtype = t.dtype();
  v.shape = t.shape();
  v.shape_known = true;
  v.constant = std::move(t);
  v.is_constant = true;
  return add_value(std::move(v));
}

std::vector<int> Graph::use_counts() const {
  std::vector<int> uses(values.size(), 0);
  for (const Node& n : nodes)
    for (ValueId id : n.inputs)
      if (id != kNoValue) ++uses[static_cast<size_t>(id)];
  for (ValueId id : outputs) ++uses[static_cast<size_t>(id)];
  return uses;
}

std::vector<int> Graph::producers() const {
  std::vector<int> prod(values.size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i)
    for (ValueId id : nodes[i].outputs) prod[static_cast<size_t>(id)] = static_cast<int>(i);
  return prod;
}

void Graph::remove_dead_nodes() {
  std::vector<bool> needed(values.size(), false);
  for (ValueId id : outputs) needed[static_cast<size_t>(id)] = true;
  std::vector<bool> keep(nodes.size(), false);
  for (size_t i = nodes.size(); i-- > 0;) {
    for (ValueId id : nodes[i].outputs)
      if (needed[static_cast<size_t>(id)]) keep[i] = true;
    if (!keep[i]) continue;
    for (ValueId id : nodes[i].inputs)
      if (id != kNoValue) needed[static_cast<size_t>(id)] = true;
  }
  std::vector<Node> kept;
  kept.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i)
    if (keep[i]) kept.push_back(std::move(nodes[i]));
  nodes = std::move(kept);
  // Constants nothing reads any more (a BatchNorm's parameters after folding, say) give their
  // storage back; their ids stay valid.
  for (size_t id = 0; id < values.size(); ++id)
    if (!needed[id] && values[id].is_constant) values[id].constant = Tensor();
}

}  // namespace effvit
