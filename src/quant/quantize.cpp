#include "quant/quantize.h"

#include <cmath>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <optional>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "effvit/error.h"
#include "effvit/model.h"
#include "import/onnx_import.h"
#include "passes/passes.h"
#include "runtime/model_runtime.h"
#include "quant/agreement.h"
#include "quant/calibration_data.h"
#include "quant/parity_check.h"
#include "quant/qdq_model.h"
#include "quant/range_observer.h"

namespace effvit::quant {
namespace {

namespace fs = std::filesystem;

onnx::ModelProto read_model(const std::string& path, const std::string& key = "model_parameters.onnx_model") {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::invalid_input, path + ": cannot open the model named by " + key);
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&in)) throw Error(ErrorKind::invalid_model, path + ": not an ONNX model (protobuf parse failed)");
  return model;
}

// The rank of every tensor of `model` at its default input shapes, from effvit's own shape inference
// (ONNX's leaves some tensors of these exports without a shape).
std::map<std::string, size_t> tensor_ranks(const onnx::ModelProto& model, const std::string& name) {
  const std::string bytes = model.SerializeAsString();
  const ImportedModel imported = import_onnx_bytes(bytes.data(), bytes.size(), name);
  const Graph g = specialize(imported.graph, default_input_shapes(imported.graph, imported.metadata));
  std::map<std::string, size_t> ranks;
  for (const Value& v : g.values)
    if (v.shape_known) ranks[v.name] = v.shape.size();
  return ranks;
}


// node_info entries asking int16 (the starter YAML asks it of every Softmax, as the RDK's does)
// are kept in float32: one note counting them by op, and a detail line per node.
void note_int16_kept_float(const onnx::ModelProto& model, const QuantConfig& config, QuantizeReport& report) {
  std::map<std::string, std::string> op_of;
  for (const auto& n : model.graph().node()) op_of[node_name(n)] = n.op_type();
  std::map<std::string, int> by_op;
  size_t count = 0;
  for (const auto& [name, precision] : config.node_info) {
    if (!precision.integer || (precision.input_bits != 16 && precision.output_bits != 16)) continue;
    ++count;
    const auto op = op_of.find(name);
    ++by_op[op == op_of.end() ? "other" : op->second];
    report.details.push_back("node_info int16, kept float32: " + name);
  }
  if (count == 0) return;
  std::string ops;
  for (const auto& [op, n] : by_op) ops += (ops.empty() ? "" : ", ") + op + " x" + std::to_string(n);
  report.notes.push_back("node_info: " + std::to_string(count) + " node(s) asked int16 (" + ops +
                         ") kept in float32, which is at least as precise (ONNX before opset 21 has no 16-bit QuantizeLinear); "
                         "--verbose lists them");
}

// How a bound was chosen, the same words in notes, metadata and the report.
std::string calibration_label(const std::string& method, double percentile) {
  return method == "max" ? "max at percentile " + std::to_string(percentile) : method;
}

}  // namespace

void write_atomically(const std::string& path, const std::string& bytes, const std::string& what) {
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      throw Error(ErrorKind::invalid_input, path + ": cannot write the " + what);
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(ErrorKind::invalid_input, path + ": cannot write the " + what + ": " + ec.message());
  }
}

Budget parse_budget(const std::string& text) {
  Budget b;
  b.text = text;
  const size_t at = text.find(">=");
  const std::string metric = at == std::string::npos ? "" : text.substr(0, at);
  std::string number = at == std::string::npos ? "" : text.substr(at + 2);
  const bool percent = !number.empty() && number.back() == '%';
  if (percent) number.pop_back();
  char* end = nullptr;
  const double v = number.empty() ? 0 : std::strtod(number.c_str(), &end);
  b.top1 = metric == "top1" || metric == "top1-agreement";
  b.value = percent ? v / 100 : v;
  if ((!b.top1 && metric != "cosine") || (!b.top1 && percent) || number.empty() || *end != '\0' || !(b.value > 0 && b.value <= 1))
    throw Error(ErrorKind::invalid_input,
                "--auto-mixed: '" + text + "' is not cosine>=X (X in (0, 1]) or top1>=Y% (Y in (0, 100])" +
                    (text == "cosine" || text == "top1"   ? "; quote it, or the shell reads '>' as a redirection: --auto-mixed 'cosine>=0.999'"
                     : at == std::string::npos && text.find('=') != std::string::npos ? "; write it with >=, quoted: --auto-mixed 'cosine>=0.999'"
                                                                                       : ""));
  return b;
}

