// Latency of one stream, then throughput of S streams sharing one loaded model (each stream its own
// Session and thread), printed as one row of the seed's table. With --batch N every run classifies
// N images; latencies are per run, FPS counts images.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <mutex>
#include <thread>

#include "effvit/model.h"
#include "tools/effvit/commands.h"
#include "tools/effvit/format.h"
#include "tools/effvit/shapes.h"

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
std::vector<double> time_runs(Session& session, const Tensor& input, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) session.run(input);
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(iters));
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    session.run(input);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return ms;
}

}  // namespace

Handler add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Latency (one stream) and throughput (S concurrent streams)");
  struct Args {
    std::string model;
    int threads = 1, streams = 1, iters = 50, warmup = 5, batch = 1;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "ONNX model")->required();
  cmd->add_option("--threads", a->threads, "Threads per stream")->check(CLI::Range(1, 256));
  cmd->add_option("--streams", a->streams, "Concurrent streams sharing the model")->check(CLI::Range(1, 256));
  cmd->add_option("--batch", a->batch, "Images per run (dynamic-batch models)")->check(CLI::Range(1, 4096));
  cmd->add_option("--iters", a->iters, "Timed runs per stream")->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", a->warmup, "Untimed runs first")->check(CLI::Range(0, 1000000));
  cmd->add_flag("--json", a->json, "Print JSON");
  return [=] {
    auto model = Model::load(a->model);
    const ModelSummary& s = model->summary();
    const Tensor input = random_input(*model, a->batch);
    const int64_t images = input.shape().empty() ? 1 : input.shape()[0];
    const std::string precision = s.precision;

    Session single(model, {.threads = a->threads});
    const Stats one = stats_of(time_runs(single, input, a->warmup, a->iters));

    Stats loaded = one;
    double fps = 1000.0 * static_cast<double>(images) / one.median;
    if (a->streams > 1) {
      std::vector<std::unique_ptr<Session>> sessions;
      for (int i = 0; i < a->streams; ++i) {
        sessions.push_back(std::make_unique<Session>(model, SessionOptions{.threads = a->threads}));
        for (int w = 0; w < std::max(1, a->warmup); ++w) sessions.back()->run(input);
      }
      std::vector<std::vector<double>> per_stream(static_cast<size_t>(a->streams));
      const auto t0 = Clock::now();
      std::vector<std::thread> workers;
      std::mutex error_mutex;
      std::string error;
      for (int i = 0; i < a->streams; ++i)
        workers.emplace_back([&, i] {
          try {
            per_stream[static_cast<size_t>(i)] = time_runs(*sessions[static_cast<size_t>(i)], input, 0, a->iters);
          } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (error.empty()) error = e.what();
          }
        });
      for (auto& w : workers) w.join();
      if (!error.empty()) throw Error(error);
      const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
      fps = static_cast<double>(a->streams) * a->iters * static_cast<double>(images) / wall;
      std::vector<double> all;
      for (const auto& v : per_stream) all.insert(all.end(), v.begin(), v.end());
      loaded = stats_of(all);
    }

    const int64_t classes = s.outputs.at(0).shape.empty() ? 0 : s.outputs.at(0).shape.back();
    if (a->json) {
      nlohmann::json j{{"model", a->model}, {"precision", precision}, {"threads", a->threads}, {"streams", a->streams},
                       {"batch", images},
                       {"latency_ms", {{"median", one.median}, {"p90", one.p90}, {"min", one.min}}},
                       {"latency_per_image_ms", one.median / static_cast<double>(images)},
                       {"fps", fps}, {"iters", a->iters}};
      add_hardware_json(j);
      if (a->streams > 1) j["stream_latency_ms"] = {{"median", loaded.median}, {"p90", loaded.p90}, {"min", loaded.min}};
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("isa: %s\n\n", hardware_line().c_str());
    std::printf("| model | precision | input | classes | params | latency %d thread(s) | latency %d stream(s) | FPS |\n", a->threads, a->streams);
    std::printf("|---|---|---|---|---|---|---|---|\n");
    std::printf("| %s | %s | %s | %lld | %s | %.2f ms (p90 %.2f) | %.2f ms | %.1f |\n", s.variant == "none" ? a->model.c_str() : s.variant.c_str(),
                precision.c_str(), shape_str(input.shape()).c_str(), static_cast<long long>(classes), human_count(s.params).c_str(),
                one.median, one.p90, loaded.median, fps);
    return 0;
  };
}

}  // namespace effvit::cli
