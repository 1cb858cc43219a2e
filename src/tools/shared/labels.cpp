#include "tools/shared/labels.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <fstream>
#include <nlohmann/json.hpp>

namespace effvit::cli {
namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open labels file");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string imagenet_labels_path() {
  // Next to the binary's source tree at build time; EFFVIT_DATA_DIR overrides at run time.
  if (const char* env = std::getenv("EFFVIT_DATA_DIR")) return std::string(env) + "/imagenet_classes.txt";
  return std::string(EFFVIT_DATA_DIR) + "/imagenet_classes.txt";
}

}  // namespace

int64_t class_count(const Model& model) {
  const auto& outs = model.summary().outputs;
  if (outs.empty() || outs[0].shape.size() < 2) throw Error(model.path() + ": first output is not [batch, classes]");
  if (outs[0].dtype != DType::f32)
    throw Error(model.path() + ": first output is " + dtype_name(outs[0].dtype) + "; classifying needs float32 logits");
  int64_t classes = 1;
  for (size_t d = 1; d < outs[0].shape.size(); ++d) classes *= outs[0].shape[d];
  if (classes <= 0) throw Error(model.path() + ": first output " + shape_str(outs[0].shape) + " has no class axis");
  return classes;
}

std::vector<std::string> class_names(const Model& model, const std::string& labels_file) {
  const int64_t classes = class_count(model);
  std::vector<std::string> names;
  if (!labels_file.empty()) {
    names = read_lines(labels_file);
    if (static_cast<int64_t>(names.size()) != classes)
      throw Error(labels_file + ": has " + std::to_string(names.size()) + " labels, model has " + std::to_string(classes) + " classes");
    return names;
  }
  auto it = model.metadata().find("effvit.classes");
  if (it != model.metadata().end()) {
    try {
      names = nlohmann::json::parse(it->second).get<std::vector<std::string>>();
    } catch (const std::exception& e) {
      throw Error(model.path() + ": metadata effvit.classes is not a JSON array of strings");
    }
    if (static_cast<int64_t>(names.size()) == classes) return names;
    throw Error(model.path() + ": metadata effvit.classes has " + std::to_string(names.size()) + " names for " + std::to_string(classes) + " classes");
  }
  if (classes == 1000 && std::filesystem::exists(imagenet_labels_path())) return read_lines(imagenet_labels_path());
  for (int64_t i = 0; i < classes; ++i) names.push_back("class " + std::to_string(i));
  return names;
}

std::vector<RankedClass> top_classes(const float* logits, int64_t n, int64_t k) {
  const float top = *std::max_element(logits, logits + n);
  std::vector<double> prob(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += prob[static_cast<size_t>(i)] = std::exp(static_cast<double>(logits[i] - top));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  k = std::clamp<int64_t>(k, 0, n);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int64_t x, int64_t y) { return prob[static_cast<size_t>(x)] > prob[static_cast<size_t>(y)]; });
  std::vector<RankedClass> ranked;
  for (int64_t i = 0; i < k; ++i) ranked.push_back({order[static_cast<size_t>(i)], prob[static_cast<size_t>(order[static_cast<size_t>(i)])] / sum});
  return ranked;
}

}  // namespace effvit::cli
