// The KServe v2 gRPC messages (proto/grpc_service.proto) to and from effvit's infer request and
// outputs, as v2_protocol.h does for JSON: typed `contents` and `raw_input_contents` /
// `raw_output_contents`, the classification extension, encoded images as BYTES. Knows nothing
// about gRPC's transport.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "grpc_service.pb.h"
#include "serve/v2_protocol.h"

namespace effvit::serve {

// Parses a request. Raw inputs are views of the message, which the result's `storage` keeps.
// Throws StatusError(400) naming the problem, before allocating what a declared shape claims.
InferRequest parse_grpc_infer_request(const Model& model, std::shared_ptr<inference::ModelInferRequest> message, const ImageDecoder& decode);

// The response: every requested output (all, when none is named) as raw_output_contents, or as
// BYTES contents "score:index[:label]" for a classification request.
void render_grpc_infer_response(const Model& model, const std::string& model_name, const std::string& version,
                                const InferRequest& request, const std::vector<Tensor>& outputs,
                                const std::vector<std::string>& labels, inference::ModelInferResponse& response);

void fill_grpc_model_metadata(const Model& model, const std::string& name, const std::string& version,
                              inference::ModelMetadataResponse& response);

}  // namespace effvit::serve
