#include "serve/grpc_protocol.h"

#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "serve/status_error.h"

namespace effvit::serve {
namespace {

// Encoded images per request (each is decoded on the server).
constexpr int64_t kMaxImages = 256;

[[noreturn]] void bad(const std::string& message) { throw StatusError(400, message); }

// The declared shape, every dimension non-negative and the element count within int64.
Shape declared_shape(const inference::ModelInferRequest::InferInputTensor& in) {
  Shape shape(in.shape().begin(), in.shape().end());
  for (int64_t d : shape)
    if (d < 0) bad("input '" + in.name() + "': negative dimension " + std::to_string(d) + " in 'shape'");
  try {
    shape_numel(shape);
  } catch (const Error& e) {
    bad("input '" + in.name() + "': " + e.what());
  }
  return shape;
}

// Typed contents into a tensor of `count` elements: the field the datatype uses, of exactly that
// many values, each within the type's range.
template <typename T, typename Field>
void fill_from(Tensor& t, const Field& values, const std::string& name) {
  T* p = reinterpret_cast<T*>(t.raw());
  for (int i = 0; i < values.size(); ++i) {
    const auto v = values.Get(i);
    if constexpr (!std::is_same_v<T, float> && !std::is_same_v<std::decay_t<decltype(v)>, bool>) {
      if (v < std::numeric_limits<T>::lowest() || v > std::numeric_limits<T>::max())
        bad("input '" + name + "': element " + std::to_string(i) + " (" + std::to_string(v) + ") is out of range for its datatype");
    }
    p[i] = static_cast<T>(v);
  }
}

// The contents field the datatype uses and how many values it holds.
std::pair<const char*, int64_t> contents_field(const inference::InferTensorContents& c, DType dtype) {
  switch (dtype) {
    case DType::f32: return {"fp32_contents", c.fp32_contents_size()};
    case DType::u8:
    case DType::u16: return {"uint_contents", c.uint_contents_size()};
    case DType::i8:
    case DType::i16:
    case DType::i32: return {"int_contents", c.int_contents_size()};
    case DType::i64: return {"int64_contents", c.int64_contents_size()};
    case DType::bool8: return {"bool_contents", c.bool_contents_size()};
    case DType::bf16: break;
  }
  return {"", 0};
}

Tensor from_contents(const inference::InferTensorContents& c, DType dtype, const Shape& shape, const std::string& name) {
  if (dtype == DType::bf16) bad("input '" + name + "': BF16 is not an input type effvit takes");
  // The values sent are counted before the tensor the shape claims is allocated.
  const auto [field, count] = contents_field(c, dtype);
  if (count != shape_numel(shape))
    bad("input '" + name + "': " + std::to_string(count) + " values in contents." + field + " for shape " + shape_str(shape) + " (" +
        std::to_string(shape_numel(shape)) + " elements)");
  Tensor t(dtype, shape);
  switch (dtype) {
    case DType::f32: fill_from<float>(t, c.fp32_contents(), name); break;
    case DType::u8: fill_from<uint8_t>(t, c.uint_contents(), name); break;
    case DType::u16: fill_from<uint16_t>(t, c.uint_contents(), name); break;
    case DType::i8: fill_from<int8_t>(t, c.int_contents(), name); break;
    case DType::i16: fill_from<int16_t>(t, c.int_contents(), name); break;
    case DType::i32: fill_from<int32_t>(t, c.int_contents(), name); break;
    case DType::i64: fill_from<int64_t>(t, c.int64_contents(), name); break;
    case DType::bool8: fill_from<uint8_t>(t, c.bool_contents(), name); break;
    case DType::bf16: break;
  }
  return t;
}

// A raw BYTES input: each element a 4-byte little-endian length and its bytes.
std::vector<std::string> split_bytes(const std::string& raw, const std::string& name) {
  std::vector<std::string> items;
  size_t at = 0;
  while (at < raw.size()) {
    if (raw.size() - at < 4) bad("input '" + name + "': a BYTES element's 4-byte length is cut off");
    uint32_t n = 0;
    std::memcpy(&n, raw.data() + at, 4);
    at += 4;
    if (n > raw.size() - at) bad("input '" + name + "': a BYTES element runs past the end of its raw contents");
    items.emplace_back(raw.data() + at, n);
    at += n;
    if (static_cast<int64_t>(items.size()) > kMaxImages) break;  // more than any count allowed: refused by the caller
  }
  return items;
}

int64_t classification_count(const inference::ModelInferRequest::InferRequestedOutputTensor& o) {
  const auto it = o.parameters().find("classification");
  if (it == o.parameters().end()) return 0;
  if (it->second.parameter_choice_case() != inference::InferParameter::kInt64Param || it->second.int64_param() < 1 ||
      it->second.int64_param() > 1000000)
    bad("output '" + o.name() + "': 'classification' must be an int64 count of classes from 1 to 1000000");
  return it->second.int64_param();
}

}  // namespace

InferRequest parse_grpc_infer_request(const Model& model, std::shared_ptr<inference::ModelInferRequest> message, const ImageDecoder& decode) {
  const inference::ModelInferRequest& m = *message;
  const auto& infos = model.summary().inputs;
  InferRequest r;
  r.id = m.id();
  const bool raw = m.raw_input_contents_size() > 0;
  if (raw && m.raw_input_contents_size() != m.inputs_size())
    bad(std::to_string(m.raw_input_contents_size()) + " raw_input_contents for " + std::to_string(m.inputs_size()) + " inputs");
  for (int i = 0; i < m.inputs_size(); ++i) {
    const auto& in = m.inputs(i);
    const std::string& name = in.name();
    const TensorInfo* info = find_tensor_info(infos, name);
    if (!info) bad("the model has no input named '" + name + "'");
    if (r.inputs.count(name)) bad("input '" + name + "' is given twice");
    if (raw && in.has_contents()) bad("input '" + name + "': contents and raw_input_contents together");
    const Shape shape = declared_shape(in);
    const int64_t count = shape_numel(shape);
    if (in.datatype() == "BYTES") {
      // Encoded images, one per batch entry.
      if (count > kMaxImages) bad("input '" + name + "': " + std::to_string(count) + " images in one request (at most " + std::to_string(kMaxImages) + ")");
      std::vector<std::string> items;
      if (raw) {
        items = split_bytes(m.raw_input_contents(i), name);
      } else {
        // Counted before anything is copied: a message of millions of empty elements costs nothing more.
        if (in.contents().bytes_contents_size() != count)
          bad("input '" + name + "': " + std::to_string(in.contents().bytes_contents_size()) + " BYTES elements for shape " + shape_str(shape));
        items.assign(in.contents().bytes_contents().begin(), in.contents().bytes_contents().end());
      }
      r.inputs.emplace(name, decode_image_input(model, *info, items, shape, decode));
      continue;
    }
    const auto dtype = checked_input_dtype(*info, in.datatype());
    check_input_shape(*info, shape);
    if (!raw) {
      r.inputs.emplace(name, from_contents(in.contents(), dtype, shape, name));
      continue;
    }
    // Checked against the bytes actually sent before anything is allocated.
    const std::string& bytes = m.raw_input_contents(i);
    const size_t want = static_cast<size_t>(count) * dtype_size(dtype);
    if (bytes.size() != want)
      bad("input '" + name + "': " + std::to_string(bytes.size()) + " bytes of raw_input_contents for shape " + shape_str(shape) + " of " +
          in.datatype() + " (" + std::to_string(want) + " bytes)");
    // Protobuf's strings usually sit on the element's alignment: a view of the message.
    r.inputs.emplace(name, view_or_copy(dtype, shape, const_cast<char*>(bytes.data()), message, r));
  }
  for (const auto& info : infos)
    if (!r.inputs.count(info.name)) bad("input '" + info.name + "' is missing");
  std::set<std::string> seen;
  for (const auto& o : m.outputs()) {
    if (!find_tensor_info(model.summary().outputs, o.name())) bad("the model has no output named '" + o.name() + "'");
    if (!seen.insert(o.name()).second) bad("output '" + o.name() + "' is requested twice");
    r.outputs.push_back({o.name(), true, static_cast<int>(classification_count(o))});
  }
  return r;
}

void render_grpc_infer_response(const Model& model, const std::string& model_name, const std::string& version,
                                const InferRequest& request, const std::vector<Tensor>& outputs,
                                const std::vector<std::string>& labels, inference::ModelInferResponse& response) {
  const auto& infos = model.summary().outputs;
  std::vector<RequestedOutput> wanted = request.outputs;
  if (wanted.empty())
    for (const auto& info : infos) wanted.push_back({info.name, true, 0});
  response.set_model_name(model_name);
  response.set_model_version(version);
  response.set_id(request.id);
  // Raw contents for every output or for none (the protocol's rule): classification results, as
  // BYTES, are then raw too, each a 4-byte length and its text.
  for (const auto& w : wanted) {
    size_t k = 0;
    while (infos[k].name != w.name) ++k;
    const Tensor& t = outputs.at(k);
    auto* o = response.add_outputs();
    o->set_name(w.name);
    std::string* raw = response.add_raw_output_contents();
    if (w.classification) {
      Shape shape;
      const std::vector<std::string> classes = top_classes(t, w.name, w.classification, labels, shape);
      o->set_datatype("BYTES");
      for (int64_t d : shape) o->add_shape(d);
      for (const std::string& c : classes) {
        const uint32_t n = static_cast<uint32_t>(c.size());
        raw->append(reinterpret_cast<const char*>(&n), 4);
        raw->append(c);
      }
      continue;
    }
    o->set_datatype(v2_datatype(t.dtype()));
    for (int64_t d : t.shape()) o->add_shape(d);
    raw->assign(static_cast<const char*>(t.raw()), t.bytes());
  }
}

void fill_grpc_model_metadata(const Model& model, const std::string& name, const std::string& version,
                              inference::ModelMetadataResponse& response) {
  response.set_name(name);
  response.add_versions(version);
  response.set_platform("onnx_effvit");
  auto add = [](const std::vector<TensorInfo>& infos, auto* list) {
    for (const auto& info : infos) {
      auto* t = list->Add();
      t->set_name(info.name);
      t->set_datatype(v2_datatype(info.dtype));
      for (int64_t d : info.shape) t->add_shape(d);
    }
  };
  add(model.summary().inputs, response.mutable_inputs());
  add(model.summary().outputs, response.mutable_outputs());
}

}  // namespace effvit::serve