const char* scheme_name(QuantScheme scheme) { return scheme == QuantScheme::portable ? "portable" : "full_range"; }

QuantizeReport quantize(const QuantConfig& given, std::string output_path, const Progress& progress, const QuantizeOptions& options) {
  const QuantScheme scheme = options.scheme;
  QuantizeReport report;
  report.output_path = output_path.empty() ? given.output_path() : output_path;
  report.notes = given.notes;

  onnx::ModelProto model = read_model(given.onnx_model);
  refuse_quantized(model, given.onnx_model);
  // The config is checked against the model before any calibration data is read.
  check_config_against_model(model, given);
  // node_info may name a BatchNormalization as the original export does; once folded, its Conv
  // carries its precision.
  QuantConfig config = given;
  std::map<std::string, std::string> folded_into;
  report.batchnorms_folded = fold_batchnorm_into_conv(model, &folded_into);
  for (const auto& [bn, conv] : folded_into) {
    auto named = config.node_info.find(bn);
    if (named == config.node_info.end()) continue;
    if (config.node_info.emplace(conv, named->second).second)
      report.notes.push_back(bn + ": a BatchNormalization folded into '" + conv + "'; that Conv takes its node_info");
    else
      report.notes.push_back(bn + ": a BatchNormalization folded into '" + conv + "', which has its own node_info entry; that one holds");
    config.node_info.erase(named);
  }
  const std::vector<QuantTarget> targets = find_targets(model, config);
  report.quantized_nodes = targets.size();
  size_t weighted = 0;
  for (const auto& n : model.graph().node()) weighted += n.op_type() == "Conv" || n.op_type() == "Gemm" || n.op_type() == "MatMul";
  report.float_nodes = weighted - targets.size();
  if (default_opset(model) < 13)
    report.notes.push_back("opset " + std::to_string(default_opset(model)) +
                           " has no per-channel QuantizeLinear: weights get one scale per tensor (export at opset 13+ for per-channel)");
  note_int16_kept_float(model, config, report);

  // `load`: the grids of an existing QDQ model, by tensor name (read before calibrating, so a bad
  // file fails fast).
  std::map<std::string, ActivationQuant> loaded;
  if (config.calibration_type == "load")
    loaded = read_activation_grids(read_model(config.qdq_model, "calibration_parameters.qdq_model"), config.qdq_model);

  // Calibration: the float model reporting every tensor a quantized node reads.
  std::set<std::string> graph_inputs;
  for (const auto& in : model.graph().input()) graph_inputs.insert(in.name());
  std::vector<std::string> observed;
  std::map<std::string, RangeObserver> observers;
  for (const auto& t : targets)
    if (!observers.count(t.activation)) {
      observers[t.activation];
      if (!graph_inputs.count(t.activation)) observed.push_back(t.activation);
    }
  onnx::ModelProto calibration = model;
  const auto ranks = tensor_ranks(model, config.onnx_model);
  std::map<std::string, size_t> extra;
  for (const auto& name : observed) {
    auto r = ranks.find(name);
    if (r == ranks.end()) throw Error(ErrorKind::internal, config.onnx_model + ": no shape known for tensor '" + name + "'");
    extra[name] = r->second;
  }
  add_outputs(calibration, extra);
  auto float_model = load_proto(calibration, config.onnx_model);
  const Shape shape = float_model->example_input_shapes().at(0);
  const std::string input_name = float_model->summary().inputs.at(0).name;
  // Where each observed tensor comes out, by name.
  std::vector<std::pair<size_t, RangeObserver*>> taps;
  const auto& outputs_info = float_model->summary().outputs;
  for (const auto& name : observed)
    for (size_t k = 0; k < outputs_info.size(); ++k)
      if (outputs_info[k].name == name) taps.emplace_back(k, &observers.at(name));
  if (taps.size() != observed.size()) throw Error(ErrorKind::internal, config.onnx_model + ": a calibration output went missing");
  CalibrationSet samples(config, shape, float_model->metadata(), options.calibration_samples);
  if (const ImageListing& others = samples.not_samples(); !others.skipped.empty())
    report.notes.push_back(config.cal_data_dir + ": skipped " + std::to_string(others.skipped.size()) +
                           " file(s) that are no calibration sample (" + skipped_names(others) + ")");
  auto session = std::make_unique<Session>(float_model);
  ParityCheck parity(config);
  for (size_t i = 0; i < samples.size(); ++i) {
    Tensor x = samples.sample(i);
    parity.add(x);
    normalize(x, config);
    try {
      // A sample holding NaN is refused by the run; the message names the sample.
      const std::vector<Tensor> outputs = session->run(std::vector<Tensor>{x});
      if (observers.count(input_name)) observers[input_name].observe(x.data<float>(), static_cast<size_t>(x.numel()));
      for (auto& [k, observer] : taps) observer->observe(outputs.at(k).data<float>(), static_cast<size_t>(outputs.at(k).numel()));
    } catch (const Error& e) {
      throw Error(e.has_kind() ? e.kind() : ErrorKind::invalid_input, samples.source(i) + ": " + e.what());
    }
    if (progress) progress("calibrate", i + 1, samples.size());
  }
  report.samples = samples.size();
  for (const auto& warning : parity.warnings()) report.notes.push_back(config.cal_data_dir + ": " + warning);
  // The calibration model (every observed tensor an output) is done: its weights and packings go
  // before the agreement check loads the float and quantized models.
  session.reset();
  float_model.reset();

  // Every quantized node's output, compared against float32 after writing (and by `default`).
  std::vector<std::pair<std::string, std::string>> outputs;
  std::map<std::string, std::string> output_of;
  for (const auto& n : model.graph().node())
    if (n.output_size() > 0) output_of[node_name(n)] = n.output(0);
  for (const auto& t : targets) outputs.emplace_back(t.node, output_of.at(t.node));

  // Each activation's grid for one way of choosing its clipping bound (computed once per way: kl
  // and mse search the histogram), with what the report shows of it.
  struct Grids {
    std::map<std::string, ActivationQuant> quant;
    std::vector<ActivationRange> described;
    std::set<std::string> kl_guarded;  // activations whose kl bound the percentile guard raised
  };
  if (config.calibration_type == "load") {
    size_t missing = 0;
    for (const auto& [name, obs] : observers) missing += !loaded.count(name);
    if (missing)
      report.notes.push_back("calibration_type load: " + std::to_string(missing) + " of " + std::to_string(observers.size()) +
                             " activations have no QuantizeLinear in " + config.qdq_model + "; they take max");
  }
  auto grids_for = [&](const std::string& method, double percentile) {
    Grids g;
    for (const auto& [name, obs] : observers) {
      ActivationQuant q;
      float bound = 0;
      auto from_loaded = loaded.find(name);
      if (method == "load" && from_loaded != loaded.end()) {
        q = from_loaded->second;
        if (scheme == QuantScheme::portable && !q.is_unsigned) {
          q.is_unsigned = true;  // int8 at zero point 0 is uint8 at 128: the same values
          q.zero_point = 128;
        }
        const float lo = q.is_unsigned ? -q.zero_point * q.scale : -128 * q.scale;
        const float hi = q.is_unsigned ? (255 - q.zero_point) * q.scale : 127 * q.scale;
        bound = std::max(-lo, hi);
      } else {
        // Steps between 0 and the bound: 255 for a tensor that is never negative (uint8 [0, b]); for
        // a signed one, full range has 127 a side, and portable's 255 steps over [min, max] give the
        // larger side its share of them.
        int steps = 255;
        if (obs.min() < 0) {
          const double up = std::max(obs.max(), 0.f), down = -obs.min();
          steps = scheme == QuantScheme::full_range ? 127 : std::clamp(static_cast<int>(255.0 * std::max(up, down) / (up + down)), 128, 255);
        }
        if (method == "kl") {
          // kl's histogram search may cut a long, thin tail that matters (a featuremap model lost
          // 6 points to it): it never clips below the max at kl_min_percentile.
          const float kl = obs.kl_bound(config.num_quantized_bins > 0 ? config.num_quantized_bins : steps, config.num_bin);
          const float guard = obs.abs_bound(config.kl_min_percentile);
          bound = std::max(kl, guard);
          if (guard > kl && name != input_name) g.kl_guarded.insert(name);  // the input's bound is set below
        } else {
          bound = method == "mse" ? obs.mse_bound(steps) : obs.abs_bound(method == "load" ? 1.0 : percentile);
        }
        // The model's input keeps its whole range whatever the way: a pixel input's values are
        // known in advance (its grid spans every pixel value), a featuremap input's are what
        // calibration saw. Clipping the image first (kl cut it to a fraction of its range) costs
        // every layer after it.
        const bool pixels = name == input_name && config.input_type_rt != InputKind::featuremap;
        const auto [seen_lo, seen_hi] = pixels ? normalized_pixel_range(config) : std::pair<float, float>{obs.min(), obs.max()};
        if (name == input_name) bound = std::max(-seen_lo, seen_hi);
        if (scheme == QuantScheme::full_range) {
          q.is_unsigned = seen_lo >= 0;
          q.scale = bound > 0 ? bound / (q.is_unsigned ? 255.f : 127.f) : 1.f;
        } else {
          // uint8 over [lo, hi]: the observed range clipped at the bound, always holding 0 (padding
          // and ReLU produce exact zeros), with the zero point an integer so 0 stays exact.
          q.is_unsigned = true;
          const float lo = std::min(0.f, std::max(seen_lo, -bound)), hi = std::max(0.f, std::min(seen_hi, bound));
          q.scale = hi > lo ? (hi - lo) / 255.f : 1.f;
          q.zero_point = static_cast<int>(std::clamp(std::nearbyint(-lo / q.scale), 0.f, 255.f));
        }
      }
      g.quant[name] = q;
      ActivationRange r;
      r.tensor = name;
      for (const auto& t : targets)
        if (t.activation == name) r.readers.push_back(t.node);
      r.min = obs.min();
      r.max = obs.max();
      r.bound = bound;
      r.scale = q.scale;
      r.zero_point = q.zero_point;
      r.is_unsigned = q.is_unsigned;
      r.histogram_range = obs.histogram_range();
      r.histogram = obs.histogram(128);
      g.described.push_back(std::move(r));
    }
    return g;
  };
  // The deployed model on those grids, with `float_nodes` left in float32.
  bool per_channel = config.per_channel;
  auto deploy = [&](const Grids& grids, const std::set<std::string>& float_nodes = {}, std::vector<std::string>* notes = nullptr) {
    std::vector<QuantTarget> active;
    for (const auto& t : targets)
      if (!float_nodes.count(t.node)) active.push_back(t);
    onnx::ModelProto deployed = model;
    insert_qdq(deployed, active, grids.quant, scheme == QuantScheme::portable ? 64 : 127, per_channel, notes);
    prepend_preprocessing(deployed, config);
    return deployed;
  };
  report.activations = observers.size();

  // `default`: max, max at percentile 0.99995 and kl each quantize the model; the one whose logits
  // are closest to float32's on the calibration samples (cosine) is kept.
  std::string method = config.calibration_type;
  double percentile = config.max_percentile;
  onnx::ModelProto deployed;
  Grids grids;
  if (method == "default") {
    // The same samples the agreement check runs, so the kept candidate's numbers are the report's.
    const LogitsProbe probe(model, samples, config, kAgreementSamples);
    double best = -2;
    const std::vector<std::pair<std::string, double>> candidates{{"max", 1.0}, {"max", 0.99995}, {"kl", 1.0}};
    for (size_t c = 0; c < candidates.size(); ++c) {
      const auto& [candidate, p] = candidates[c];
      Grids trial_grids = grids_for(candidate, p);
      onnx::ModelProto trial = deploy(trial_grids);
      const auto [cosine, top1] = probe.measure(trial);
      report.notes.push_back("calibration_type default: " + calibration_label(candidate, p) + " gives logits cosine " +
                             std::to_string(cosine) + ", top-1 agreement " + std::to_string(top1));
      if (cosine > best) {
        best = cosine;
        deployed = std::move(trial);
        grids = std::move(trial_grids);
        method = candidate;
        percentile = p;
      }
      if (progress) progress("choose", c + 1, candidates.size());
    }
    report.notes.push_back("calibration_type default: kept " + calibration_label(method, percentile));
  } else if (method == "mix") {
    // Each activation takes the way of bounding it that, with that activation alone quantized,
    // leaves the logits closest to float32's (cosine on the calibration samples).
    const double p = config.max_percentile < 1 ? config.max_percentile : 0.99999;
    const std::vector<std::pair<std::string, double>> ways{{"max", 1.0}, {"max", p}, {"kl", 1.0}, {"mse", 1.0}};
    std::vector<Grids> candidates;
    for (const auto& [way, wp] : ways) candidates.push_back(grids_for(way, wp));
    const LogitsProbe probe(model, samples, config, kSensitivitySamples);
    grids = candidates[0];
    std::map<std::string, size_t> wins;
    size_t done = 0;
    for (size_t a = 0; a < grids.described.size(); ++a) {
      const std::string& name = grids.described[a].tensor;
      std::set<std::string> others;
      for (const auto& t : targets)
        if (t.activation != name) others.insert(t.node);
      size_t best = 0;
      double best_cosine = -2;
      for (size_t c = 0; c < candidates.size(); ++c) {
        // Ways that give this tensor the same grid need no second look.
        bool seen = false;
        for (size_t e = 0; e < c && !seen; ++e)
          seen = candidates[e].quant.at(name).scale == candidates[c].quant.at(name).scale &&
                 candidates[e].quant.at(name).zero_point == candidates[c].quant.at(name).zero_point;
        if (seen) continue;
        const double cosine = probe.measure(deploy(candidates[c], others)).first;
        if (cosine > best_cosine) {
          best_cosine = cosine;
          best = c;
        }
      }
      grids.quant[name] = candidates[best].quant.at(name);
      grids.described[a] = candidates[best].described[a];
      if (candidates[best].kl_guarded.count(name) && ways[best].first == "kl") grids.kl_guarded.insert(name);
      else grids.kl_guarded.erase(name);
      ++wins[calibration_label(ways[best].first, ways[best].second)];
      if (progress) progress("mix", ++done, grids.described.size());
    }
    std::string tally;
    for (const auto& [way, n] : wins) tally += (tally.empty() ? "" : ", ") + way + ": " + std::to_string(n);
    report.notes.push_back("calibration_type mix: activations per way (" + tally + ")");
    deployed = deploy(grids);
  } else {
    grids = grids_for(method, percentile);
    deployed = deploy(grids);
  }
  report.calibration = calibration_label(method, percentile);
  report.ranges = grids.described;
  if (!grids.kl_guarded.empty()) {
    std::string names;
    size_t listed = 0;
    for (const auto& name : grids.kl_guarded)
      if (listed++ < 3) names += (names.empty() ? "" : ", ") + name;
    char percentile_text[32];
    std::snprintf(percentile_text, sizeof percentile_text, "%g", config.kl_min_percentile);
    report.notes.push_back("kl: " + std::to_string(grids.kl_guarded.size()) + " of " + std::to_string(observers.size()) +
                           " activations kept the bound of max at percentile " + percentile_text +
                           " (kl_min_percentile), where kl would clip more: " + names + (grids.kl_guarded.size() > 3 ? ", ..." : ""));
  }

  // Per-channel weight scales are the default; per-tensor is measured against them on the same
  // samples and reported when it comes closer to float32.
  report.per_channel = per_channel && default_opset(model) >= 13;
  if (default_opset(model) >= 13) {
    const LogitsProbe probe(model, samples, config, kSensitivitySamples);
    const double kept = probe.measure(deployed).first;
    per_channel = !per_channel;
    const double other = probe.measure(deploy(grids)).first;
    per_channel = !per_channel;
    report.weights_other_way_cosine = other;
    report.weights_kept_way_cosine = kept;
    const char* kept_name = per_channel ? "per-channel" : "per-tensor";
    const char* other_name = per_channel ? "per-tensor" : "per-channel";
    report.notes.push_back(std::string("weights ") + kept_name + ": logits cosine " + std::to_string(kept) + "; " + other_name + " would give " +
                           std::to_string(other) + (other > kept ? std::string(" (closer: set calibration_parameters.per_channel: ") +
                                                                       (per_channel ? "False" : "True") + ")"
                                                                 : std::string("")));
  }

  std::set<std::string> kept_float;  // by --auto-mixed
  // --auto-mixed judges its budget on the samples the final agreement is measured on (the ranking
  // below needs only a few), so that what it claims is what the report shows.
  std::optional<LogitsProbe> judge;
  const auto met = [&](std::pair<double, double> m) {
    return (options.auto_mixed->top1 ? m.second : m.first) >= options.auto_mixed->value;
  };
  // Five digits, as the agreement line prints it; seven where a value just under the budget must
  // not read as equal to it.
  const auto measured_text = [&](std::pair<double, double> m, int digits = 5) {
    char line[160];
    std::snprintf(line, sizeof line, "logits cosine %.*f, top-1 agreement %.2f%% on %zu samples", digits, m.first, 100 * m.second,
                  judge->samples());
    return std::string(line);
  };
  if (options.auto_mixed) {
    judge.emplace(model, samples, config, kAgreementSamples);
    // Reachable at all? With every node in float32 what is left is the deployed input itself
    // (8-bit pixels, NV12), which no node_info can keep in float32: said before the search, and
    // nothing is written.
    std::set<std::string> every;
    for (const auto& t : targets) every.insert(t.node);
    if (const auto best = judge->measure(deploy(grids, every)); !met(best))
      throw Error(ErrorKind::invalid_input, "--auto-mixed " + options.auto_mixed->text + ": not reachable: with every Conv/Gemm/MatMul in float32, " +
                                                measured_text(best, 7) + "; what is left is the deployed input (" +
                                                input_kind_name(config.input_type_rt) + (config.input_type_rt == InputKind::featuremap ? "" : ", 8-bit") +
                                                "), which node_info cannot keep in float32: lower the budget");
  }
  // Sensitivity: each node quantized alone, against float32's logits on the same samples, most
  // sensitive (lowest cosine) first. --auto-mixed then keeps the fewest, most sensitive nodes in
  // float32 until the budget holds.
  if (options.sensitivity || options.auto_mixed) {
    const LogitsProbe probe(model, samples, config, kSensitivitySamples);
    for (size_t i = 0; i < targets.size(); ++i) {
      std::set<std::string> others;
      for (const auto& t : targets)
        if (t.node != targets[i].node) others.insert(t.node);
      const auto [cosine, top1] = probe.measure(deploy(grids, others));
      report.sensitivity.push_back({targets[i].node, cosine, top1});
      if (progress) progress("sensitivity", i + 1, targets.size());
    }
    std::stable_sort(report.sensitivity.begin(), report.sensitivity.end(),
                     [](const NodeSensitivity& a, const NodeSensitivity& b) { return !(a.cosine >= b.cosine); });
    if (options.auto_mixed) {
      auto measured = judge->measure(deployed);
      for (size_t k = 0; !met(measured) && k < report.sensitivity.size(); ++k) {
        kept_float.insert(report.sensitivity[k].node);
        report.auto_mixed_float.push_back(report.sensitivity[k].node);
        deployed = deploy(grids, kept_float);
        measured = judge->measure(deployed);
        if (progress) progress("auto-mixed", k + 1, report.sensitivity.size());
      }
      report.notes.push_back("--auto-mixed " + options.auto_mixed->text + ": " + std::to_string(kept_float.size()) +
                             " node(s) kept in float32: " + measured_text(measured));
      report.quantized_nodes = targets.size() - kept_float.size();
      report.float_nodes += kept_float.size();
    }
  }
  // The model as written, built once more from the final choices for the notes it gives.
  {
    std::vector<std::string> notes;
    deployed = deploy(grids, kept_float, &notes);
    report.notes.insert(report.notes.end(), notes.begin(), notes.end());
  }
  auto set_meta = [&](const std::string& key, const std::string& value) {
    for (auto& p : *deployed.mutable_metadata_props())
      if (p.key() == key) {
        p.set_value(value);
        return;
      }
    auto* p = deployed.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  };
  set_meta("effvit.quantized", std::string("int8 QDQ, ") + scheme_name(scheme) + ": weights per " +
                                   (report.per_channel ? "channel" : "tensor") + ", activations per tensor (calibration " +
                                   report.calibration + ", " + std::to_string(report.samples) + " samples)");
  set_meta("effvit.input_type_rt", input_kind_name(config.input_type_rt));
  set_meta("effvit.input_layout", config.input_type_rt == InputKind::nv12 ? config.input_layout_train : config.input_layout_rt);
  const std::string bytes = deployed.SerializeAsString();
  // Checked as any user's load would check it before anything is written.
  Model::load_from_memory(bytes.data(), bytes.size(), report.output_path);
  write_atomically(report.output_path, bytes, "quantized model");

  report.agreement = measure_agreement(model, deployed, outputs, ranks, samples, config, kAgreementSamples,
                                       [&](size_t done, size_t total) {
                                         if (progress) progress("compare", done, total);
                                       });
  return report;
}

}  // namespace effvit::quant
