#include "serve/v2_protocol.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/shape_hint.h"
#include "serve/status_error.h"

namespace effvit::serve {
namespace {

using nlohmann::json;

// Deeper than any tensor's nesting needs; a hostile body must not recurse the parser away.
constexpr int kMaxJsonDepth = 32;
// A JSON document costs ~20x its size once parsed; tensors larger than this travel as binary data.
constexpr size_t kMaxJsonBytes = size_t{16} << 20;
// Encoded images per request (each is decoded on the server).
constexpr int64_t kMaxImages = 256;
// A request's timeout beyond an hour is a mistake, not a deadline.
constexpr double kMaxTimeoutUs = 3600e6;

[[noreturn]] void bad(const std::string& message) { throw StatusError(400, message); }

json parse_json(const char* begin, const char* end) {
  json::parser_callback_t limit = [](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) bad("the request JSON nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    return true;
  };
  try {
    return json::parse(begin, end, limit);
  } catch (const json::exception& e) {
    bad(std::string("the request is not valid JSON: ") + e.what());
  }
}

}  // namespace

std::optional<DType> v2_dtype(const std::string& v2) {
  static const std::map<std::string, DType> types{{"FP32", DType::f32}, {"UINT8", DType::u8}, {"INT8", DType::i8},
                                                  {"INT32", DType::i32}, {"INT64", DType::i64}, {"BOOL", DType::bool8},
                                                  {"INT16", DType::i16}, {"UINT16", DType::u16}};
  auto it = types.find(v2);
  if (it == types.end()) return std::nullopt;
  return it->second;
}

namespace {

void flatten(const json& data, std::vector<const json*>& out) {
  if (data.is_array())
    for (const json& item : data) flatten(item, out);
  else out.push_back(&data);
}

template <typename T>
void fill(Tensor& t, const std::vector<const json*>& values, const std::string& name) {
  T* p = reinterpret_cast<T*>(t.raw());
  for (size_t i = 0; i < values.size(); ++i) {
    const json& v = *values[i];
    if constexpr (std::is_same_v<T, float>) {
      if (!v.is_number()) bad("input '" + name + "': element " + std::to_string(i) + " is not a number");
      const double d = v.get<double>();
      if (!std::isfinite(static_cast<float>(d))) bad("input '" + name + "': element " + std::to_string(i) + " does not fit in float32");
      p[i] = static_cast<float>(d);
    } else {
      if (!v.is_number_integer() && !v.is_boolean()) bad("input '" + name + "': element " + std::to_string(i) + " is not an integer");
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        bad("input '" + name + "': element " + std::to_string(i) + " is out of range for its datatype");
      const int64_t x = v.is_boolean() ? v.get<bool>() : v.get<int64_t>();
      if (x < static_cast<int64_t>(std::numeric_limits<T>::lowest()) || x > static_cast<int64_t>(std::numeric_limits<T>::max()))
        bad("input '" + name + "': element " + std::to_string(i) + " (" + std::to_string(x) + ") is out of range for its datatype");
      p[i] = static_cast<T>(x);
    }
  }
}

std::string base64_decode(const std::string& in, const std::string& name) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int bits = 0, value = 0;
  for (char c : in) {
    if (c == '=') break;
    const size_t k = chars.find(c);
    if (k == std::string::npos) bad("input '" + name + "': a BYTES element in JSON must be base64");
    value = (value << 6) | static_cast<int>(k);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

const TensorInfo* find_tensor_info(const std::vector<TensorInfo>& infos, const std::string& name) {
  for (const auto& t : infos)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

Shape parse_shape(const json& j, const std::string& name) {
  if (!j.is_array()) bad("input '" + name + "': 'shape' must be an array of dimensions");
  Shape shape;
  for (const json& d : j) {
    if (!d.is_number_integer()) bad("input '" + name + "': 'shape' must hold integers");
    if (d.get<int64_t>() < 0) bad("input '" + name + "': negative dimension " + std::to_string(d.get<int64_t>()) + " in 'shape'");
    shape.push_back(d.get<int64_t>());
  }
  try {
    shape_numel(shape);
  } catch (const Error& e) {
    bad("input '" + name + "': " + e.what());
  }
  return shape;
}

}  // namespace

void check_input_shape(const TensorInfo& info, const Shape& shape) {
  if (!shape_fits(info.shape, shape))
    bad("input '" + info.name + "': shape " + shape_str(shape) + " does not fit the model's " + shape_str(info.shape) +
        shape_mismatch_hint(info.shape, shape));
}

Tensor view_or_copy(DType dtype, const Shape& shape, char* data, const std::shared_ptr<void>& owner, InferRequest& request) {
  if (reinterpret_cast<uintptr_t>(data) % dtype_size(dtype) == 0) {
    request.storage = owner;
    return Tensor::view(dtype, shape, data);
  }
  Tensor copy(dtype, shape);
  std::memcpy(copy.raw(), data, copy.bytes());
  return copy;
}

DType checked_input_dtype(const TensorInfo& info, const std::string& datatype) {
  const auto dtype = v2_dtype(datatype);
  // A datatype of the protocol that effvit has no tensors of (FP64, FP16, ...) is still a request
  // for this input: say what the model takes.
  if (!dtype)
    bad("input '" + info.name + "' is " + datatype + ", which effvit does not take; the model takes " + v2_datatype(info.dtype));
  if (*dtype != info.dtype) bad("input '" + info.name + "' is " + datatype + "; the model takes " + v2_datatype(info.dtype));
  return *dtype;
}

Tensor decode_image_input(const Model& model, const TensorInfo& info, const std::vector<std::string>& items, const Shape& shape,
                          const ImageDecoder& decode) {
  if (static_cast<int64_t>(items.size()) != shape_numel(shape))
    bad("input '" + info.name + "': " + std::to_string(items.size()) + " BYTES elements for shape " + shape_str(shape));
  if (!decode) bad("input '" + info.name + "': BYTES inputs are not accepted here");
  // In the request's own terms (images), before any is decoded: the client never sent the tensor
  // they would make.
  if (!info.shape.empty() && info.shape[0] >= 0 && static_cast<int64_t>(items.size()) != info.shape[0])
    bad("input '" + info.name + "': " + std::to_string(items.size()) + " images in one request, but the model's batch is fixed at " +
        std::to_string(info.shape[0]) + " (" + shape_str(info.shape) + "): send " + std::to_string(info.shape[0]) + " per request");
  Tensor t = decode(model, items);
  if (t.dtype() != info.dtype)
    bad("input '" + info.name + "': its images decode to " + dtype_name(t.dtype()) + " but the model takes " + v2_datatype(info.dtype) +
        "; send the tensor itself");
  if (!shape_fits(info.shape, t.shape()))
    bad("input '" + info.name + "': the model's own preprocessing (its metadata) makes the images " + shape_str(t.shape()) +
        ", which does not fit its input " + shape_str(info.shape) + "; send the tensor itself");
  return t;
}

std::vector<std::string> top_classes(const Tensor& t, const std::string& output, int count, const std::vector<std::string>& labels,
                                     Shape& shape) {
  if (t.dtype() != DType::f32 || t.rank() < 1) throw StatusError(400, "output '" + output + "' is not float scores to classify");
  const int64_t batch = t.rank() > 1 ? t.dim(0) : 1;
  const int64_t classes = t.numel() / std::max<int64_t>(batch, 1);
  const int64_t top = std::min<int64_t>(count, classes);
  std::vector<std::string> data;
  for (int64_t b = 0; b < batch; ++b) {
    const float* row = t.data<float>() + b * classes;
    std::vector<int64_t> order(static_cast<size_t>(classes));
    for (int64_t c = 0; c < classes; ++c) order[static_cast<size_t>(c)] = c;
    std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](int64_t x, int64_t y) { return row[x] > row[y]; });
    for (int64_t i = 0; i < top; ++i) {
      const int64_t c = order[static_cast<size_t>(i)];
      const std::string label = c < static_cast<int64_t>(labels.size()) ? labels[static_cast<size_t>(c)] : "";
      data.push_back(std::to_string(row[c]) + ":" + std::to_string(c) + (label.empty() ? "" : ":" + label));
    }
  }
  shape = t.rank() > 1 ? Shape{batch, top} : Shape{top};
  return data;
}

const char* v2_datatype(DType dtype) {
  switch (dtype) {
    case DType::f32: return "FP32";
    case DType::u8: return "UINT8";
    case DType::i8: return "INT8";
    case DType::i32: return "INT32";
    case DType::i64: return "INT64";
    case DType::bool8: return "BOOL";
    case DType::bf16: return "BF16";
    case DType::i16: return "INT16";
    case DType::u16: return "UINT16";
  }
  return "FP32";
}

size_t parse_json_length_header(const std::string& v) {
  if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw StatusError(400, "Inference-Header-Content-Length '" + v + "' is not a byte count");
  return std::stoull(v);
}

InferRequest parse_infer_request(const Model& model, std::string body_bytes, std::optional<size_t> json_length, const ImageDecoder& decode) {
  auto held = std::make_shared<std::string>(std::move(body_bytes));
  return parse_infer_request(model, *held, held, json_length, decode);
}

InferRequest parse_infer_request(const Model& model, std::string_view body, std::shared_ptr<void> owner, std::optional<size_t> json_length,
                                 const ImageDecoder& decode) {
  // Binary inputs view the body itself, held by the request: no copy of a few hundred KB each.
  char* const body_bytes = const_cast<char*>(body.data());
  const auto& infos = model.summary().inputs;
  InferRequest r;
  if (json_length && *json_length == 0) {
    // A raw binary body: the model's only input, at batch 1.
    if (infos.size() != 1) bad("a raw binary body needs a model of one input; this one has " + std::to_string(infos.size()));
    Shape shape = infos[0].shape;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] >= 0) continue;
      if (d != 0) bad("a raw binary body needs the input's shape fixed but for the batch; it is " + shape_str(infos[0].shape));
      shape[d] = 1;
    }
    const size_t want = static_cast<size_t>(shape_numel(shape)) * dtype_size(infos[0].dtype);
    // An image or .npy file posted as it is: say how to send it rather than count its bytes.
    const auto starts = [&](std::string_view magic) { return body.substr(0, magic.size()) == magic; };
    if (body.size() != want && (starts("\x89PNG") || starts("\xff\xd8\xff") || starts("RIFF") || starts("BM")))
      bad("the body is an image file; send it as a BYTES input (docs/serving.md has a curl example), or send the input tensor's raw " +
          std::to_string(want) + " bytes");
    if (body.size() != want && starts("\x93NUMPY"))
      bad("the body is a .npy file; send the array's raw data (" + std::to_string(want) + " bytes of " + dtype_name(infos[0].dtype) +
          "), e.g. x.tobytes(), or JSON");
    if (body.size() != want)
      bad("the raw binary body is " + std::to_string(body.size()) + " bytes; input '" + infos[0].name + "' " + shape_str(shape) + " of " +
          dtype_name(infos[0].dtype) + " is " + std::to_string(want) + " (a body that does not start with '{' is read as the raw input)");
    r.inputs.emplace(infos[0].name, view_or_copy(infos[0].dtype, shape, body_bytes, owner, r));
    return r;
  }
  if (body.empty())
    bad("the request body is empty: an infer request is a JSON object, followed by binary tensor data when "
        "Inference-Header-Content-Length gives the JSON part's length");
  const size_t json_end = json_length ? *json_length : body.size();
  if (json_end > body.size())
    bad("Inference-Header-Content-Length is " + std::to_string(json_end) + " but the body has " + std::to_string(body.size()) + " bytes");
  if (json_end > kMaxJsonBytes)
    bad("the JSON part is " + std::to_string(json_end) + " bytes (at most " + std::to_string(kMaxJsonBytes) +
        "): send large tensors with the binary tensor extension");
  const json j = parse_json(body.data(), body.data() + json_end);
  if (!j.is_object()) bad("the request must be a JSON object");
  if (j.contains("id")) {
    if (!j["id"].is_string()) bad("'id' must be a string");
    r.id = j["id"].get<std::string>();
  }
  if (j.contains("parameters")) {
    const json& p = j["parameters"];
    if (!p.is_object()) bad("'parameters' must be an object");
    if (p.contains("binary_data_output")) {
      if (!p["binary_data_output"].is_boolean()) bad("parameter 'binary_data_output' must be true or false");
      r.binary_outputs = p["binary_data_output"].get<bool>();
    }
    if (p.contains("timeout")) {
      if (!p["timeout"].is_number() || !(p["timeout"].get<double>() >= 0) || p["timeout"].get<double>() > kMaxTimeoutUs)
        bad("parameter 'timeout' must be a number of microseconds from 0 to " + std::to_string(static_cast<int64_t>(kMaxTimeoutUs)));
      r.timeout_us = p["timeout"].get<double>();
    }
  }
  if (!j.contains("inputs") || !j["inputs"].is_array()) bad("the request has no 'inputs' array");
  size_t binary_at = json_end;
  for (const json& in : j["inputs"]) {
    if (!in.is_object() || !in.contains("name") || !in["name"].is_string()) bad("each input needs a 'name'");
    const std::string name = in["name"].get<std::string>();
    const TensorInfo* info = find_tensor_info(infos, name);
    if (!info) bad("the model has no input named '" + name + "'");
    if (r.inputs.count(name)) bad("input '" + name + "' is given twice");
    if (!in.contains("datatype") || !in["datatype"].is_string()) bad("input '" + name + "' needs a 'datatype'");
    const std::string datatype = in["datatype"].get<std::string>();
    const Shape shape = parse_shape(in.value("shape", json()), name);
    const int64_t count = shape_numel(shape);
    std::optional<size_t> binary_size;
    if (in.contains("parameters") && in["parameters"].contains("binary_data_size")) {
      const json& b = in["parameters"]["binary_data_size"];
      if (!b.is_number_unsigned()) bad("input '" + name + "': 'binary_data_size' must be a byte count");
      binary_size = b.get<size_t>();
      if (binary_size > body.size() - binary_at)
        bad("input '" + name + "': binary_data_size " + std::to_string(*binary_size) + " runs past the end of the body");
    } else if (!in.contains("data")) {
      bad("input '" + name + "' has neither 'data' nor parameters.binary_data_size");
    }
    if (datatype == "BYTES") {
      // Encoded images, one per batch entry.
      if (count > kMaxImages) bad("input '" + name + "': " + std::to_string(count) + " images in one request (at most " + std::to_string(kMaxImages) + ")");
      std::vector<std::string> items;
      if (binary_size) {
        size_t at = binary_at;
        const size_t end = binary_at + *binary_size;
        while (at < end) {
          if (end - at < 4) bad("input '" + name + "': a BYTES element's 4-byte length is cut off");
          uint32_t n = 0;
          std::memcpy(&n, body.data() + at, 4);
          at += 4;
          if (n > end - at) bad("input '" + name + "': a BYTES element runs past its binary_data_size");
          items.emplace_back(body.data() + at, n);
          at += n;
        }
        binary_at = end;
      } else {
        std::vector<const json*> values;
        flatten(in["data"], values);
        for (const json* v : values) {
          if (!v->is_string()) bad("input '" + name + "': BYTES data must be strings (base64)");
          items.push_back(base64_decode(v->get<std::string>(), name));
        }
      }
      r.inputs.emplace(name, decode_image_input(model, *info, items, shape, decode));
      continue;
    }
    const auto dtype = checked_input_dtype(*info, datatype);
    check_input_shape(*info, shape);
    // Sizes are checked against the data actually sent before anything is allocated: a short
    // request must not make the server reserve what its shape claims.
    const size_t bytes = static_cast<size_t>(count) * dtype_size(dtype);
    if (binary_size) {
      if (*binary_size != bytes)
        bad("input '" + name + "': binary_data_size " + std::to_string(*binary_size) + " for shape " + shape_str(shape) + " of " +
            datatype + " (" + std::to_string(bytes) + " bytes)");
      // A view of the body where the data is aligned (a pooled HTTP body always aligns it).
      r.inputs.emplace(name, view_or_copy(dtype, shape, body_bytes + binary_at, owner, r));
      binary_at += bytes;
    } else {
      std::vector<const json*> values;
      flatten(in["data"], values);
      if (static_cast<int64_t>(values.size()) != count)
        bad("input '" + name + "': " + std::to_string(values.size()) + " values for shape " + shape_str(shape) + " (" + std::to_string(count) + ")");
      Tensor t(dtype, shape);
      switch (dtype) {
        case DType::f32: fill<float>(t, values, name); break;
        case DType::u8: fill<uint8_t>(t, values, name); break;
        case DType::i8: fill<int8_t>(t, values, name); break;
        case DType::i32: fill<int32_t>(t, values, name); break;
        case DType::i64: fill<int64_t>(t, values, name); break;
        case DType::bool8: fill<uint8_t>(t, values, name); break;
        case DType::i16: fill<int16_t>(t, values, name); break;
        case DType::u16: fill<uint16_t>(t, values, name); break;
        case DType::bf16: bad("input '" + name + "': BF16 is not an input type effvit takes");
      }
      r.inputs.emplace(name, std::move(t));
    }
  }
  if (binary_at != body.size()) bad(std::to_string(body.size() - binary_at) + " bytes of binary data after the last input");
  for (const auto& info : infos)
    if (!r.inputs.count(info.name)) bad("input '" + info.name + "' is missing");
  if (j.contains("outputs")) {
    if (!j["outputs"].is_array()) bad("'outputs' must be an array");
    std::set<std::string> seen;
    for (const json& o : j["outputs"]) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) bad("each requested output needs a 'name'");
      RequestedOutput out;
      out.name = o["name"].get<std::string>();
      if (!find_tensor_info(model.summary().outputs, out.name)) bad("the model has no output named '" + out.name + "'");
      if (!seen.insert(out.name).second) bad("output '" + out.name + "' is requested twice");
      out.binary = r.binary_outputs;
      if (o.contains("parameters")) {
        const json& p = o["parameters"];
        if (p.contains("binary_data")) {
          if (!p["binary_data"].is_boolean()) bad("output '" + out.name + "': 'binary_data' must be true or false");
          out.binary = p["binary_data"].get<bool>();
        }
        if (p.contains("classification")) {
          const json& k = p["classification"];
          if (!k.is_number_unsigned() || k.get<uint64_t>() < 1 || k.get<uint64_t>() > 1000000)
            bad("output '" + out.name + "': 'classification' must be a count of classes from 1 to 1000000");
          out.classification = static_cast<int>(k.get<uint64_t>());
        }
      }
      r.outputs.push_back(out);
    }
  }
  return r;
}

