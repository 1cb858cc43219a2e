// Latency of one stream, then throughput of S streams sharing one loaded model (each stream its own
// Session and thread): what `effvit bench` prints and the Python module's Model.bench returns.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "effvit/model.h"

namespace effvit::cli {

struct BenchOptions {
  int threads = 1, streams = 1, iters = 50, warmup = 5, batch = 1;
  Precision precision = Precision::fp32;
  // Polled on the calling thread between runs (and every ~20 ms while streams run): returning true
  // stops the benchmark, and run_benchmark throws BenchmarkInterrupted. The Python module checks
  // for Ctrl-C here.
  std::function<bool()> interrupted;
};

struct BenchmarkInterrupted : std::exception {
  const char* what() const noexcept override { return "bench: interrupted"; }
};

// The report `bench --json` prints: model, precision (what ran: fp32, bf16 or int8), threads, streams, batch, latency_ms
// {median, p90, min} of one stream, latency_per_image_ms, fps (images per second over all
// streams), iters, the hardware keys, and stream_latency_ms with several streams.
nlohmann::json run_benchmark(const std::shared_ptr<const Model>& model, const std::string& name, const BenchOptions& options);

}  // namespace effvit::cli
