// `effvit serve`: the KServe v2 protocol over HTTP and gRPC (src/serve/) for models named on the
// command line or found in a Triton-style model repository.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "serve/server.h"
#include "tools/effvit/commands.h"
#include "tools/effvit/image_options.h"
#include "tools/effvit/precision_option.h"

namespace effvit::cli {

Handler add_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve models with the KServe v2 inference protocol over HTTP and gRPC");
  auto o = std::make_shared<serve::ServeOptions>();
  auto models = std::make_shared<std::vector<std::string>>();
  auto model_precision = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--model", *models, "NAME=PATH of a model to serve (repeatable); a bare PATH is served under its file's name");
  cmd->add_option("--model-repository", o->model_repository, "Triton-style folder: DIR/NAME/VERSION/model.onnx");
  cmd->add_option("--host", o->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--http-port", o->http_port, "HTTP port (0: any free port, printed)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--metrics-port", o->metrics_port, "Prometheus /metrics port (0: any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--grpc-port", o->grpc_port, "KServe v2 gRPC port (0: any free port, printed)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--instances", o->scheduler.instances, "Sessions per model, each on its own thread")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--threads", o->scheduler.threads, "Threads inside each run")->capture_default_str()->check(CLI::Range(1, 256));
  add_precision_option(cmd, o->scheduler.precision)->description("Every model's precision (see --model-precision): fp32 (exact, default), bf16 or auto");
  cmd->add_option("--model-precision", *model_precision, "NAME=fp32|bf16|auto: one model's precision (repeatable)");
  cmd->add_option("--max-batch-size", o->scheduler.max_batch_size, "Rows one execution may batch across requests (dynamic-batch models)")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--max-queue-delay-us", o->scheduler.max_queue_delay_us, "How long the oldest request waits for others to batch with")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{10'000'000}));
  cmd->add_option("--max-queue-size", o->scheduler.max_queue_size, "Requests waiting per model; more are refused with 503")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--http-max-input-size", o->http_max_input_size, "Largest request body in bytes")->capture_default_str();
  cmd->add_option("--max-image-pixels", o->images.max_pixels,
                  "Largest image a request may send as BYTES, in pixels (width x height; the CLI's own limit is 268435456)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 28));
  // Images sent as BYTES are read as classify, eval and run read files: a server started with the
  // same options answers as they do.
  auto image = add_image_options(cmd);
  cmd->add_option("--http-request-timeout-s", o->http_request_timeout_s,
                  "How long one request (head and body) may take to arrive; a slower client is answered 400 and dropped (0: no limit)")
      ->capture_default_str()->check(CLI::Range(0, 86400));
  cmd->add_option("--exit-timeout-s", o->exit_timeout_s, "On SIGTERM, how long to wait for requests in flight")
      ->capture_default_str()->check(CLI::Range(0, 3600));
  return [=] {
    if (const char* delay = std::getenv("EFFVIT_TEST_RUN_DELAY_MS"); delay && std::atoll(delay) > 0) {
      o->scheduler.test_run_delay_us = std::min<int64_t>(std::atoll(delay), 60'000) * 1000;
      std::fprintf(stderr, "effvit: EFFVIT_TEST_RUN_DELAY_MS: every run first sleeps %lld ms (for tests only)\n",
                   static_cast<long long>(o->scheduler.test_run_delay_us / 1000));
    }
    // One listener per port: two of effvit's own on one port would fail to bind, blamed on another program.
    const std::pair<const char*, int> ports[] = {{"--http-port", o->http_port}, {"--grpc-port", o->grpc_port}, {"--metrics-port", o->metrics_port}};
    for (size_t i = 0; i < 3; ++i)
      for (size_t j = i + 1; j < 3; ++j)
        if (ports[i].second != 0 && ports[i].second == ports[j].second)
          throw Error(ErrorKind::invalid_input, std::string(ports[i].first) + " and " + ports[j].first + " are both " +
                                                    std::to_string(ports[i].second) + "; each listener needs its own port (or 0 for any free one)");
    o->images.exif_orientation = image->decode().exif_orientation;
    o->images.letterbox = image->letterbox();
    for (const std::string& m : *models) {
      const size_t eq = m.find('=');
      // A bare path serves the model under its file's name (models/m0.onnx as 'm0').
      if (eq == std::string::npos && !std::filesystem::path(m).stem().empty()) {
        o->models.emplace_back(std::filesystem::path(m).stem().string(), m);
        continue;
      }
      if (eq == std::string::npos || eq == 0 || eq + 1 == m.size())
        throw Error(ErrorKind::invalid_input, "--model '" + m + "': expected NAME=PATH (or a PATH, served under its file's name)");
      o->models.emplace_back(m.substr(0, eq), m.substr(eq + 1));
    }
    for (const std::string& m : *model_precision) {
      const size_t eq = m.find('=');
      Precision precision = Precision::fp32;
      if (eq == std::string::npos || eq == 0 || !parse_precision(m.substr(eq + 1), precision))
        throw Error(ErrorKind::invalid_input, "--model-precision '" + m + "': expected NAME=fp32, NAME=bf16 or NAME=auto");
      o->model_precision.emplace_back(m.substr(0, eq), precision);
    }
    serve::serve(*o);
    return 0;
  };
}

}  // namespace effvit::cli
