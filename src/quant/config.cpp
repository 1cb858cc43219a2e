#include "quant/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "effvit/error.h"
#include "quant/did_you_mean.h"
#include "quant/quantize.h"
#include "quant/yaml_text.h"

namespace effvit::quant {
namespace {

namespace fs = std::filesystem;

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw Error(ErrorKind::invalid_input, path_ + ": " + key + ": " + problem);
  }

  YAML::Node section(const YAML::Node& root, const std::string& name, bool required) const {
    const YAML::Node s = root[name];
    if (!s || s.IsNull()) {
      if (required) fail(name, "missing required section" + misspelt_as(root, name));
      return YAML::Node(YAML::NodeType::Map);
    }
    if (!s.IsMap()) fail(name, "must be a mapping of keys");
    return s;
  }

  std::string str(const YAML::Node& s, const std::string& section, const std::string& key, bool required,
                  const std::string& fallback = "") const {
    const YAML::Node v = s[key];
    if (!v || v.IsNull() || (v.IsScalar() && v.Scalar().empty() && !required)) {
      if (required && !v) fail(section + "." + key, "missing required key" + misspelt_as(s, key));
      if (required) fail(section + "." + key, "missing required key");
      return fallback;
    }
    if (!v.IsScalar()) fail(section + "." + key, "must be a single value");
    if (v.Scalar().empty()) fail(section + "." + key, "must not be empty");
    return v.Scalar();
  }

  double number(const YAML::Node& s, const std::string& section, const std::string& key, double fallback) const {
    const YAML::Node v = s[key];
    if (!v || v.IsNull()) return fallback;
    try {
      return v.as<double>();
    } catch (const YAML::Exception&) {
      fail(section + "." + key, "must be a number, got '" + (v.IsScalar() ? v.Scalar() : std::string("a list or mapping")) + "'");
    }
  }

