// effvit quantize --config CFG.yaml [-o OUT.onnx]: post-training int8 quantization from the RDK
// toolchain's YAML layout (src/quant/).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "effvit/error.h"
#include "quant/config.h"
#include "quant/init_config.h"
#include "quant/quantize.h"
#include "tools/effvit/commands.h"
#include "tools/shared/format.h"
#include "tools/effvit/progress.h"

namespace effvit::cli {

namespace {

// --init-config: the YAML names the model relative to its own folder when written to a file beside
// or above it, and by absolute path otherwise: on stdout (where it will be saved is unknown), or
// when the relative path would climb out of the YAML's folder ('../../../models/m.onnx' reads
// worse and breaks when the YAML moves).
int write_starter_config(const std::string& model, const std::string& input_type, const std::string& output, bool force) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // A config that is there may hold a user's edits: a starter does not replace it unasked.
  if (!output.empty() && fs::exists(output, ec) && !force)
    throw Error(ErrorKind::invalid_input, output + ": already exists; --init-config does not overwrite a config (it may hold your edits): "
                                                   "choose another -o, or pass --force");
  std::optional<quant::InputKind> kind;
  if (!input_type.empty()) kind = quant::parse_input_kind(input_type);
  // Lexically, as quantize resolves it (no symlinks followed on either side).
  const fs::path absolute = fs::absolute(model).lexically_normal();
  const std::string relative =
      output.empty() ? "" : absolute.lexically_relative(fs::absolute(output).lexically_normal().parent_path()).string();
  const std::string named = relative.empty() || relative.rfind("..", 0) == 0 ? absolute.string() : relative;
  const std::string yaml = quant::starter_config(model, named, kind);
  if (output.empty()) {
    std::fputs(yaml.c_str(), stdout);
  } else {
    quant::write_atomically(output, yaml, "starter config");
    std::fprintf(stderr, "effvit: wrote %s: fill in calibration_parameters.cal_data_dir, then effvit quantize --config %s\n",
                 output.c_str(), output.c_str());
  }
  return 0;
}

}  // namespace

