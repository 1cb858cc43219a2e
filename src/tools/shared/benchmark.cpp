#include "tools/shared/benchmark.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "tools/shared/format.h"
#include "tools/shared/shapes.h"

namespace effvit::cli {
namespace {
using Clock = std::chrono::steady_clock;

struct Stats {
  double median = 0, p90 = 0, min = 0;
};

Stats stats_of(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  Stats s;
  s.min = ms.front();
  s.median = ms[ms.size() / 2];
  s.p90 = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
  return s;
}

// N(0, 1) for a float model; uniform bytes for one taking uint8 pixels or NV12.
Tensor random_input(const Model& model, int64_t batch) {
  const DType dtype = model.summary().inputs.at(0).dtype;
  Tensor t(dtype, example_input_shapes(model, batch).at(0));
  std::mt19937 rng(0);
  if (dtype == DType::u8) {
    std::uniform_int_distribution<int> bytes(0, 255);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(bytes(rng));
    return t;
  }
  std::normal_distribution<float> dist;
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// Runs `iters` timed inferences after `warmup` untimed ones; returns per-run milliseconds.
// `stop()` is asked between runs, outside the timing.
std::vector<double> time_runs(Session& session, const Tensor& input, int warmup, int iters, const std::function<bool()>& stop) {
  for (int i = 0; i < warmup; ++i) {
    if (stop()) throw BenchmarkInterrupted();
    session.run(input);
  }
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(iters));
  for (int i = 0; i < iters; ++i) {
    if (stop()) throw BenchmarkInterrupted();
    const auto t0 = Clock::now();
    session.run(input);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return ms;
}

}  // namespace

nlohmann::json run_benchmark(const std::shared_ptr<const Model>& model, const std::string& name, const BenchOptions& o) {
  auto at_least = [](int value, int low, const char* what) {
    if (value < low) throw Error(ErrorKind::invalid_input, std::string("bench: ") + what + " must be at least " + std::to_string(low) + ", got " + std::to_string(value));
  };
  at_least(o.threads, 1, "threads");
  at_least(o.streams, 1, "streams");
  at_least(o.iters, 1, "iters");
  at_least(o.warmup, 0, "warmup");
  at_least(o.batch, 1, "batch");
  const Tensor input = random_input(*model, o.batch);
  const int64_t images = input.shape().empty() ? 1 : input.shape()[0];

  auto interrupted = [&o] { return o.interrupted && o.interrupted(); };
  const SessionOptions options{.threads = o.threads, .precision = o.precision};
  Session single(model, options);
  const Stats one = stats_of(time_runs(single, input, o.warmup, o.iters, interrupted));

  Stats loaded = one;
  double fps = 1000.0 * static_cast<double>(images) / one.median;
  if (o.streams > 1) {
    std::vector<std::unique_ptr<Session>> sessions;
    for (int i = 0; i < o.streams; ++i) {
      sessions.push_back(std::make_unique<Session>(model, options));
      for (int w = 0; w < std::max(1, o.warmup); ++w) {
        if (interrupted()) throw BenchmarkInterrupted();
        sessions.back()->run(input);
      }
    }
    std::vector<std::vector<double>> per_stream(static_cast<size_t>(o.streams));
    const auto t0 = Clock::now();
    std::vector<std::thread> workers;
    std::mutex error_mutex;
    std::string error;
    // The streams stop when the caller is interrupted; only the calling thread asks (a Python
    // caller's signal handlers run there).
    std::atomic<bool> stop{false};
    std::atomic<int> finished{0};
    std::vector<Clock::time_point> ends(static_cast<size_t>(o.streams), t0);
    for (int i = 0; i < o.streams; ++i)
      workers.emplace_back([&, i] {
        try {
          per_stream[static_cast<size_t>(i)] = time_runs(*sessions[static_cast<size_t>(i)], input, 0, o.iters, [&stop] { return stop.load(); });
        } catch (const BenchmarkInterrupted&) {
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (error.empty()) error = e.what();
        }
        ends[static_cast<size_t>(i)] = Clock::now();
        ++finished;
      });
    while (o.interrupted && finished < o.streams && !stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (interrupted()) stop = true;
    }
    for (auto& w : workers) w.join();
    if (stop) throw BenchmarkInterrupted();
    if (!error.empty()) throw Error(error);
    // Until the last stream finished, not until this thread noticed.
    const double wall = std::chrono::duration<double>(*std::max_element(ends.begin(), ends.end()) - t0).count();
    fps = static_cast<double>(o.streams) * o.iters * static_cast<double>(images) / wall;
    std::vector<double> all;
    for (const auto& v : per_stream) all.insert(all.end(), v.begin(), v.end());
    loaded = stats_of(all);
  }
  nlohmann::json j{{"model", name}, {"precision", single.precision()}, {"threads", o.threads}, {"streams", o.streams},
                   {"batch", images},
                   {"input", input.shape()},
                   {"latency_ms", {{"median", one.median}, {"p90", one.p90}, {"min", one.min}}},
                   {"latency_per_image_ms", one.median / static_cast<double>(images)},
                   {"fps", fps}, {"iters", o.iters}};
  add_hardware_json(j);
  if (o.streams > 1) j["stream_latency_ms"] = {{"median", loaded.median}, {"p90", loaded.p90}, {"min", loaded.min}};
  return j;
}

}  // namespace effvit::cli
