// Class names for a model, and its logits ranked into them: what `classify` and the Python
// module's Model.classify share. Names come from --labels FILE, else the model's own metadata
// (effvit.classes, a JSON array), else the ImageNet-1k list shipped with effvit when the model has
// 1000 classes.
#pragma once

#include <string>
#include <vector>

#include "effvit/model.h"

namespace effvit::cli {

// Scores per image in the model's first output (everything after the batch axis).
int64_t class_count(const Model& model);
std::vector<std::string> class_names(const Model& model, const std::string& labels_file);

struct RankedClass {
  int64_t index = 0;
  double prob = 0;  // softmax of the logits
};
// The k most probable of n logits, most probable first.
std::vector<RankedClass> top_classes(const float* logits, int64_t n, int64_t k);

}  // namespace effvit::cli