Handler add_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "Quantize a model to int8 QDQ ONNX from an RDK-style YAML config");
  struct Args {
    std::string config, output, init_config, input_type, report, auto_mixed;
    bool json = false, full_range = false, sensitivity = false, verbose = false, force = false;
    size_t calibration_samples = 0;
  };
  auto a = std::make_shared<Args>();
  auto* config = cmd->add_option("--config", a->config, "Quantization YAML (model_parameters, input_parameters, calibration_parameters)");
  auto* init = cmd->add_option("--init-config", a->init_config,
                               "Instead: write a starter YAML for this ONNX model (to -o, else stdout); fill in cal_data_dir and run");
  config->excludes(init);
  cmd->add_option("--input-type", a->input_type, "With --init-config: nv12, rgb, bgr, gray or featuremap (default nv12; gray for 1 channel)");
  cmd->add_option("-o,--output", a->output,
                  "Where to write the QDQ model (default: WORKING_DIR/PREFIX.onnx from the YAML), or the starter YAML");
  cmd->add_flag("--full-range", a->full_range,
                "int8 activations and weights in [-127, 127]: one more bit, but int8 speed only with VNNI/AMX (default: the "
                "portable scheme, uint8 activations with zero points and weights in [-64, 64], exact and fast on every x86 CPU)");
  cmd->add_option("--report", a->report,
                  "Also write DIR/report.json and plots of where int8 departs from float32 (agreement.png/svg, histograms.png/svg)");
  cmd->add_flag("--sensitivity", a->sensitivity,
                "Also measure each node quantized alone against float32's logits (one model per node), most sensitive first");
  cmd->add_option("--auto-mixed", a->auto_mixed,
                  "Keep the fewest, most sensitive nodes in float32 until BUDGET holds on calibration samples: 'cosine>=0.999' or "
                  "'top1>=99.5%' (quoted: '>' is the shell's); writes CFG.auto_mixed.yaml beside the config with them as node_info");
  cmd->add_option("--calibration-samples", a->calibration_samples,
                  "Calibrate on at most N of cal_data_dir's samples, spread evenly over it (default: all; an IDX file may hold 60000)")
      ->check(CLI::Range(1, 1 << 30));
  cmd->add_flag("--json", a->json, "Print JSON");
  cmd->add_flag("--verbose", a->verbose, "Also list what each grouped note stands for (a node a line)");
  cmd->add_flag("--force", a->force, "Overwrite an existing file: --init-config's -o, --auto-mixed's CFG.auto_mixed.yaml");
  return [=] {
    if (!a->init_config.empty()) return write_starter_config(a->init_config, a->input_type, a->output, a->force);
    if (a->config.empty()) throw Error(ErrorKind::invalid_input, "quantize: --config CFG.yaml (or --init-config MODEL.onnx) is required");
    const quant::QuantScheme scheme = a->full_range ? quant::QuantScheme::full_range : quant::QuantScheme::portable;
    quant::QuantizeOptions options;
    options.scheme = scheme;
    options.sensitivity = a->sensitivity;
    options.calibration_samples = a->calibration_samples;
    if (!a->auto_mixed.empty()) options.auto_mixed = quant::parse_budget(a->auto_mixed);
    const quant::QuantConfig config = quant::load_quant_config(a->config);
    // Before any work: an earlier run's config may have been edited since.
    if (std::error_code ec; options.auto_mixed && !a->force && std::filesystem::exists(quant::auto_mixed_config_path(config), ec))
      throw Error(ErrorKind::invalid_input, quant::auto_mixed_config_path(config) +
                                                ": exists (an earlier --auto-mixed run's, perhaps edited since); --force replaces it");
    bool made_report_folder = false;  // removed again if quantizing fails: nothing left behind
    if (!a->report.empty()) {
      // Before any work: a report folder that cannot be made must not leave the model written.
      std::error_code ec;
      made_report_folder = std::filesystem::create_directories(a->report, ec);
      if (!std::filesystem::is_directory(a->report, ec) || ::access(a->report.c_str(), W_OK) != 0)
        throw Error(ErrorKind::invalid_input, a->report + ": --report: cannot create or write this folder");
    }
    for (const auto& note : config.notes) std::fprintf(stderr, "effvit: note: %s: %s\n", a->config.c_str(), note.c_str());
    std::unique_ptr<ProgressBar> bar;
    std::string phase;
    const quant::QuantizeReport r = [&] {
      try {
        return quant::quantize(config, a->output, [&](const char* name, size_t done, size_t total) {
          if (!bar || phase != name) {
            bar.reset();  // finishes the previous phase's line
            bar = std::make_unique<ProgressBar>(name, total);
            phase = name;
          }
          bar->update(done);
        }, options);
      } catch (...) {
        if (std::error_code ec; made_report_folder) std::filesystem::remove(a->report, ec);  // only if still empty
        throw;
      }
    }();
    bar.reset();
    if (!a->report.empty()) {
      quant::write_report(a->report, r.agreement, r.ranges, r.sensitivity, config.onnx_model, r.calibration);
      std::fprintf(stderr, "effvit: wrote %s/report.html (and report.json, agreement.png/svg, histograms.png/svg)\n",
                   a->report.c_str());
    }
    std::string mixed_yaml;
    if (options.auto_mixed) mixed_yaml = quant::write_config_with_float_nodes(config, r.auto_mixed_float);
    const quant::Agreement& agree = r.agreement;
    // Worst first: where a user looks when accuracy drops.
    std::vector<const quant::TensorAgreement*> worst;
    for (const auto& n : agree.nodes) worst.push_back(&n);
    std::stable_sort(worst.begin(), worst.end(), [](const auto* x, const auto* y) { return !(x->cosine >= y->cosine); });
    for (size_t i = config.notes.size(); i < r.notes.size(); ++i) std::fprintf(stderr, "effvit: note: %s\n", r.notes[i].c_str());
    if (a->verbose)
      for (const auto& detail : r.details) std::fprintf(stderr, "effvit: note:   %s\n", detail.c_str());
    if (a->json) {
      nlohmann::json j{{"config", a->config},
                       {"model", config.onnx_model},
                       {"output", r.output_path},
                       {"samples", r.samples},
                       {"batchnorms_folded", r.batchnorms_folded},
                       {"quantized_nodes", r.quantized_nodes},
                       {"float_nodes", r.float_nodes},
                       {"quantized_activations", r.activations},
                       {"per_channel_weights", r.per_channel},
                       {"weights_cosine", std::isnan(r.weights_kept_way_cosine) ? nlohmann::json(nullptr) : nlohmann::json(r.weights_kept_way_cosine)},
                       {"weights_other_way_cosine",
                        std::isnan(r.weights_other_way_cosine) ? nlohmann::json(nullptr) : nlohmann::json(r.weights_other_way_cosine)},
                       {"scheme", quant::scheme_name(scheme)},
                       {"input_type_rt", quant::input_kind_name(config.input_type_rt)},
                       {"calibration_type", config.calibration_type},
                       {"max_percentile", config.max_percentile},
                       {"calibration", r.calibration}};
      nlohmann::json nodes = nlohmann::json::array();
      for (const auto& n : agree.nodes)
        nodes.push_back({{"node", n.node}, {"tensor", n.tensor}, {"cosine", n.cosine}, {"max_error", n.max_error}, {"max_abs", n.max_abs}});
      j["agreement"] = {{"samples", agree.samples},
                        {"logits_cosine", agree.logits_cosine},
                        {"top1_agreement", agree.top1_agreement},
                        {"nodes", nodes}};
      if (!r.sensitivity.empty()) {
        nlohmann::json sens = nlohmann::json::array();
        for (const auto& n : r.sensitivity) sens.push_back({{"node", n.node}, {"cosine", n.cosine}, {"top1_agreement", n.top1}});
        j["sensitivity"] = sens;
      }
      if (options.auto_mixed) j["auto_mixed"] = {{"budget", a->auto_mixed}, {"float_nodes", r.auto_mixed_float}, {"config", mixed_yaml}};
      add_hardware_json(j);
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("model        %s\n", config.onnx_model.c_str());
    std::printf("calibration  %s, %zu samples, %s\n", config.cal_data_dir.c_str(), r.samples, r.calibration.c_str());
    std::printf("folded       %d BatchNormalization into convs\n", r.batchnorms_folded);
    std::printf("int8         %zu Conv/Gemm/MatMul nodes (weights per %s), %zu activations, %s scheme\n", r.quantized_nodes,
                r.per_channel ? "channel" : config.per_channel ? "tensor: opset < 13" : "tensor", r.activations, quant::scheme_name(scheme));
    std::printf("float32      %zu Conv/Gemm/MatMul nodes (run-time weights or node_info ON: CPU)\n", r.float_nodes);
    std::printf("input        %s (preprocessing inside the model)\n", quant::input_kind_name(config.input_type_rt));
    std::printf("wrote        %s\n", r.output_path.c_str());
    std::printf("agreement    int8 against float32 on %zu calibration samples: top-1 %.2f%%, logits cosine %.5f\n", agree.samples,
                100 * agree.top1_agreement, agree.logits_cosine);
    if (!worst.empty()) {
      std::printf("\n| least similar nodes | cosine | max error | max |fp32| |\n|---|---|---|---|\n");
      for (size_t k = 0; k < worst.size() && k < 8; ++k)
        std::printf("| %s | %.5f | %.4g | %.4g |\n", worst[k]->node.c_str(), worst[k]->cosine, worst[k]->max_error, worst[k]->max_abs);
      std::printf("(every node: --json)\n");
    }
    if (!r.sensitivity.empty()) {
      std::printf("\n| most sensitive nodes (quantized alone) | logits cosine | top-1 agreement |\n|---|---|---|\n");
      for (size_t k = 0; k < r.sensitivity.size() && k < 8; ++k)
        std::printf("| %s | %.5f | %.1f%% |\n", r.sensitivity[k].node.c_str(), r.sensitivity[k].cosine, 100 * r.sensitivity[k].top1);
    }
    if (options.auto_mixed)
      std::printf("\nauto-mixed   %zu node(s) kept in float32 for %s; config with them: %s\n", r.auto_mixed_float.size(),
                  a->auto_mixed.c_str(), mixed_yaml.c_str());
    return 0;
  };
}

}  // namespace effvit::cli
