// Concrete input shapes for a model whose inputs have dynamic dimensions, as the verbs that make up
// their own inputs (bench, info --kernels) need them.
#pragma once

#include <string>
#include <vector>

#include "effvit/image.h"
#include "effvit/model.h"

namespace effvit::cli {

// Dynamic dimensions filled in: the batch with `batch`, an image's channels with 3 and its height
// and width with the model's crop (metadata; 224 by default), anything else with 1. Throws
// effvit::Error when the model fixes its batch at another size.
inline std::vector<Shape> example_input_shapes(const Model& model, int64_t batch) {
  int64_t crop = 224;
  try {
    crop = Preprocess::from_metadata(model.metadata()).crop;
  } catch (const Error&) {
    // Bad preprocessing metadata is reported by classify and eval, which use it.
  }
  std::vector<Shape> shapes;
  for (const TensorInfo& info : model.summary().inputs) {
    Shape s = info.shape;
    if (!s.empty() && s[0] >= 0 && s[0] != batch && batch != 1)
      throw Error(ErrorKind::invalid_input, model.path() + ": the model's batch is fixed at " + std::to_string(s[0]) +
                                                "; batch " + std::to_string(batch) + " needs a dynamic-batch export");
    for (size_t k = 0; k < s.size(); ++k) {
      if (s[k] >= 0) continue;
      const bool image = s.size() == 4 && info.dtype == DType::f32;
      s[k] = k == 0 ? batch : image && k == 1 ? 3 : image ? crop : 1;
    }
    shapes.push_back(s);
  }
  return shapes;
}

}  // namespace effvit::cli
