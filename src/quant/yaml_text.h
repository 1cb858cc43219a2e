// YAML written as text, in the layout the RDK toolchain's configs use: what --init-config and
// --auto-mixed write, readable and diffable (one node_info entry a line), comments and all.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace effvit::quant {

// A YAML single-quoted scalar (a quote doubles), as the seed writes names; where a control
// character (a newline in a node name, say) would be folded into a space by YAML's line folding,
// double-quoted with escapes.
std::string yaml_quoted(const std::string& s);

// One node_info entry: the node's name and its fields in order ({'ON', 'BPU'}, {'InputType', ...}).
struct NodeInfoEntry {
  std::string node;
  std::vector<std::pair<std::string, std::string>> fields;
};

// `node_info: {` then an entry a line (`'name': {'ON': 'CPU'},`) then `}`, each line indented by
// `indent` spaces (the entries by two more), ending in a newline.
std::string node_info_block(const std::vector<NodeInfoEntry>& entries, size_t indent);

}  // namespace effvit::quant
