// `effvit serve`: the KServe v2 protocol over HTTP and over gRPC for one or more models, each with
// its own scheduler (instances sharing one loaded Model, dynamic batching, a bounded queue) that
// both protocols share, Prometheus metrics on a third port, and a clean shutdown of both on
// SIGTERM/SIGINT.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "serve/scheduler.h"
#include "serve/served_model.h"

namespace effvit::serve {

struct ServeOptions {
  std::vector<std::pair<std::string, std::string>> models;  // NAME=PATH
  std::string model_repository;                             // DIR/NAME/VERSION/model.onnx
  std::string host = "0.0.0.0";
  ImageRules images;  // how an image sent as BYTES is read
  int http_port = 8080;      // 0: any free port (printed)
  int metrics_port = 8002;   // 0: any free port (printed)
  int grpc_port = 8001;      // the v2 gRPC service (0: any free port, printed)
  SchedulerOptions scheduler;  // its precision is every model's but those named here
  std::vector<std::pair<std::string, Precision>> model_precision;  // NAME=PRECISION
  size_t http_max_input_size = size_t{64} << 20;
  int http_request_timeout_s = 30;  // a request's head and body must arrive within this (0: no limit)
  int exit_timeout_s = 30;
};

// Loads the models, serves until SIGTERM or SIGINT, then reports not-ready, refuses new requests,
// finishes those in flight (at most exit_timeout_s) and returns. Throws effvit::Error when a model
// cannot be loaded or a port cannot be bound.
void serve(const ServeOptions& options);

}  // namespace effvit::serve