InferResponse render_infer_response(const Model& model, const std::string& model_name, const std::string& version,
                                    const InferRequest& request, const std::vector<Tensor>& outputs,
                                    const std::vector<std::string>& labels) {
  const auto& infos = model.summary().outputs;
  std::vector<RequestedOutput> wanted = request.outputs;
  if (wanted.empty())
    for (const auto& info : infos) wanted.push_back({info.name, request.binary_outputs, 0});
  json j{{"model_name", model_name}, {"model_version", version}, {"outputs", json::array()}};
  if (!request.id.empty()) j["id"] = request.id;
  std::string binary;
  for (const auto& w : wanted) {
    size_t k = 0;
    while (infos[k].name != w.name) ++k;
    const Tensor& t = outputs.at(k);
    json o{{"name", w.name}};
    if (w.classification) {
      // "value:index:label" for the top classes of each batch entry, as Triton's extension.
      Shape shape;
      json data = top_classes(t, w.name, w.classification, labels, shape);
      o["datatype"] = "BYTES";
      o["shape"] = shape;
      if (w.binary) {
        size_t bytes = 0;
        for (const auto& s : data) {
          const std::string v = s.get<std::string>();
          const uint32_t n = static_cast<uint32_t>(v.size());
          binary.append(reinterpret_cast<const char*>(&n), 4);
          binary += v;
          bytes += 4 + v.size();
        }
        o["parameters"] = {{"binary_data_size", bytes}};
      } else {
        o["data"] = data;
      }
      j["outputs"].push_back(o);
      continue;
    }
    o["datatype"] = v2_datatype(t.dtype());
    o["shape"] = t.shape();
    if (w.binary) {
      binary.append(static_cast<const char*>(t.raw()), t.bytes());
      o["parameters"] = {{"binary_data_size", t.bytes()}};
    } else {
      json data = json::array();
      switch (t.dtype()) {
        case DType::f32: data = std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); break;
        case DType::u8: data = std::vector<uint8_t>(t.data<uint8_t>(), t.data<uint8_t>() + t.numel()); break;
        case DType::i8: data = std::vector<int8_t>(t.data<int8_t>(), t.data<int8_t>() + t.numel()); break;
        case DType::i32: data = std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel()); break;
        case DType::i64: data = std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.numel()); break;
        case DType::bool8: {
          const auto* p = static_cast<const uint8_t*>(t.raw());
          for (int64_t i = 0; i < t.numel(); ++i) data.push_back(p[i] != 0);
          break;
        }
        case DType::i16: data = std::vector<int16_t>(t.data<int16_t>(), t.data<int16_t>() + t.numel()); break;
        case DType::u16: data = std::vector<uint16_t>(t.data<uint16_t>(), t.data<uint16_t>() + t.numel()); break;
        case DType::bf16: break;  // only inside bf16 plans, never a model's output
      }
      o["data"] = std::move(data);
    }
    j["outputs"].push_back(o);
  }
  InferResponse response;
  response.body = j.dump();
  if (!binary.empty()) {
    response.json_length = response.body.size();
    response.body += binary;
  }
  return response;
}

std::string model_metadata_json(const Model& model, const std::string& name, const std::string& version) {
  auto tensors = [](const std::vector<TensorInfo>& infos) {
    json a = json::array();
    for (const auto& t : infos) a.push_back({{"name", t.name}, {"datatype", v2_datatype(t.dtype)}, {"shape", t.shape}});
    return a;
  };
  const ModelSummary& s = model.summary();
  return json{{"name", name}, {"versions", {version}}, {"platform", "onnx_effvit"},
              {"inputs", tensors(s.inputs)}, {"outputs", tensors(s.outputs)}}
      .dump();
}

}  // namespace effvit::serve