  // "123.675 116.28 103.53", 0.5, or [1, 2, 3].
  std::vector<float> numbers(const YAML::Node& s, const std::string& section, const std::string& key) const {
    const YAML::Node v = s[key];
    std::vector<float> out;
    if (!v || v.IsNull()) return out;
    auto parse = [&](const std::string& text) {
      std::istringstream in(text);
      std::string word;
      while (in >> word) {
        size_t used = 0;
        float f = 0;
        try {
          f = std::stof(word, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != word.size()) fail(section + "." + key, "'" + word + "' is not a number");
        out.push_back(f);
      }
    };
    if (v.IsScalar()) parse(v.Scalar());
    else if (v.IsSequence())
      for (const auto& item : v) {
        if (!item.IsScalar()) fail(section + "." + key, "must be numbers");
        parse(item.Scalar());
      }
    else fail(section + "." + key, "must be numbers separated by spaces");
    return out;
  }

  template <typename E>
  E choice(const std::string& value, const std::string& key, const std::vector<std::pair<std::string, E>>& options) const {
    std::string expected;
    std::vector<std::string> names;
    for (const auto& [name, e] : options) {
      if (value == name) return e;
      expected += (expected.empty() ? "" : ", ") + name;
      names.push_back(name);
    }
    fail(key, "'" + value + "' is not one of " + expected + did_you_mean(value, names));
  }

  const std::string& path() const { return path_; }

 private:
  // For a missing key: " ('input_type_r' is there: a typo?)" when a key present in `map` is a typo
  // of it, else "".
  static std::string misspelt_as(const YAML::Node& map, const std::string& key) {
    if (!map.IsMap()) return "";
    for (const auto& kv : map) {
      const std::string present = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (!closest_name(present, {key}).empty()) return " ('" + present + "' is there: a typo of it?)";
    }
    return "";
  }

  std::string path_;
};

// Keys each section knows. Those that only steer the board's compiler or its debug dumps are
// accepted with a note; anything else is reported as unknown (and ignored), so a typo is seen.
const std::map<std::string, std::set<std::string>> kUsed = {
    {"model_parameters", {"onnx_model", "working_dir", "output_model_file_prefix", "node_info"}},
    {"input_parameters",
     {"input_name", "input_type_rt", "input_type_train", "input_layout_train", "input_layout_rt", "norm_type", "mean_value", "scale_value"}},
    {"calibration_parameters",
     {"cal_data_dir", "cal_data_type", "calibration_type", "max_percentile", "per_channel", "qdq_model", "num_bin", "num_quantized_bins",
      "kl_min_percentile", "run_on_cpu", "run_on_bpu"}},
};
const std::set<std::string> kBoardOnly = {"march", "layer_out_dump", "log_level", "debug_mode", "output_nodes", "input_shape",
                                          "remove_node_type", "remove_node_name", "input_batch", "separate_batch",
                                          "separate_name", "std_value", "preprocess_on", "optimization"};

const std::vector<std::pair<std::string, InputKind>> kInputKinds = {{"nv12", InputKind::nv12},
                                                                    {"rgb", InputKind::rgb},
                                                                    {"bgr", InputKind::bgr},
                                                                    {"gray", InputKind::gray},
                                                                    {"featuremap", InputKind::featuremap}};

void note_unused_keys(const YAML::Node& root, std::vector<std::string>& notes) {
  std::vector<std::string> sections;
  for (const auto& [name, keys] : kUsed) sections.push_back(name);
  for (const auto& entry : root) {
    const std::string section = entry.first.as<std::string>();
    auto used = kUsed.find(section);
    if (used == kUsed.end()) {
      notes.push_back(section + ": " + (section == "compiler_parameters" || section == "custom_op"
                                            ? "the board compiler's settings; nothing to do on a CPU"
                                            : "unknown section, ignored" + did_you_mean(section, sections)));
      continue;
    }
    if (!entry.second.IsMap()) continue;  // reported by the section reader
    const std::vector<std::string> known(used->second.begin(), used->second.end());
    for (const auto& kv : entry.second) {
      const std::string key = kv.first.as<std::string>();
      if (used->second.count(key)) continue;
      // A typo of a key that has a default would leave the default in force without a word.
      const std::string guess = did_you_mean(key, known);
      notes.push_back(section + "." + key + ": " +
                      (kBoardOnly.count(key) ? "ignored on a CPU" : "unknown key, ignored" + guess + (guess.empty() ? "" : "; its default is used")));
    }
  }
}

std::map<std::string, NodePrecision> read_node_info(const Reader& r, const YAML::Node& model) {
  std::map<std::string, NodePrecision> out;
  const YAML::Node info = model["node_info"];
  if (!info || info.IsNull()) return out;
  if (!info.IsMap()) r.fail("model_parameters.node_info", "must map node names to {ON, InputType, OutputType}");
  for (const auto& kv : info) {
    const std::string name = kv.first.as<std::string>();
    const std::string key = "model_parameters.node_info[\"" + name + "\"]";
    if (!kv.second.IsMap()) r.fail(key, "must be a mapping such as {'ON': 'BPU', 'InputType': 'int16'}");
    NodePrecision p;
    for (const auto& field : kv.second) {
      const std::string f = field.first.as<std::string>();
      if (!field.second.IsScalar()) r.fail(key + "." + f, "must be a single value");
      const std::string v = field.second.Scalar();
      if (f == "ON") {
        p.integer = r.choice<bool>(v, key + ".ON", {{"BPU", true}, {"CPU", false}});
        p.placed = true;
      }
      else if (f == "InputType") p.input_bits = r.choice<int>(v, key + ".InputType", {{"int8", 8}, {"int16", 16}});
      else if (f == "OutputType") p.output_bits = r.choice<int>(v, key + ".OutputType", {{"int8", 8}, {"int16", 16}});
      else r.fail(key + "." + f, "unknown field (expected ON, InputType, OutputType)" + did_you_mean(f, {"ON", "InputType", "OutputType"}));
    }
    out[name] = p;
  }
  return out;
}

// hb_mapper's run_on_cpu / run_on_bpu: node names separated by ';' (or a YAML list). They mean
// what node_info's ON: CPU / ON: BPU mean; a node placed on both sides is an error.
void read_node_placement(const Reader& r, const YAML::Node& cal, const std::string& key, bool integer,
                         std::map<std::string, NodePrecision>& node_info) {
  const YAML::Node v = cal[key];
  if (!v || v.IsNull()) return;
  std::vector<std::string> names;
  auto split = [&](const std::string& text) {
    std::string name;
    std::istringstream in(text);
    while (std::getline(in, name, ';')) {
      const size_t b = name.find_first_not_of(" \t"), e = name.find_last_not_of(" \t");
      if (b != std::string::npos) names.push_back(name.substr(b, e - b + 1));
    }
  };
  if (v.IsScalar()) split(v.Scalar());
  else if (v.IsSequence())
    for (const auto& item : v) {
      if (!item.IsScalar()) r.fail("calibration_parameters." + key, "must be node names");
      names.push_back(item.Scalar());
    }
  else r.fail("calibration_parameters." + key, "must be node names separated by ';'");
  for (const std::string& name : names) {
    NodePrecision placed;
    placed.source = "calibration_parameters." + key;
    auto [at, added] = node_info.emplace(name, placed);
    if (!added && at->second.placed && at->second.integer != integer)
      r.fail("calibration_parameters." + key, "node '" + name + "' is also placed on the " + (integer ? "CPU" : "BPU") + " by " +
                                                  at->second.source);
    at->second.integer = integer;
    at->second.placed = true;
    if (added) at->second.source = placed.source;
  }
}

// yaml-cpp keeps both entries of a key given twice and reads the first; PyYAML, which hb_mapper
// reads configs with, takes the last. Either way one of them is silently lost: refuse it.
// Aliases are followed as written, so a recursive one (`a: &x {b: *x}`) or an exponential fan-out
// ("billion laughs") is stopped by depth and by the number of nodes visited: a real config has
// four levels and a few hundred nodes.
struct WalkBudget {
  size_t visited = 0;
};

void refuse_duplicate_keys(const std::string& path, const YAML::Node& node, const std::string& where, int depth, WalkBudget& budget) {
  constexpr int kMaxDepth = 32;
  constexpr size_t kMaxNodes = 100000;
  if (depth > kMaxDepth || ++budget.visited > kMaxNodes)
    throw Error(ErrorKind::invalid_input, path + ": " + (where.empty() ? std::string("the config") : where.size() > 60 ? where.substr(0, 60) + "..." : where) +
                                              ": nested deeper than " +
                                              std::to_string(kMaxDepth) + " levels or more than " + std::to_string(kMaxNodes) +
                                              " entries (a recursive or exploding alias?)");
  if (node.IsMap()) {
    std::map<std::string, int> seen;
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      const std::string here = where.empty() ? key : where + "." + key;
      const int line = kv.first.Mark().line + 1;
      if (!key.empty()) {
        auto [at, added] = seen.emplace(key, line);
        if (!added)
          throw Error(ErrorKind::invalid_input, path + ": " + here + ": given twice (lines " + std::to_string(at->second) + " and " +
                                                    std::to_string(line) + "); keep one");
      }
      refuse_duplicate_keys(path, kv.second, here, depth + 1, budget);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) refuse_duplicate_keys(path, item, where, depth + 1, budget);
  }
}

}  // namespace

