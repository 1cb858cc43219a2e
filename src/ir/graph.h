// effvit's intermediate representation: a topologically ordered list of nodes over SSA values.
//
// Values carry a dtype, a shape (once known) and, for weights and folded shape arithmetic, constant
// data. Node attributes keep their ONNX names; rewrites that fuse ops add attributes under the
// "effvit." prefix (e.g. effvit.activation on a Conv) so fused nodes remain ordinary nodes that any
// kernel for the op can honour or reject. Nothing here knows about protobuf or oneDNN.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "effvit/tensor.h"

namespace effvit {

struct Attribute {
  enum class Kind { Int, Float, String, Ints, Floats, Strings, Tensor };
  Kind kind = Kind::Int;
  int64_t i = 0;
  float f = 0.f;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  effvit::Tensor t;
};

// How a 4-D activation is laid out in memory. Blocked is oneDNN's nChw<B>c: channels in blocks of B
// innermost (the last block zero-padded), which its convolutions run fastest in; B is one vector
// register of floats, so it comes from the hardware tier (16 with AVX-512, 8 below). Only values
// the blocked_layout pass marks are blocked; everything the importer and other passes see is Plain.
// Plain: NCHW. Blocked: nChw<B>c (float conv chains). Nhwc: channels last (int8 conv chains: oneDNN's
// int8 kernels read and write it).
enum class Layout : uint8_t { Plain, Blocked, Nhwc };

struct Value {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;              // meaningful when shape_known
  bool shape_known = false;
  Tensor constant;          // defined() && is_constant: weights or folded values
  bool is_constant = false;
  // Nonzero on a large float weight the Model may keep only in packed form (a Conv's weights, once
  // a kernel has packed them): its `constant` is then released (undefined) in the Model's graphs
  // and the WeightCache recovers the bytes on demand. Graph::add_value clears it, so a value a
  // pass derives from a weight never carries the weight's id. Passes must not read a released
  // constant's data (none needs a Conv's weights; their shape and dtype stay known).
  uint64_t weight_id = 0;
  Layout layout = Layout::Plain;
  int channel_block = 0;    // B of nChw<B>c when layout == Blocked
  // Shape recorded by ONNX shape inference (-1 for unknown dims), used to cross-check ours.
  std::optional<Shape> onnx_shape;
};

using ValueId = int32_t;
constexpr ValueId kNoValue = -1;  // an omitted optional input

// Bytes a value occupies in its layout (Blocked pads channels up to a multiple of the block).
size_t value_bytes(const Value& v);

struct Node {
  std::string op;
  std::string name;
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  std::map<std::string, Attribute> attrs;

  bool has(const std::string& key) const { return attrs.count(key) != 0; }
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  float attr_float(const std::string& key, float fallback) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> fallback = {}) const;
  void set_int(const std::string& key, int64_t v);
  void set_float(const std::string& key, float v);
  void set_ints(const std::string& key, std::vector<int64_t> v);
  void set_floats(const std::string& key, std::vector<float> v);
  void set_string(const std::string& key, const std::string& v);
  // "Conv node '/stages/.../Conv'" — how errors refer to a node.
  std::string describe() const;
};

class Graph {
 public:
  std::vector<Value> values;
  std::vector<Node> nodes;  // topological order
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  int opset = 0;

  ValueId add_value(Value v);
  ValueId add_constant(const std::string& name, Tensor t);
  Value& value(ValueId id) { return values.at(static_cast<size_t>(id)); }
  const Value& value(ValueId id) const { return values.at(static_cast<size_t>(id)); }
  bool is_constant(ValueId id) const { return id != kNoValue && value(id).is_constant; }

  // For each value, how many node inputs and graph outputs read it.
  std::vector<int> use_counts() const;
  // Index of the node producing each value (-1: graph input or constant).
  std::vector<int> producers() const;
  // Drops nodes whose outputs nothing needs, working back from the graph outputs, and the data of
  // constants no remaining node reads.
  void remove_dead_nodes();
};

}  // namespace effvit
