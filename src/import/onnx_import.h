// ONNX file -> effvit IR. The only place that parses protobuf.
#pragma once

#include <map>
#include <string>

#include "effvit/model.h"
#include "ir/graph.h"

namespace effvit {

struct ImportedModel {
  Graph graph;
  std::map<std::string, std::string> metadata;
  ModelFileInfo file_info;
  // The symbolic dimension names of the graph's inputs and outputs, by tensor name ("" unnamed).
  std::map<std::string, std::vector<std::string>> dim_names;
};

// Parses, validates with onnx::checker, runs onnx::shape_inference (its shapes are kept on values
// as a cross-check), and converts. Throws effvit::Error "<path>: <problem>" for any bad input.
ImportedModel import_onnx(const std::string& path);
// The same for a file's bytes in memory; `name` stands for the path in messages. A model whose
// weights are external data is refused (there is no folder to find them in).
ImportedModel import_onnx_bytes(const void* data, size_t size, const std::string& name);

}  // namespace effvit
