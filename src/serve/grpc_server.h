// The KServe v2 protocol over gRPC (GRPCInferenceService, proto/grpc_service.proto) on gRPC's
// asynchronous API: completion queues polled by a few threads, no thread per call. Infer requests
// go to the same schedulers as HTTP's (served_model.h): one queue, one set of counters per model.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "serve/served_model.h"

namespace effvit::serve {

struct GrpcOptions {
  std::string host = "0.0.0.0";
  int port = 8001;  // 0: any free port
  size_t max_message_bytes = size_t{64} << 20;  // a larger request gets RESOURCE_EXHAUSTED
  int threads = 2;  // completion queues, one thread each
  ImageRules images;  // how an image sent as BYTES is read
};

class GrpcServer {
 public:
  // Binds and starts serving. Throws effvit::Error when the port cannot be bound.
  GrpcServer(const ModelRegistry& registry, const std::atomic<bool>& ready, const GrpcOptions& options);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  int port() const;
  // Calls that have started and not yet finished.
  int in_flight() const;
  // Once the server is no longer ready: ends the open streams with nothing left to answer (the
  // others after their last answer), so that in_flight() comes down to the calls doing work.
  void drain();
  // Refuses new calls, lets the ones in flight finish (until `deadline`, then cancels them) and
  // stops the threads.
  void shutdown(Clock::time_point deadline);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace effvit::serve
