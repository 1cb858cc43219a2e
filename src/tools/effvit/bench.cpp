// `effvit bench`: one row of the seed's table (tools/shared/benchmark.cpp measures). With --batch N
// every run classifies N images; latencies are per run, FPS counts images.
#include <cstdio>

#include "effvit/model.h"
#include "tools/effvit/commands.h"
#include "tools/effvit/precision_option.h"
#include "tools/shared/format.h"
#include "tools/shared/benchmark.h"

namespace effvit::cli {

Handler add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Latency (one stream) and throughput (S concurrent streams)");
  struct Args {
    std::string model;
    BenchOptions bench;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "ONNX model")->required();
  cmd->add_option("--threads", a->bench.threads, "Threads per stream")->check(CLI::Range(1, 256));
  cmd->add_option("--streams", a->bench.streams, "Concurrent streams sharing the model")->check(CLI::Range(1, 256));
  cmd->add_option("--batch", a->bench.batch, "Images per run (dynamic-batch models)")->check(CLI::Range(1, 4096));
  cmd->add_option("--iters", a->bench.iters, "Timed runs per stream")->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", a->bench.warmup, "Untimed runs first")->check(CLI::Range(0, 1000000));
  add_precision_option(cmd, a->bench.precision);
  cmd->add_flag("--json", a->json, "Print JSON");
  return [=] {
    auto model = Model::load(a->model);
    const nlohmann::json j = run_benchmark(model, a->model, a->bench);
    say_precision(a->bench.precision, j["precision"].get<std::string>());
    if (a->json) {
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    const ModelSummary& s = model->summary();
    const int64_t classes = s.outputs.at(0).shape.empty() ? 0 : s.outputs.at(0).shape.back();
    const nlohmann::json& loaded = j.contains("stream_latency_ms") ? j["stream_latency_ms"] : j["latency_ms"];
    std::printf("isa: %s\n\n", hardware_line().c_str());
    std::printf("| model | precision | input | classes | params | latency %d thread(s) | latency %d stream(s) | FPS |\n", a->bench.threads,
                a->bench.streams);
    std::printf("|---|---|---|---|---|---|---|---|\n");
    std::printf("| %s | %s | %s | %lld | %s | %.2f ms (p90 %.2f) | %.2f ms | %.1f |\n", s.variant == "none" ? a->model.c_str() : s.variant.c_str(),
                j["precision"].get<std::string>().c_str(), shape_str(j["input"].get<Shape>()).c_str(), static_cast<long long>(classes), human_count(s.params).c_str(),
                j["latency_ms"]["median"].get<double>(), j["latency_ms"]["p90"].get<double>(), loaded["median"].get<double>(),
                j["fps"].get<double>());
    return 0;
  };
}

}  // namespace effvit::cli