const char* input_kind_name(InputKind kind) {
  for (const auto& [name, k] : kInputKinds)
    if (k == kind) return name.c_str();
  return "?";
}

std::string QuantConfig::output_path() const { return (fs::path(working_dir) / (output_prefix + ".onnx")).string(); }

QuantConfig read_config(const std::string& path);

QuantConfig load_quant_config(const std::string& path) {
  try {
    return read_config(path);
  } catch (const YAML::Exception& e) {
    // A key or value of an unexpected YAML kind (a list used as a key, say) that a reader above did
    // not anticipate.
    throw Error(ErrorKind::invalid_input, path + ": unexpected YAML structure: " + e.what());
  }
}

QuantConfig read_config(const std::string& path) {
  Reader r(path);
  YAML::Node root;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorKind::invalid_input, path + ": file not found");
  if (fs::is_directory(path, ec)) throw Error(ErrorKind::invalid_input, path + ": is a folder, not a YAML config file");
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw Error(ErrorKind::invalid_input, path + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap()) throw Error(ErrorKind::invalid_input, path + ": expected sections such as model_parameters, got no mapping");
  WalkBudget budget;
  refuse_duplicate_keys(path, root, "", 0, budget);

  QuantConfig c;
  c.path = path;
  c.dir = fs::path(path).parent_path().string();
  auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() ? p : (fs::path(c.dir) / p).lexically_normal().string(); };

  const YAML::Node model = r.section(root, "model_parameters", true);
  c.onnx_model = resolve(r.str(model, "model_parameters", "onnx_model", true));
  c.working_dir = resolve(r.str(model, "model_parameters", "working_dir", false, "."));
  c.output_prefix = r.str(model, "model_parameters", "output_model_file_prefix", false,
                          fs::path(c.onnx_model).stem().string() + "_int8");
  if (c.output_prefix.find('/') != std::string::npos || c.output_prefix == "." || c.output_prefix == "..")
    r.fail("model_parameters.output_model_file_prefix", "must be a file name prefix, not a path");
  c.node_info = read_node_info(r, model);

  const YAML::Node input = r.section(root, "input_parameters", true);
  c.input_name = r.str(input, "input_parameters", "input_name", false);
  c.input_type_rt = r.choice(r.str(input, "input_parameters", "input_type_rt", true), "input_parameters.input_type_rt", kInputKinds);
  c.input_type_train = r.choice(r.str(input, "input_parameters", "input_type_train", true), "input_parameters.input_type_train",
                                std::vector<std::pair<std::string, InputKind>>(kInputKinds.begin() + 1, kInputKinds.end()));
  c.input_layout_train = r.choice<std::string>(r.str(input, "input_parameters", "input_layout_train", false, "NCHW"),
                                               "input_parameters.input_layout_train", {{"NCHW", "NCHW"}, {"NHWC", "NHWC"}});
  c.input_layout_rt = r.choice<std::string>(r.str(input, "input_parameters", "input_layout_rt", false, c.input_layout_train),
                                            "input_parameters.input_layout_rt", {{"NCHW", "NCHW"}, {"NHWC", "NHWC"}});
  if (c.input_type_rt == InputKind::nv12 && input["input_layout_rt"] && c.input_layout_rt != c.input_layout_train)
    c.notes.push_back("input_parameters.input_layout_rt: an nv12 input has its own layout ([N, H*3/2, W, 1]); ignored");
  c.norm_type = r.choice(r.str(input, "input_parameters", "norm_type", false, "no_preprocess"), "input_parameters.norm_type",
                         std::vector<std::pair<std::string, NormType>>{{"data_mean_and_scale", NormType::data_mean_and_scale},
                                                                       {"data_mean", NormType::data_mean},
                                                                       {"data_scale", NormType::data_scale},
                                                                       {"no_preprocess", NormType::no_preprocess}});
  c.mean = r.numbers(input, "input_parameters", "mean_value");
  c.scale = r.numbers(input, "input_parameters", "scale_value");
  const bool needs_mean = c.norm_type == NormType::data_mean_and_scale || c.norm_type == NormType::data_mean;
  const bool needs_scale = c.norm_type == NormType::data_mean_and_scale || c.norm_type == NormType::data_scale;
  if (needs_mean && c.mean.empty()) r.fail("input_parameters.mean_value", "required by this norm_type");
  if (needs_scale && c.scale.empty()) r.fail("input_parameters.scale_value", "required by this norm_type");
  if (!needs_mean) c.mean.clear();
  if (!needs_scale) c.scale.clear();
  for (float s : c.scale)
    if (!(s > 0) || !std::isfinite(s)) r.fail("input_parameters.scale_value", "must be positive finite numbers");
  for (float m : c.mean)
    if (!std::isfinite(m)) r.fail("input_parameters.mean_value", "must be finite numbers");
  if (c.input_type_rt == InputKind::nv12 && c.input_type_train != InputKind::rgb && c.input_type_train != InputKind::bgr)
    r.fail("input_parameters.input_type_train", "an nv12 model must have been trained on rgb or bgr");

  const YAML::Node cal = r.section(root, "calibration_parameters", true);
  c.cal_data_dir = resolve(r.str(cal, "calibration_parameters", "cal_data_dir", true));
  c.cal_data_type = r.choice(r.str(cal, "calibration_parameters", "cal_data_type", false, "float32"), "calibration_parameters.cal_data_type",
                             std::vector<std::pair<std::string, CalDataType>>{{"float32", CalDataType::float32}, {"uint8", CalDataType::uint8}});
  const std::string calibration_type = r.str(cal, "calibration_parameters", "calibration_type", true);
  if (calibration_type == "skip")
    r.fail("calibration_parameters.calibration_type",
           "'skip' (the RDK toolchain's calibration-free mode, for speed checks) is not taken: effvit's int8 speed does not depend "
           "on the scales, so calibrate with 'max' on a few samples (quantize --calibration-samples 10)");
  c.calibration_type = r.choice<std::string>(calibration_type,
                                             "calibration_parameters.calibration_type",
                                             {{"max", "max"}, {"kl", "kl"}, {"mse", "mse"}, {"default", "default"}, {"mix", "mix"}, {"load", "load"}});
  c.max_percentile = r.number(cal, "calibration_parameters", "max_percentile", 1.0);
  c.per_channel = r.choice(r.str(cal, "calibration_parameters", "per_channel", false, "True"), "calibration_parameters.per_channel",
                           std::vector<std::pair<std::string, bool>>{{"True", true}, {"true", true}, {"False", false}, {"false", false}});
  const std::string qdq_model = r.str(cal, "calibration_parameters", "qdq_model", false);
  if (c.calibration_type == "load") {
    if (qdq_model.empty()) r.fail("calibration_parameters.qdq_model", "calibration_type load takes its scales from this QDQ model; name one");
    c.qdq_model = resolve(qdq_model);
    std::error_code ec;
    if (!fs::is_regular_file(c.qdq_model, ec)) r.fail("calibration_parameters.qdq_model", c.qdq_model + " does not exist");
  } else if (!qdq_model.empty()) {
    c.notes.push_back("calibration_parameters.qdq_model: only calibration_type load reads it, ignored");
  }
  if (!(c.max_percentile > 0 && c.max_percentile <= 1))
    r.fail("calibration_parameters.max_percentile", "must be in (0, 1], got " + std::to_string(c.max_percentile));
  auto shown = [](double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  };
  const double num_bin = r.number(cal, "calibration_parameters", "num_bin", 2048);
  if (num_bin != 512 && num_bin != 1024 && num_bin != 2048 && num_bin != 4096)
    r.fail("calibration_parameters.num_bin", "must be 512, 1024, 2048 or 4096, got " + shown(num_bin));
  c.num_bin = static_cast<size_t>(num_bin);
  const double levels = r.number(cal, "calibration_parameters", "num_quantized_bins", 0);
  if (levels != 0 && !(levels >= 16 && levels <= 255 && levels == std::floor(levels)))
    r.fail("calibration_parameters.num_quantized_bins", "must be a whole number from 16 to 255 (or 0: each tensor's own steps), got " + shown(levels));
  c.num_quantized_bins = static_cast<int>(levels);
  c.kl_min_percentile = r.number(cal, "calibration_parameters", "kl_min_percentile", 0.9999);
  if (!(c.kl_min_percentile >= 0.99 && c.kl_min_percentile <= 1))
    r.fail("calibration_parameters.kl_min_percentile", "must be in [0.99, 1], got " + shown(c.kl_min_percentile));
  const bool uses_kl = c.calibration_type == "kl" || c.calibration_type == "default" || c.calibration_type == "mix";
  for (const char* key : {"num_bin", "num_quantized_bins", "kl_min_percentile"})
    if (cal[key] && !uses_kl)
      c.notes.push_back(std::string("calibration_parameters.") + key + ": only kl (and default and mix, which try it) reads it; ignored for " +
                        c.calibration_type);

  read_node_placement(r, cal, "run_on_cpu", false, c.node_info);
  read_node_placement(r, cal, "run_on_bpu", true, c.node_info);

  note_unused_keys(root, c.notes);
  return c;
}

