#include "import/onnx_import.h"

#include <climits>
#include <filesystem>
#include <unordered_map>

#include "effvit/error.h"
#include "onnx/checker.h"
#include "onnx/shape_inference/implementation.h"
#include "import/open_file.h"
#include "import/qoperator.h"
#include "import/tensor_proto.h"
#include "ops/op.h"

namespace effvit {
namespace {

std::string first_line(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) + "..." : line;
}

void check_parsed(const onnx::ModelProto& model, const std::string& path) {
  if (!model.has_graph() || model.graph().node_size() == 0)
    throw Error(path + ": not an ONNX model (no graph)");
  if (model.graph().output_size() == 0) throw Error(path + ": ONNX graph has no outputs (truncated file?)");
}

onnx::ModelProto parse_bytes(const void* data, size_t size, const std::string& path) {
  if (size == 0) throw Error(path + ": empty file, not an ONNX model");
  if (!data) throw Error(ErrorKind::invalid_input, path + ": no data (a null pointer)");
  if (size > static_cast<size_t>(INT_MAX))
    throw Error(ErrorKind::unsupported, path + ": larger than 2 GB; store the weights as ONNX external data");
  onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size)))
    throw Error(path + ": not an ONNX model (protobuf parse failed; truncated or another format)");
  check_parsed(model, path);
  return model;
}

// Parsed from the file descriptor through protobuf's buffered stream: no copy of the whole file in
// memory, and no mapping (a file shrinking under a mapping would kill the process with SIGBUS).
onnx::ModelProto parse_file(const std::string& path) {
  const OpenFile file(path);
  if (file.size() == 0) throw Error(path + ": empty file, not an ONNX model");
  if (file.size() > static_cast<size_t>(INT_MAX))
    throw Error(ErrorKind::unsupported, path + ": larger than 2 GB; store the weights as ONNX external data");
  onnx::ModelProto model;
  if (!model.ParseFromFileDescriptor(file.fd()))
    throw Error(path + ": not an ONNX model (protobuf parse failed; truncated or another format)");
  check_parsed(model, path);
  return model;
}

DType dtype_from_elem(const std::string& path, const std::string& name, int32_t elem) {
  using TP = onnx::TensorProto;
  switch (elem) {
    case TP::FLOAT: return DType::f32;
    case TP::INT64: return DType::i64;
    case TP::INT32: return DType::i32;
    case TP::UINT8: return DType::u8;
    case TP::INT8: return DType::i8;
    case TP::BOOL: return DType::bool8;
    case TP::INT16: return DType::i16;
    case TP::UINT16: return DType::u16;
  }
  throw Error(path + ": tensor '" + name + "' has unsupported element type " + std::to_string(elem));
}

std::vector<std::string> dim_names_of(const onnx::TypeProto& type) {
  std::vector<std::string> names;
  for (const auto& d : type.tensor_type().shape().dim()) names.push_back(d.has_dim_value() ? "" : d.dim_param());
  return names;
}

Shape shape_from_type(const onnx::TypeProto& type) {
  Shape s;
  for (const auto& d : type.tensor_type().shape().dim()) s.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return s;
}

Attribute convert_attribute(const onnx::AttributeProto& a, const std::string& model_dir, const std::string& what) {
  using AP = onnx::AttributeProto;
  Attribute out;
  switch (a.type()) {
    case AP::INT: out.kind = Attribute::Kind::Int; out.i = a.i(); break;
    case AP::FLOAT: out.kind = Attribute::Kind::Float; out.f = a.f(); break;
    case AP::STRING: out.kind = Attribute::Kind::String; out.s = a.s(); break;
    case AP::INTS: out.kind = Attribute::Kind::Ints; out.ints.assign(a.ints().begin(), a.ints().end()); break;
    case AP::FLOATS: out.kind = Attribute::Kind::Floats; out.floats.assign(a.floats().begin(), a.floats().end()); break;
    case AP::STRINGS: out.kind = Attribute::Kind::Strings; out.strings.assign(a.strings().begin(), a.strings().end()); break;
    case AP::TENSOR: out.kind = Attribute::Kind::Tensor; out.t = tensor_from_proto(a.t(), model_dir, what); break;
    default: throw Error(what + ": unsupported attribute type for '" + a.name() + "'");
  }
  return out;
}

