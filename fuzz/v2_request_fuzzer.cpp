// The KServe v2 infer request parser (src/serve/v2_protocol.cpp): JSON bodies, the binary tensor
// data extension and its Inference-Header-Content-Length header, BYTES (encoded image) inputs; then
// a response rendered for what the request asked (requested outputs, binary_data, classification).
//
// Input layout: HEADER '\n' BODY. An empty HEADER line means no Inference-Header-Content-Length
// header (the whole body is JSON); otherwise HEADER is that header's value, as the client sent it.
// An input without '\n' is all BODY, without the header.
//
// Each input is parsed against two small models (fuzz/v2_request_models/, see make_seeds.py):
//   multi.onnx:  x FP32 [N,3,4,4], m UINT8 [N,3,4,4], k INT64 [2] -> y [N,3,4,4], logits [N,3], kk [2]
//   single.onnx: x FP32 [N,3,4,4] -> logits [N,3] (the raw binary body needs a model of one input)
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "effvit/error.h"
#include "effvit/image.h"
#include "effvit/model.h"
#include "serve/scheduler.h"
#include "serve/status_error.h"
#include "serve/v2_protocol.h"

#ifndef EFFVIT_FUZZ_DIR
#error "EFFVIT_FUZZ_DIR must name the fuzz/ folder (set by fuzz/CMakeLists.txt)"
#endif

namespace {

using effvit::Tensor;
using effvit::serve::StatusError;

std::shared_ptr<const effvit::Model> g_multi, g_single;

// As effvit serve decodes a BYTES input (src/serve/server.cpp, decode_images): each image decoded
// and preprocessed by the model's metadata, the rows stacked; a smaller pixel cap keeps inputs fast.
Tensor decode_images(const effvit::Model& model, const std::vector<std::string>& encoded) {
  const effvit::Preprocess pre = effvit::Preprocess::from_metadata(model.metadata());
  effvit::DecodeOptions options;
  options.max_pixels = 64 * 64;
  std::vector<Tensor> each;
  for (size_t i = 0; i < encoded.size(); ++i) {
    const std::vector<uint8_t> bytes(encoded[i].begin(), encoded[i].end());
    try {
      each.push_back(effvit::preprocess(effvit::decode_image(bytes, "image " + std::to_string(i), options), pre));
    } catch (const effvit::Error& e) {
      throw StatusError(400, e.what());
    }
  }
  if (each.empty()) throw StatusError(400, "a BYTES input of no images");
  return effvit::serve::stack_rows(each);
}

void parse_and_render(const effvit::Model& model, const std::string& body, std::optional<size_t> json_length) {
  effvit::serve::InferRequest request;
  try {
    request = effvit::serve::parse_infer_request(model, body, json_length, decode_images);
  } catch (const StatusError& e) {
    if (e.status() != 400) __builtin_trap();  // a bad request is the client's fault, nothing else
    return;
  }
  // Every model input is present, of the model's dtype and rank.
  const auto& infos = model.summary().inputs;
  int64_t batch = 1;
  for (const auto& info : infos) {
    const Tensor& t = request.inputs.at(info.name);
    if (t.dtype() != info.dtype || t.rank() != info.shape.size()) __builtin_trap();
    if (info.shape.at(0) < 0) batch = t.dim(0);
    // Binary inputs view the body: every byte must be readable.
    volatile uint8_t sink = 0;
    const auto* p = static_cast<const uint8_t*>(t.raw());
    for (size_t i = 0; i < t.bytes(); ++i) sink = sink ^ p[i];
  }
  // Outputs as a run of that batch would shape them (contents: a ramp, so classification sorts).
  std::vector<Tensor> outputs;
  for (const auto& info : model.summary().outputs) {
    effvit::Shape shape = info.shape;
    for (auto& d : shape)
      if (d < 0) d = batch;
    Tensor t(info.dtype, shape);
    if (info.dtype == effvit::DType::f32)
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>((i * 7) % 5);
    outputs.push_back(std::move(t));
  }
  try {
    const auto response = effvit::serve::render_infer_response(model, "fuzz", "1", request, outputs, {"a", "b"});
    if (response.json_length && *response.json_length > response.body.size()) __builtin_trap();
  } catch (const StatusError& e) {
    if (e.status() != 400) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("OMP_NUM_THREADS", "1", 1);
  g_multi = effvit::Model::load(EFFVIT_FUZZ_DIR "/v2_request_models/multi.onnx");
  g_single = effvit::Model::load(EFFVIT_FUZZ_DIR "/v2_request_models/single.onnx");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::optional<size_t> json_length;
  std::string body = input;
  const size_t newline = input.find('\n');
  if (newline != std::string::npos) {
    const std::string header = input.substr(0, newline);
    body = input.substr(newline + 1);
    if (!header.empty()) {
      try {
        json_length = effvit::serve::parse_json_length_header(header);
      } catch (const StatusError& e) {
        if (e.status() != 400) __builtin_trap();
        return 0;
      }
    }
  }
  parse_and_render(*g_multi, body, json_length);
  parse_and_render(*g_single, body, json_length);
  return 0;
}
