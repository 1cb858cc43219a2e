#include <cstdio>

#include "data/npy.h"
#include "effvit/model.h"
#include "tools/effvit/commands.h"

namespace effvit::cli {

Handler add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run a model on a float32 .npy input and write the first output as .npy");
  struct Args {
    std::string model, input, output;
    int threads = 1;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "ONNX model")->required();
  cmd->add_option("--input,-i", a->input, "Input tensor (.npy, NCHW float32; batch taken from it)")->required();
  cmd->add_option("--output,-o", a->output, "Where to write the output tensor (.npy)")->required();
  cmd->add_option("--threads", a->threads, "Threads inside one inference")->check(CLI::Range(1, 256));
  return [=] {
    auto model = Model::load(a->model);
    Tensor input = read_npy(a->input);
    Session session(model, {.threads = a->threads});
    Tensor output;
    try {
      output = session.run(input);
    } catch (const Error& e) {
      throw Error(a->input + ": " + e.what());
    }
    write_npy(a->output, output);
    return 0;
  };
}

}  // namespace effvit::cli