Tensor constant_node_value(const Node& n) {
  if (n.has("value")) return n.attrs.at("value").t;
  if (n.has("value_float")) return Tensor::from_vector<float>({}, {n.attr_float("value_float", 0)});
  if (n.has("value_int")) return Tensor::from_vector<int64_t>({}, {n.attr_int("value_int", 0)});
  if (n.has("value_floats")) {
    const auto& v = n.attrs.at("value_floats").floats;
    return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  }
  if (n.has("value_ints")) {
    const auto& v = n.attrs.at("value_ints").ints;
    return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  }
  throw Error(n.describe() + ": unsupported Constant form");
}

// Folds opset-dependent defaults into explicit attributes so ops need not know the opset.
void normalize_for_opset(Node& n, int opset) {
  if (n.op == "Softmax") {
    if (!n.has("axis")) n.set_int("axis", opset < 13 ? 1 : -1);
    if (opset < 13) n.set_int("effvit.coerce_2d", 1);
  }
}

}  // namespace

namespace {

// Debian's libonnx (1.12) copies a tensor's raw_data into a vector of raw_data.size() / element
// size elements and then memcpy's all of raw_data (onnx::ParseData, in shape inference): a length
// that is not a whole number of elements writes past the vector. Such tensors are refused first,
// wherever they sit (initializers, Constant values, attributes, subgraphs).
size_t proto_element_size(int32_t type) {
  using TP = onnx::TensorProto;
  switch (type) {
    case TP::UINT8: case TP::INT8: case TP::BOOL: return 1;
    case TP::UINT16: case TP::INT16: case TP::FLOAT16: case TP::BFLOAT16: return 2;
    case TP::FLOAT: case TP::INT32: case TP::UINT32: return 4;
    case TP::INT64: case TP::UINT64: case TP::DOUBLE: case TP::COMPLEX64: return 8;
    case TP::COMPLEX128: return 16;
  }
  return 1;
}

void check_raw_data(const onnx::TensorProto& t, const std::string& path) {
  if (t.has_raw_data() && t.raw_data().size() % proto_element_size(t.data_type()) != 0)
    throw Error(path + ": tensor '" + t.name() + "' has " + std::to_string(t.raw_data().size()) + " bytes of raw_data, not a whole number of elements");
}

void check_raw_data(const onnx::GraphProto& g, const std::string& path) {
  for (const auto& t : g.initializer()) check_raw_data(t, path);
  for (const auto& t : g.sparse_initializer()) {
    check_raw_data(t.values(), path);
    check_raw_data(t.indices(), path);
  }
  for (const auto& n : g.node())
    for (const auto& a : n.attribute()) {
      if (a.has_t()) check_raw_data(a.t(), path);
      for (const auto& t : a.tensors()) check_raw_data(t, path);
      if (a.has_sparse_tensor()) {
        check_raw_data(a.sparse_tensor().values(), path);
        check_raw_data(a.sparse_tensor().indices(), path);
      }
      if (a.has_g()) check_raw_data(a.g(), path);
      for (const auto& sub : a.graphs()) check_raw_data(sub, path);
    }
}

// Debian's libonnx (1.12) takes a Conv's kernel size from its weight's shape when the node has no
// kernel_shape, and then indexes the dilations and the input's dimensions by it: a weight of more
// axes than the input reads past both (onnx::convPoolShapeInference). Where the weight is known
// before shape inference (an initializer, a Constant, or one dequantized), the attribute it stands
// for is written out, which ONNX then checks against the input's rank.
// Conv strides and dilations of 0 divide by zero in the same function (and effvit refuses them
// anyway, see conv_geometry).
void prepare_convs_for_onnx_inference(onnx::GraphProto& g, const std::string& path) {
  for (const auto& n : g.node())
    if (n.op_type() == "Conv")
      for (const auto& a : n.attribute())
        if (a.name() == "strides" || a.name() == "dilations")
          for (int64_t v : a.ints())
            if (v <= 0)
              throw Error(path + ": node '" + (n.name().empty() && n.output_size() ? n.output(0) : n.name()) +
                          "' (Conv): strides and dilations must be positive");
  std::unordered_map<std::string, const onnx::TensorProto*> known;
  for (const auto& t : g.initializer()) known[t.name()] = &t;
  for (const auto& n : g.node()) {
    if (n.op_type() == "Constant" && n.output_size() == 1)
      for (const auto& a : n.attribute())
        if (a.name() == "value" && a.has_t()) known[n.output(0)] = &a.t();
    if (n.op_type() == "DequantizeLinear" && n.input_size() > 0 && n.output_size() == 1 && known.count(n.input(0)))
      known[n.output(0)] = known[n.input(0)];
  }
  for (auto& n : *g.mutable_node()) {
    if (n.op_type() != "Conv" || n.input_size() < 2) continue;
    bool has_kernel_shape = false;
    for (const auto& a : n.attribute()) has_kernel_shape = has_kernel_shape || a.name() == "kernel_shape";
    auto it = known.find(n.input(1));
    if (has_kernel_shape || it == known.end()) continue;
    auto* a = n.add_attribute();
    a->set_name("kernel_shape");
    a->set_type(onnx::AttributeProto::INTS);
    for (int i = 2; i < it->second->dims_size(); ++i) a->add_ints(it->second->dims(i));
  }
}

// Ops effvit does not run are refused before ONNX's shape inference runs theirs (Debian's has more
// functions like the one above: MaxPool and ConvTranspose share it).
void check_supported_ops(const onnx::GraphProto& g, const std::string& path) {
  for (const auto& np : g.node()) {
    const std::string name = np.name().empty() ? (np.output_size() ? np.output(0) : np.op_type()) : np.name();
    if (!np.domain().empty() && np.domain() != "ai.onnx")
      throw Error(ErrorKind::unsupported, path + ": unsupported op '" + np.domain() + "::" + np.op_type() + "' (node '" + name + "')");
    if (np.op_type() == "Constant") continue;
    if (!find_op(np.op_type()) || np.op_type().rfind("effvit.", 0) == 0)
      throw Error(ErrorKind::unsupported, path + ": unsupported op '" + np.op_type() + "' (node '" + name + "')");
  }
}

// `model_dir` is where external data lives; empty for a model from memory, which may have none.
ImportedModel convert(onnx::ModelProto model, const std::string& path, const std::string& model_dir, bool from_file) {
  bool external = false;
  for (const auto& init : model.graph().initializer()) external = external || init.data_location() == onnx::TensorProto::EXTERNAL;
  if (external && !from_file)
    throw Error(ErrorKind::unsupported, path + ": weights stored as external data; load the model from its file");
  // Debian's checker knows IR versions up to 8, newer exporters write 9 and 10. Their additions
  // (new element types, ...) fail in effvit's own conversion below, so the rest is checked as IR 8.
  check_raw_data(model.graph(), path);
  for (const auto& f : model.functions())
    for (const auto& n : f.node())
      for (const auto& a : n.attribute())
        if (a.has_t()) check_raw_data(a.t(), path);
  const int64_t ir_version = model.ir_version();
  if (ir_version > onnx::IR_VERSION) model.set_ir_version(onnx::IR_VERSION);
  try {
    // Only the path overload tells the checker where external data lives (it re-reads the small
    // graph file; the weights stay in their own file).
    if (external) onnx::checker::check_model(path);
    else onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error(path + ": invalid ONNX model: " + first_line(e.what()));
  }
  int opset = 0;
  for (const auto& imp : model.opset_import())
    if (imp.domain().empty() || imp.domain() == "ai.onnx") opset = static_cast<int>(imp.version());
  if (opset == 0) throw Error(path + ": model imports no default-domain opset");
  expand_qoperator_ops(*model.mutable_graph(), opset, path);
  check_supported_ops(model.graph(), path);
  prepare_convs_for_onnx_inference(*model.mutable_graph(), path);
  try {
    onnx::shape_inference::InferShapes(model);
  } catch (const std::exception& e) {
    throw Error(path + ": ONNX shape inference failed: " + first_line(e.what()));
  }

  ImportedModel out;
  Graph& g = out.graph;
  g.opset = opset;
  const auto& gp = model.graph();
  std::unordered_map<std::string, ValueId> by_name;
  auto lookup = [&](const std::string& name, const std::string& user) {
    auto it = by_name.find(name);
    if (it == by_name.end()) throw Error(path + ": " + user + " reads undefined tensor '" + name + "'");
    return it->second;
  };

  for (const auto& init : gp.initializer())
    by_name[init.name()] = g.add_constant(init.name(), tensor_from_proto(init, model_dir, path + ": initializer '" + init.name() + "'"));
  for (const auto& in : gp.input()) {
    if (by_name.count(in.name())) continue;  // an initializer listed as input (old exporters)
    if (!in.type().has_tensor_type()) throw Error(path + ": input '" + in.name() + "' is not a tensor");
    Value v;
    v.name = in.name();
    v.dtype = dtype_from_elem(path, in.name(), in.type().tensor_type().elem_type());
    v.shape = shape_from_type(in.type());
    out.dim_names[in.name()] = dim_names_of(in.type());
    ValueId id = g.add_value(v);
    by_name[in.name()] = id;
    g.inputs.push_back(id);
  }
  if (g.inputs.empty()) throw Error(path + ": model has no runtime inputs");

  std::unordered_map<std::string, Shape> inferred;
  for (const auto& vi : gp.value_info())
    if (vi.type().has_tensor_type() && vi.type().tensor_type().has_shape()) inferred[vi.name()] = shape_from_type(vi.type());

  for (const auto& np : gp.node()) {
    Node n;
    n.op = np.op_type();
    n.name = np.name().empty() ? (np.output_size() ? np.output(0) : np.op_type()) : np.name();
    if (!np.domain().empty() && np.domain() != "ai.onnx")
      throw Error(ErrorKind::unsupported, path + ": unsupported op '" + np.domain() + "::" + n.op + "' (node '" + n.name + "')");
    for (const auto& a : np.attribute())
      n.attrs[a.name()] = convert_attribute(a, model_dir, path + ": node '" + n.name + "'");
    if (n.op == "Constant") {
      if (np.output_size() != 1) throw Error(path + ": Constant node '" + n.name + "' must have one output");
      by_name[np.output(0)] = g.add_constant(np.output(0), constant_node_value(n));
      continue;
    }
    // effvit.* ops are effvit's own (layout conversions); a model may not name them.
    if (!find_op(n.op) || n.op.rfind("effvit.", 0) == 0)
      throw Error(ErrorKind::unsupported, path + ": unsupported op '" + n.op + "' (node '" + n.name + "')");
    normalize_for_opset(n, opset);
    for (const auto& in : np.input()) n.inputs.push_back(in.empty() ? kNoValue : lookup(in, "node '" + n.name + "'"));
    for (const auto& o : np.output()) {
      Value v;
      v.name = o;
      auto it = inferred.find(o);
      if (it != inferred.end()) v.onnx_shape = it->second;
      ValueId id = g.add_value(v);
      by_name[o] = id;
      n.outputs.push_back(id);
    }
    g.nodes.push_back(std::move(n));
  }
  for (const auto& o : gp.output()) g.outputs.push_back(lookup(o.name(), "graph output"));
  for (const auto& o : gp.output())
    if (o.type().has_tensor_type() && o.type().tensor_type().has_shape()) {
      g.value(by_name[o.name()]).onnx_shape = shape_from_type(o.type());
      out.dim_names[o.name()] = dim_names_of(o.type());
    }
  for (const auto& p : model.metadata_props()) out.metadata[p.key()] = p.value();
  out.file_info = {model.producer_name(), model.producer_version(), model.domain(), model.doc_string(),
                   gp.name(),             gp.doc_string(),          model.model_version()};
  return out;
}

}  // namespace

ImportedModel import_onnx(const std::string& path) {
  return convert(parse_file(path), path, std::filesystem::path(path).parent_path().string(), true);
}

ImportedModel import_onnx_bytes(const void* data, size_t size, const std::string& name) {
  return convert(parse_bytes(data, size, name), name, "", false);
}

}  // namespace effvit
