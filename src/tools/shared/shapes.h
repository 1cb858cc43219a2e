// Concrete input shapes for a model whose inputs have dynamic dimensions, as the verbs that make up
// their own inputs (bench, info --kernels) need them.
#pragma once

#include <string>
#include <vector>

#include "effvit/model.h"

namespace effvit::cli {

// The model's example input shapes (Model::example_input_shapes) with the batch set to `batch`.
// Throws effvit::Error when the model fixes its batch at another size.
inline std::vector<Shape> example_input_shapes(const Model& model, int64_t batch) {
  std::vector<Shape> shapes = model.example_input_shapes();
  const auto& inputs = model.summary().inputs;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& declared = inputs.at(i).shape;
    if (declared.empty()) continue;
    if (declared[0] >= 0 && declared[0] != batch && batch != 1)
      throw Error(ErrorKind::invalid_input, model.path() + ": the model's batch is fixed at " + std::to_string(declared[0]) +
                                                "; batch " + std::to_string(batch) + " needs a dynamic-batch export");
    if (declared[0] < 0) shapes[i][0] = batch;
  }
  return shapes;
}

}  // namespace effvit::cli
