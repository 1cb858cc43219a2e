#include "quant/agreement.h"

#include <cstring>

#include <algorithm>
#include <cmath>
#include <map>

#include "effvit/error.h"
#include "effvit/image.h"
#include "effvit/model.h"
#include "quant/qdq_model.h"
#include "onnx/onnx_pb.h"

namespace effvit::quant {
namespace {

// The model with each of `tensors` added as an output; returns where every one comes out.
std::shared_ptr<const Model> with_taps(onnx::ModelProto model, const std::vector<std::string>& tensors,
                                       const std::map<std::string, size_t>& ranks, const std::string& name,
                                       std::map<std::string, size_t>& index) {
  std::map<std::string, size_t> taps;
  for (const auto& t : tensors) {
    auto r = ranks.find(t);
    if (r == ranks.end()) throw Error(ErrorKind::internal, name + ": no shape known for tensor '" + t + "'");
    taps[t] = r->second;
  }
  add_outputs(model, taps);
  auto loaded = load_proto(model, name);
  const auto& outputs = loaded->summary().outputs;
  for (size_t k = 0; k < outputs.size(); ++k) index[outputs[k].name] = k;
  return loaded;
}

struct Accumulator {
  double dot = 0, a2 = 0, b2 = 0, max_error = 0, max_abs = 0;
  void add(const Tensor& quantized, const Tensor& reference) {
    const float* q = quantized.data<float>();
    const float* r = reference.data<float>();
    for (int64_t i = 0; i < reference.numel(); ++i) {
      dot += double{q[i]} * r[i];
      a2 += double{q[i]} * q[i];
      b2 += double{r[i]} * r[i];
      const double e = std::fabs(double{q[i]} - r[i]);
      max_error = std::isnan(e) || e > max_error ? e : max_error;
      max_abs = std::max(max_abs, std::fabs(double{r[i]}));
    }
  }
  // 1 when both are all zeros; NaN anywhere stays NaN (a broken model must not look perfect).
  double cosine() const { return a2 == 0 && b2 == 0 ? 1.0 : dot / std::sqrt(a2 * b2); }
};

int64_t argmax(const Tensor& t) {
  const float* v = t.data<float>();
  int64_t best = 0;
  for (int64_t i = 1; i < t.numel(); ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

// A 4-D tensor moved between NCHW and NHWC (`to_nhwc`: NCHW in, NHWC out; else the reverse).
Tensor transposed_layout(const Tensor& t, bool to_nhwc) {
  const Shape& s = t.shape();
  const int64_t n = s[0], c = to_nhwc ? s[1] : s[3], h = to_nhwc ? s[2] : s[1], w = to_nhwc ? s[3] : s[2];
  Tensor out(t.dtype(), to_nhwc ? Shape{n, h, w, c} : Shape{n, c, h, w});
  const size_t elem = t.bytes() / static_cast<size_t>(t.numel());
  const char* src = static_cast<const char*>(t.raw());
  char* dst = static_cast<char*>(out.raw());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) {
        const int64_t nchw = (b * c + ch) * h * w + p, nhwc = (b * h * w + p) * c + ch;
        std::memcpy(dst + static_cast<size_t>(to_nhwc ? nhwc : nchw) * elem, src + static_cast<size_t>(to_nhwc ? nchw : nhwc) * elem, elem);
      }
  return out;
}

Tensor deployed_input_in_training_layout(const Tensor& sample, const QuantConfig& config) {
  const Shape& s = sample.shape();
  const InputKind rt = config.input_type_rt, train = config.input_type_train;
  if (rt == InputKind::featuremap) return sample.clone();
  auto byte = [](float v) { return static_cast<uint8_t>(std::clamp(std::nearbyint(v), 0.f, 255.f)); };
  const float* x = sample.data<float>();
  if (rt == InputKind::nv12) {  // NCHW, 3 channels, even size (checked when the model was written)
    const int64_t h = s[2], w = s[3], plane = h * w;
    const bool train_rgb = train == InputKind::rgb;
    std::vector<uint8_t> rgb(static_cast<size_t>(plane * 3));
    for (int64_t p = 0; p < plane; ++p)
      for (int64_t c = 0; c < 3; ++c) rgb[static_cast<size_t>(p * 3 + c)] = byte(x[(train_rgb ? c : 2 - c) * plane + p]);
    const std::vector<uint8_t> nv12 = rgb_to_nv12(rgb.data(), static_cast<int>(w), static_cast<int>(h));
    Tensor t(DType::u8, {1, h * 3 / 2, w, 1});
    std::copy(nv12.begin(), nv12.end(), t.data<uint8_t>());
    return t;
  }
  // uint8 pixels in the training layout; colour channels in the run-time order.
  const bool nhwc = config.input_layout_train == "NHWC";
  const int64_t channels = s[nhwc ? 3 : 1], plane = s[nhwc ? 1 : 2] * s[nhwc ? 2 : 3];
  const bool reverse = rt != train && (rt == InputKind::rgb || rt == InputKind::bgr);
  Tensor t(DType::u8, s);
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t p = 0; p < plane; ++p) {
        const int64_t from = reverse ? channels - 1 - c : c;
        const int64_t out = nhwc ? (n * plane + p) * channels + c : (n * channels + c) * plane + p;
        const int64_t in = nhwc ? (n * plane + p) * channels + from : (n * channels + from) * plane + p;
        t.data<uint8_t>()[out] = byte(x[in]);
      }
  return t;
}

}  // namespace

Tensor deployed_input(const Tensor& sample, const QuantConfig& config) {
  Tensor t = deployed_input_in_training_layout(sample, config);
  if (config.input_type_rt == InputKind::nv12 || config.input_layout_rt == config.input_layout_train) return t;
  return transposed_layout(t, config.input_layout_rt == "NHWC");
}

Agreement measure_agreement(const onnx::ModelProto& float_model, const onnx::ModelProto& deployed,
                            const std::vector<std::pair<std::string, std::string>>& nodes,
                            const std::map<std::string, size_t>& ranks, const CalibrationSet& samples,
                            const QuantConfig& config, size_t max_samples,
                            const std::function<void(size_t, size_t)>& progress) {
  std::vector<std::string> tensors;
  for (const auto& [node, tensor] : nodes) tensors.push_back(tensor);
  std::map<std::string, size_t> float_index, quant_index, exact_index;
  const auto reference = with_taps(float_model, tensors, ranks, config.onnx_model, float_index);
  // The per-node table needs each node's output as a graph output, which keeps the engine from
  // fusing across it; the logits and top-1 come from the model exactly as written.
  const auto quantized = with_taps(deployed, tensors, ranks, config.onnx_model + " (quantized)", quant_index);
  const auto exact = with_taps(deployed, {}, ranks, config.onnx_model + " (quantized)", exact_index);
  // The logits: the float model's first output, which the quantized model keeps under its name.
  const std::string logits = reference->summary().outputs.at(0).name;
  Session float_session(reference), quant_session(quantized), exact_session(exact);

  Agreement result;
  result.samples = std::min(samples.size(), max_samples);
  std::vector<Accumulator> per_node(nodes.size());
  Accumulator logit_acc;
  size_t agree = 0;
  for (size_t i = 0; i < result.samples; ++i) {
    // Spread over the whole set (files sort by class folder: the first hundred may be few classes).
    const size_t index = i * samples.size() / result.samples;
    Tensor x = samples.sample(index);
    Tensor normalized = x.clone();
    normalize(normalized, config);
    std::vector<Tensor> want, got, written;
    try {
      want = float_session.run(std::vector<Tensor>{normalized});
      const Tensor input = deployed_input(x, config);
      if (!nodes.empty()) got = quant_session.run(std::vector<Tensor>{input});
      written = exact_session.run(std::vector<Tensor>{input});
    } catch (const Error& e) {
      throw Error(ErrorKind::invalid_input, samples.source(index) + ": " + e.what());
    }
    for (size_t k = 0; k < nodes.size(); ++k) {
      const std::string& t = nodes[k].second;
      per_node[k].add(got.at(quant_index.at(t)), want.at(float_index.at(t)));
    }
    const Tensor& l_want = want.at(float_index.at(logits));
    const Tensor& l_got = written.at(exact_index.at(logits));
    logit_acc.add(l_got, l_want);
    agree += argmax(l_got) == argmax(l_want);
    if (progress) progress(i + 1, result.samples);
  }
  for (size_t k = 0; k < nodes.size(); ++k) {
    TensorAgreement a;
    a.node = nodes[k].first;
    a.tensor = nodes[k].second;
    a.cosine = per_node[k].cosine();
    a.max_error = per_node[k].max_error;
    a.max_abs = per_node[k].max_abs;
    result.nodes.push_back(a);
  }
  result.logits_cosine = logit_acc.cosine();
  result.top1_agreement = result.samples ? static_cast<double>(agree) / static_cast<double>(result.samples) : 1.0;
  return result;
}

LogitsProbe::LogitsProbe(const onnx::ModelProto& float_model, const CalibrationSet& samples, const QuantConfig& config,
                         size_t max_samples)
    : config_(config) {
  Session session(load_proto(float_model, config.onnx_model));
  const size_t count = std::min(samples.size(), max_samples);
  for (size_t i = 0; i < count; ++i) {
    const size_t index = i * samples.size() / count;  // spread over the set
    Tensor x = samples.sample(index);
    inputs_.push_back(deployed_input(x, config));
    normalize(x, config);
    logits_.push_back(session.run(std::vector<Tensor>{x}).at(0));
  }
}

std::pair<double, double> LogitsProbe::measure(const onnx::ModelProto& deployed) const {
  Session session(load_proto(deployed, config_.onnx_model + " (quantized)"));
  Accumulator acc;
  size_t agree = 0;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const Tensor got = session.run(std::vector<Tensor>{inputs_[i]}).at(0);
    acc.add(got, logits_[i]);
    agree += argmax(got) == argmax(logits_[i]);
  }
  return {acc.cosine(), inputs_.empty() ? 1.0 : static_cast<double>(agree) / static_cast<double>(inputs_.size())};
}

}  // namespace effvit::quant
