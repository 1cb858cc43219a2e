// The KServe v2 / Open Inference Protocol's infer request and response, in JSON and with the
// binary tensor data extension, over effvit's public tensors. Knows nothing about HTTP.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "effvit/model.h"
#include "effvit/tensor.h"

namespace effvit::serve {

// One requested output: its name, whether its data goes in the binary part, and for the
// classification extension the number of classes to return.
struct RequestedOutput {
  std::string name;
  bool binary = false;
  int classification = 0;
};

struct InferRequest {
  std::string id;
  std::map<std::string, Tensor> inputs;  // by model input name; binary ones view `storage`
  std::shared_ptr<void> storage;         // what binary inputs view (the body, the message)
  std::vector<RequestedOutput> outputs;  // empty: every output, as JSON data
  bool binary_outputs = false;           // request-level binary_data_output
  double timeout_us = 0;                 // 0: none
};

// An input given as encoded images (a BYTES tensor): decoded and preprocessed by the model's own
// rules into its input tensor, one image per batch entry.
using ImageDecoder = std::function<Tensor(const Model& model, const std::vector<std::string>& encoded)>;

// Parses a request body. `json_length`: the Inference-Header-Content-Length header (the JSON part;
// the rest of the body is binary tensor data), or nullopt when the header is absent (the whole body
// is JSON). A zero length means a raw binary body holding the model's single input. Throws
// StatusError(400) naming the problem.
// Binary inputs are views of the body where their data is aligned, kept alive by `owner` (which
// InferRequest::storage then holds), and copies where it is not.
InferRequest parse_infer_request(const Model& model, std::string_view body, std::shared_ptr<void> owner, std::optional<size_t> json_length,
                                 const ImageDecoder& decode);
// The same for a body it takes (moved in, not copied).
InferRequest parse_infer_request(const Model& model, std::string body, std::optional<size_t> json_length, const ImageDecoder& decode);

// The Inference-Header-Content-Length header's value as the json_length above: decimal digits
// only, at most 18 of them (so it fits). Throws StatusError(400) naming the value otherwise.
size_t parse_json_length_header(const std::string& value);

struct InferResponse {
  std::string body;
  std::optional<size_t> json_length;  // set when a binary part follows the JSON
};

InferResponse render_infer_response(const Model& model, const std::string& model_name, const std::string& version,
                                    const InferRequest& request, const std::vector<Tensor>& outputs,
                                    const std::vector<std::string>& labels);

// GET /v2/models/{m}: name, versions, platform, inputs and outputs (datatype, shape with -1).
std::string model_metadata_json(const Model& model, const std::string& name, const std::string& version);

// "FP32", "UINT8", ... as the protocol names element types, and back (nothing for an unknown name).
const char* v2_datatype(DType dtype);
std::optional<DType> v2_dtype(const std::string& datatype);

// The model's input or output of that name, or null.
const TensorInfo* find_tensor_info(const std::vector<TensorInfo>& infos, const std::string& name);
// The model's own shape rules: every fixed dimension as declared. Throws StatusError(400).
void check_input_shape(const TensorInfo& info, const Shape& shape);
// An input's elements where a request holds them: a view when they sit on the element's alignment
// (the request then keeps `owner`, what they live in, as its storage), else a copy (a misaligned
// float is not one). A fresh tensor of a few hundred KB would be mapped and page-faulted in on
// every request.
Tensor view_or_copy(DType dtype, const Shape& shape, char* data, const std::shared_ptr<void>& owner, InferRequest& request);
// The datatype a request names for an input, checked against the model's. Throws StatusError(400).
DType checked_input_dtype(const TensorInfo& info, const std::string& datatype);
// A BYTES input of encoded images (one per element of `shape`) decoded into the model's input.
// Throws StatusError(400) when the count, the decoder or the decoded shape does not fit.
Tensor decode_image_input(const Model& model, const TensorInfo& info, const std::vector<std::string>& items, const Shape& shape,
                          const ImageDecoder& decode);
// The classification extension: the `count` best classes of each batch row of float scores as
// "score:index[:label]", and their shape ([batch, top], or [top] for a 1-D output) into `shape`.
// Throws StatusError(400) for an output that is not float scores.
std::vector<std::string> top_classes(const Tensor& scores, const std::string& output, int count,
                                     const std::vector<std::string>& labels, Shape& shape);

}  // namespace effvit::serve
