#include <cstdio>

#include "data/npy.h"
#include "effvit/image.h"
#include "effvit/model.h"
#include "tools/effvit/commands.h"
#include "tools/effvit/image_options.h"
#include "tools/effvit/precision_option.h"

namespace effvit::cli {

Handler add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "run", "Run a model on a .npy input (float32, or uint8 pixels / NV12 for a quantized model) and write its output as .npy");
  struct Args {
    std::string model, input, image, output;
    int threads = 1;
    Precision precision = Precision::fp32;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "ONNX model")->required();
  auto* input = cmd->add_option("--input,-i", a->input, "Input tensor (.npy of the model's input type; batch taken from it)");
  cmd->add_option("--image", a->image, "Or a JPEG/PNG/WebP/BMP image, preprocessed as the model's metadata says (NV12 for an nv12 model)")
      ->excludes(input);
  cmd->add_option("--output,-o", a->output, "Where to write the output tensor (.npy)")->required();
  cmd->add_option("--threads", a->threads, "Threads inside one inference")->check(CLI::Range(1, 256));
  add_precision_option(cmd, a->precision);
  const auto image_options = add_image_options(cmd);
  return [=] {
    if (a->input.empty() == a->image.empty()) throw Error(ErrorKind::invalid_input, "run: give one of --input or --image");
    auto model = Model::load(a->model);
    const std::string& source = a->input.empty() ? a->image : a->input;
    Tensor input = a->input.empty() ? preprocess(read_image(a->image, image_options->decode()), image_options->preprocess(model->metadata()))
                                    : read_npy(a->input);
    Session session(model, {.threads = a->threads, .precision = a->precision});
    say_precision(a->precision, session.precision());
    Tensor output;
    try {
      output = session.run(input);
    } catch (const Error& e) {
      throw Error(source + ": " + e.what());
    }
    write_npy(a->output, output);
    return 0;
  };
}

}  // namespace effvit::cli
