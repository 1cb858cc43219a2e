#include <cstdio>
#include <nlohmann/json.hpp>

#include "effvit/model.h"
#include "tools/effvit/commands.h"
#include "tools/effvit/precision_option.h"
#include "tools/shared/format.h"
#include "tools/shared/shapes.h"

namespace effvit::cli {

Handler add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Inputs, outputs, op histogram, parameters, MACs and variant of a model");
  auto model_path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto kernels = std::make_shared<bool>(false);
  auto precision = std::make_shared<Precision>(Precision::fp32);
  cmd->add_option("MODEL", *model_path, "ONNX model")->required();
  cmd->add_flag("--json", *json, "Print JSON instead of text");
  cmd->add_flag("--kernels", *kernels,
                "Also list the kernel each node of the optimised graph runs at batch 1 on this machine");
  add_precision_option(cmd, *precision);
  return [=] {
    auto model = Model::load(*model_path);
    const ModelSummary& s = model->summary();
    // What a Session at --precision runs ("fp32", "bf16" or "int8"), and its kernels.
    Session session(model, {.precision = *precision});
    say_precision(*precision, session.precision());
    Session::PlanInfo plan;
    if (*kernels) plan = session.plan_info(example_input_shapes(*model, 1));
    if (*json) {
      nlohmann::json j;
      auto tensors = [](const std::vector<TensorInfo>& list) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& t : list) a.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}});
        return a;
      };
      j["model"] = *model_path;
      j["inputs"] = tensors(s.inputs);
      j["outputs"] = tensors(s.outputs);
      j["params"] = s.params;
      j["macs"] = s.macs;
      j["variant"] = s.variant;
      j["precision"] = session.precision();
      j["ops"] = s.ops;
      j["opset"] = s.opset;
      add_hardware_json(j);
      if (*kernels) {
        j["kernels"] = nlohmann::json::array();
        for (const auto& n : plan.nodes)
          j["kernels"].push_back({{"node", n.node}, {"op", n.op}, {"implementation", n.implementation}});
      }
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("model    %s\n", model_path->c_str());
    std::printf("variant  %s\n", s.variant == "none" ? "none (not an EfficientViT-MSRA M0-M5 layout)" : s.variant.c_str());
    std::printf("opset    %d\n", s.opset);
    std::printf("precision %s\n", session.precision().c_str());
    for (const auto& t : s.inputs) std::printf("input    %s %s %s\n", t.name.c_str(), dtype_name(t.dtype), shape_str(t.shape).c_str());
    for (const auto& t : s.outputs) std::printf("output   %s %s %s\n", t.name.c_str(), dtype_name(t.dtype), shape_str(t.shape).c_str());
    std::printf("params   %s (%lld)\n", human_count(s.params).c_str(), static_cast<long long>(s.params));
    std::printf("MACs     %s (%lld, batch 1)\n", human_count(s.macs).c_str(), static_cast<long long>(s.macs));
    int total = 0;
    for (const auto& [op, n] : s.ops) total += n;
    std::printf("ops      %d nodes after load-time folding\n", total);
    for (const auto& [op, n] : s.ops) std::printf("  %-20s %d\n", op.c_str(), n);
    std::printf("isa      %s\n", hardware_line().c_str());
    if (*kernels) {
      std::printf("kernels  %zu nodes at batch 1, %s of activations and workspace\n", plan.nodes.size(),
                  human_bytes(plan.arena_bytes).c_str());
      for (const auto& n : plan.nodes) std::printf("  %-18s %-36s %s\n", n.op.c_str(), n.node.c_str(), n.implementation.c_str());
    }
    return 0;
  };
}

}  // namespace effvit::cli
