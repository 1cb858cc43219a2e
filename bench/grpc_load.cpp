// A gRPC load client for `effvit serve` (bench/serve_bench.sh with PROTOCOL=grpc), as wrk is for
// HTTP: one thread, one completion queue, CONCURRENCY calls kept in flight on one channel for
// SECONDS, each a ModelInfer with the input as raw_input_contents. Prints requests per second, the
// latency percentiles and the status codes seen.
//   effvit_grpc_load HOST:PORT MODEL INPUT FP32|UINT8 D0,D1,... SECONDS CONCURRENCY
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "grpc_service.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Slot {
  std::unique_ptr<grpc::ClientContext> ctx;
  inference::ModelInferResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<inference::ModelInferResponse>> reader;
  Clock::time_point sent;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: %s HOST:PORT MODEL INPUT FP32|UINT8 D0,D1,... SECONDS CONCURRENCY\n", argv[0]);
    return 2;
  }
  const std::string target = argv[1], model = argv[2], input = argv[3], datatype = argv[4];
  std::vector<int64_t> shape;
  std::stringstream dims(argv[5]);
  for (std::string d; std::getline(dims, d, ',');) shape.push_back(std::stoll(d));
  const double seconds = std::stod(argv[6]);
  const int concurrency = std::stoi(argv[7]);

  inference::ModelInferRequest request;
  request.set_model_name(model);
  auto* in = request.add_inputs();
  in->set_name(input);
  in->set_datatype(datatype);
  int64_t count = 1;
  for (int64_t d : shape) {
    in->add_shape(d);
    count *= d;
  }
  // Small values, not zeros: the same work as a real image.
  std::string raw(static_cast<size_t>(count) * (datatype == "FP32" ? 4 : 1), '\0');
  if (datatype == "FP32")
    for (int64_t i = 0; i < count; ++i) reinterpret_cast<float*>(raw.data())[i] = static_cast<float>(i % 97) / 97.f - 0.5f;
  else
    for (int64_t i = 0; i < count; ++i) raw[static_cast<size_t>(i)] = static_cast<char>(i % 251);
  request.add_raw_input_contents(std::move(raw));

  // One connection per call in flight (CHANNELS=1: all on one), as a client's workers each hold
  // theirs: on one HTTP/2 connection, calls of hundreds of KB queue behind each other's flow control.
  const char* channels_env = std::getenv("CHANNELS");
  const int channels = channels_env ? std::max(1, std::atoi(channels_env)) : concurrency;
  std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>> stubs;
  for (int c = 0; c < channels; ++c) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetInt("effvit.load.connection", c);  // distinct arguments: a connection of its own
    auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "%s: cannot connect\n", target.c_str());
      return 1;
    }
    stubs.push_back(inference::GRPCInferenceService::NewStub(channel));
  }
  grpc::CompletionQueue cq;
  std::vector<Slot> slots(static_cast<size_t>(concurrency));
  auto send = [&](Slot& slot) {
    slot.ctx = std::make_unique<grpc::ClientContext>();
    slot.sent = Clock::now();
    slot.reader = stubs[static_cast<size_t>(&slot - slots.data()) % stubs.size()]->PrepareAsyncModelInfer(slot.ctx.get(), request, &cq);
    slot.reader->StartCall();
    slot.reader->Finish(&slot.response, &slot.status, &slot);
  };
  const auto start = Clock::now(), end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (Slot& slot : slots) send(slot);
  std::vector<double> latencies_ms;
  std::map<std::string, int64_t> codes;
  int open = concurrency;
  void* tag = nullptr;
  bool ok = false;
  while (open > 0 && cq.Next(&tag, &ok)) {
    Slot& slot = *static_cast<Slot*>(tag);
    const auto now = Clock::now();
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - slot.sent).count());
    ++codes[slot.status.ok() ? "OK" : "code " + std::to_string(static_cast<int>(slot.status.error_code()))];
    if (now < end) send(slot);
    else --open;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) { return latencies_ms.empty() ? 0.0 : latencies_ms[static_cast<size_t>(p * (latencies_ms.size() - 1))]; };
  std::printf("Requests/sec: %.1f\n", static_cast<double>(latencies_ms.size()) / elapsed);
  std::printf("Latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms\n", pct(0.5), pct(0.9), pct(0.99));
  std::printf("Statuses:");
  for (const auto& [code, n] : codes) std::printf(" %s=%lld", code.c_str(), static_cast<long long>(n));
  std::printf("\n");
  return 0;
}
