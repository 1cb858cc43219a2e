#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "effvit/image.h"
#include "effvit/model.h"
#include "tools/effvit/commands.h"
#include "tools/effvit/precision_option.h"
#include "tools/shared/format.h"
#include "tools/shared/labels.h"
#include "tools/shared/shapes.h"

namespace effvit::cli {
namespace {

const char* input_type_name(Preprocess::Input input) {
  switch (input) {
    case Preprocess::Input::normalized_f32: return "float32 RGB, normalised";
    case Preprocess::Input::rgb_u8: return "uint8 RGB";
    case Preprocess::Input::bgr_u8: return "uint8 BGR";
    case Preprocess::Input::gray_u8: return "uint8 gray";
    case Preprocess::Input::nv12_u8: return "uint8 NV12";
  }
  return "?";
}

// What classify, eval, run --image and serve do to an image before the model sees it, and the
// class names they print: from the model's metadata, else the defaults, said which.
nlohmann::json image_contract(const Model& model) {
  const auto& md = model.metadata();
  Preprocess pre;
  try {
    pre = Preprocess::from_metadata(md);
  } catch (const Error& e) {
    // The model still loads and runs on tensors; only its images cannot be prepared. info is
    // where a user looks to find that out, so it says so and goes on.
    return {{"preprocess", {{"source", std::string("invalid metadata: ") + e.what()}}}, {"classes", {{"count", 0}, {"source", "not read"}}}};
  }
  const bool from_metadata = md.count("effvit.crop") || md.count("effvit.resize_shorter") || md.count("effvit.mean") || md.count("effvit.std") ||
                             md.count("effvit.input_type_rt");
  nlohmann::json j{{"source", from_metadata ? "metadata" : "default (timm's eval transform)"},
                   {"resize_shorter", pre.resize_shorter},
                   {"crop", pre.crop},
                   {"input", input_type_name(pre.input)},
                   {"layout", pre.input == Preprocess::Input::nv12_u8 ? "[N, H*3/2, W, 1]" : pre.nhwc ? "NHWC" : "NCHW"}};
  if (pre.input == Preprocess::Input::normalized_f32) {
    // As written (0.485), not as float32 holds it (0.48500001430511475).
    auto shortest = [](const float* v) {
      std::vector<double> out;
      for (int c = 0; c < 3; ++c) {
        char text[32];
        std::snprintf(text, sizeof text, "%.7g", v[c]);
        out.push_back(std::strtod(text, nullptr));
      }
      return out;
    };
    j["mean"] = shortest(pre.mean);
    j["std"] = shortest(pre.std);
  }
  nlohmann::json classes;
  try {
    const std::vector<std::string> names = class_names(model, "");
    classes = {{"count", names.size()},
               {"source", md.count("effvit.classes") ? "metadata (effvit.classes)" : names.size() == 1000 ? "ImageNet-1k (default)" : "indices"},
               {"first", std::vector<std::string>(names.begin(), names.begin() + std::min<size_t>(names.size(), 5))}};
  } catch (const Error& e) {
    classes = {{"count", 0}, {"source", std::string("none: ") + e.what()}};
  }
  return {{"preprocess", j}, {"classes", classes}};
}

// The text form of image_contract: an "images" and a "classes" line.
void print_image_contract(const nlohmann::json& contract) {
  const nlohmann::json& pre = contract["preprocess"];
  std::printf("images   %s", pre["source"].get<std::string>().c_str());
  if (pre.contains("crop")) {
    const int crop = pre["crop"].get<int>(), shorter = pre["resize_shorter"].get<int>();
    if (shorter > 0)
      std::printf(": shorter side resized to %d, center crop %d", shorter, crop);
    else
      std::printf(": resized to %dx%d", crop, crop);
    std::printf(", %s %s", pre["input"].get<std::string>().c_str(), pre["layout"].get<std::string>().c_str());
    if (pre.contains("mean")) std::printf(", mean %s std %s", pre["mean"].dump().c_str(), pre["std"].dump().c_str());
  }
  std::printf("\n");
  const nlohmann::json& classes = contract["classes"];
  std::printf("classes  %d from %s", classes["count"].get<int>(), classes["source"].get<std::string>().c_str());
  if (classes.contains("first")) {
    std::string first;
    for (const auto& n : classes["first"]) first += (first.empty() ? "" : ", ") + n.get<std::string>();
    std::printf(": %s%s", first.c_str(), classes["count"].get<size_t>() > classes["first"].size() ? ", ..." : "");
  }
  std::printf("\n");
}

}  // namespace

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
      j.update(image_contract(*model));
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
    print_image_contract(image_contract(*model));
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