namespace {

// node_info with `float_nodes` set ON: CPU: the entries the config has, in its order, then the new
// ones.
std::vector<NodeInfoEntry> merged_node_info(const YAML::Node& info, const std::vector<std::string>& float_nodes) {
  std::vector<NodeInfoEntry> entries;
  if (info.IsMap())
    for (const auto& kv : info) {
      NodeInfoEntry e{kv.first.as<std::string>(), {}};
      if (kv.second.IsMap())
        for (const auto& f : kv.second) e.fields.emplace_back(f.first.as<std::string>(), f.second.as<std::string>());
      entries.push_back(std::move(e));
    }
  for (const std::string& name : float_nodes) {
    auto at = std::find_if(entries.begin(), entries.end(), [&](const NodeInfoEntry& e) { return e.node == name; });
    if (at == entries.end()) at = entries.insert(entries.end(), NodeInfoEntry{name, {}});
    auto on = std::find_if(at->fields.begin(), at->fields.end(), [](const auto& f) { return f.first == "ON"; });
    if (on == at->fields.end()) at->fields.insert(at->fields.begin(), {"ON", "CPU"});
    else on->second = "CPU";
  }
  return entries;
}

// Lines [from, to) of `lines` less the blank lines and the comment lines at its end that are not
// indented past `indent` (those belong to whatever follows; a deeper one may be a block scalar's
// own text).
size_t end_of_content(const std::vector<std::string>& lines, size_t from, size_t to, size_t indent) {
  while (to > from) {
    const std::string& l = lines[to - 1];
    const size_t first = l.find_first_not_of(" \t\r");
    if (first != std::string::npos && (l[first] != '#' || first > indent)) break;
    --to;
  }
  return to;
}

// The config's own text with node_info replaced (or added at the end of model_parameters) by
// `block`: every comment and key of the file kept as written. Empty when the file's layout is
// beyond a line-wise edit (a one-line flow mapping for model_parameters, say).
std::string spliced(const std::string& text, const YAML::Node& root, const std::vector<NodeInfoEntry>& entries) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const YAML::Node model = root["model_parameters"];
  if (!model.IsMap() || model.Mark().line < 0) return "";
  // The first line after model_parameters' own lines: the next top-level key's.
  int section_line = -1;
  for (const auto& kv : root)
    if (kv.first.as<std::string>() == "model_parameters") section_line = kv.first.Mark().line;
  size_t section_end = lines.size();
  for (const auto& kv : root)
    if (kv.first.Mark().line > section_line) section_end = std::min(section_end, static_cast<size_t>(kv.first.Mark().line));
  size_t from = 0, to = 0, indent = 0;
  bool found = false;
  for (const auto& kv : model) {
    if (kv.first.as<std::string>() == "node_info") {
      from = static_cast<size_t>(kv.first.Mark().line);
      indent = static_cast<size_t>(kv.first.Mark().column);
      found = true;
    }
    indent = found ? indent : static_cast<size_t>(kv.first.Mark().column);
  }
  if (found) {
    to = section_end;
    for (const auto& kv : model)
      if (kv.first.Mark().line > static_cast<int>(from)) to = std::min(to, static_cast<size_t>(kv.first.Mark().line));
    to = end_of_content(lines, from, to, indent);
  } else {
    from = to = end_of_content(lines, static_cast<size_t>(model.Mark().line), section_end, indent);
  }
  if (from > lines.size() || to > lines.size() || from > to || lines.empty()) return "";
  // The file's own line ends (a CRLF file stays CRLF).
  const bool crlf = !lines[0].empty() && lines[0].back() == '\r';
  std::string block = node_info_block(entries, indent);
  if (crlf)
    for (size_t at = block.find('\n'); at != std::string::npos; at = block.find('\n', at + 2)) block.insert(at, "\r");
  std::string out;
  for (size_t i = 0; i < from; ++i) out += lines[i] + "\n";
  out += block;
  for (size_t i = to; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

}  // namespace

std::string write_config_with_float_nodes(const QuantConfig& config, const std::vector<std::string>& float_nodes) {
  std::ifstream in(config.path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  YAML::Node root = YAML::Load(text);
  const std::vector<NodeInfoEntry> entries = merged_node_info(root["model_parameters"]["node_info"], float_nodes);
  const std::string header = "# effvit quantize --auto-mixed: " + config.path + ", with " + std::to_string(float_nodes.size()) +
                             " node(s) it kept in float32 added to node_info ('ON': 'CPU')\n";
  std::string out = spliced(text, root, entries);
  // The edit must read back as intended: node_info as merged, and everything else exactly as the
  // file had it. A layout it cannot edit line-wise is written afresh (keys and values kept,
  // comments lost).
  auto without_node_info = [](YAML::Node doc) {
    if (doc["model_parameters"].IsMap()) doc["model_parameters"].remove("node_info");
    YAML::Emitter e;
    e << doc;
    return std::string(e.c_str());
  };
  const std::string rest = without_node_info(YAML::Load(text));
  auto reads_back = [&](const std::string& yaml) {
    try {
      const YAML::Node doc = YAML::Load(yaml);
      const YAML::Node again = doc["model_parameters"]["node_info"];
      return merged_node_info(again, {}).size() == entries.size() &&
             std::all_of(float_nodes.begin(), float_nodes.end(), [&](const std::string& n) {
               return again[n] && again[n]["ON"] && again[n]["ON"].as<std::string>() == "CPU";
             }) &&
             without_node_info(YAML::Load(yaml)) == rest;
    } catch (const YAML::Exception&) {
      return false;
    }
  };
  if (out.empty() || !reads_back(out)) {
    YAML::Node info(YAML::NodeType::Map);
    for (const NodeInfoEntry& e : entries)
      for (const auto& [key, value] : e.fields) info[e.node][key] = value;
    root["model_parameters"]["node_info"] = info;
    YAML::Emitter emitter;
    emitter << root;
    out = std::string(emitter.c_str()) + "\n";
  }
  const std::string path = auto_mixed_config_path(config);
  write_atomically(path, header + out, "auto-mixed config");
  return path;
}

std::string auto_mixed_config_path(const QuantConfig& config) {
  const std::filesystem::path source(config.path);
  return (source.parent_path() / (source.stem().string() + ".auto_mixed.yaml")).string();
}

}  // namespace effvit::quant
