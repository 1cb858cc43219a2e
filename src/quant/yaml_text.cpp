#include "quant/yaml_text.h"

#include <algorithm>
#include <cstdio>

namespace effvit::quant {

std::string yaml_quoted(const std::string& s) {
  const bool control = std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (!control) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  }
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') out += std::string("\\") + c;
    else if (u < 0x20 || u == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else out += c;
  }
  return out + "\"";
}

std::string node_info_block(const std::vector<NodeInfoEntry>& entries, size_t indent) {
  const std::string pad(indent, ' ');
  std::string out = pad + "node_info: {\n";
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string fields;
    for (const auto& [key, value] : entries[i].fields) fields += (fields.empty() ? "" : ", ") + yaml_quoted(key) + ": " + yaml_quoted(value);
    out += pad + "  " + yaml_quoted(entries[i].node) + ": {" + fields + "}" + (i + 1 < entries.size() ? "," : "") + "\n";
  }
  return out + pad + "}\n";
}

}  // namespace effvit::quant
