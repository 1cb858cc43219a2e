#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <omp.h>

#include "effvit/model.h"
#include "ops/parallel.h"
#include "runtime/api_boundary.h"
#include "runtime/model_runtime.h"
#include "runtime/non_finite.h"
#include "runtime/plan.h"
#include "runtime/precision.h"
#include "runtime/shape_hint.h"

namespace effvit {

namespace {
// Beyond this OpenMP's own per-thread state dominates (and 2^20 threads crashed it).
constexpr int kMaxThreads = 256;

}  // namespace

struct Session::Impl {
  std::shared_ptr<const Model> model;
  SessionOptions options;
  std::string precision;  // resolved: "fp32", "bf16" or "int8"
  // One plan per input-shape set seen, most recently used first, within options.plan_cache_bytes.
  using Entry = std::pair<std::vector<Shape>, std::unique_ptr<Plan>>;
  std::list<Entry> plans;
  std::map<std::vector<Shape>, std::list<Entry>::iterator> index;
  size_t plan_bytes = 0;

  // The plan for these inputs' shapes. Cached plans are compared in place (most recent first), so
  // running shapes seen before allocates nothing here.
  Plan& plan_for(const std::vector<Tensor>& inputs) {
    for (auto it = plans.begin(); it != plans.end(); ++it) {
      const std::vector<Shape>& shapes = it->first;
      bool same = shapes.size() == inputs.size();
      for (size_t i = 0; same && i < inputs.size(); ++i) same = shapes[i] == inputs[i].shape();
      if (!same) continue;
      plans.splice(plans.begin(), plans, it);
      return *plans.front().second;
    }
    std::vector<Shape> shapes;
    for (const Tensor& t : inputs) shapes.push_back(t.shape());
    return plan_for(shapes);
  }

  Plan& plan_for(const std::vector<Shape>& shapes) {
    auto it = index.find(shapes);
    if (it != index.end()) {
      plans.splice(plans.begin(), plans, it->second);
      return *plans.front().second;
    }
    Model::Runtime& shared = *model->runtime_;
    // The plan copies the shared graph's structure; its constants' storage stays shared, and weights
    // its kernels packed are then kept by the Model in packed form only.
    std::unique_ptr<Plan> plan;
    try {
      plan = std::make_unique<Plan>(*shared.graph_for(shapes, precision == "bf16"), KernelOptions{options.threads, &shared.weights, options.strict});
      shared.release_packed_weights();
    } catch (const Error& e) {
      throw e.has_kind() ? Error(e.kind(), model->path() + ": " + e.what()) : Error(model->path() + ": " + e.what());
    }
    plan_bytes += plan->arena_bytes();
    plans.emplace_front(shapes, std::move(plan));
    index[shapes] = plans.begin();
    while (plans.size() > 1 && plan_bytes > options.plan_cache_bytes) {
      plan_bytes -= plans.back().second->arena_bytes();
      index.erase(plans.back().first);
      plans.pop_back();
    }
    return *plans.front().second;
  }

  // A NaN or infinity in a float input is refused, naming the input and the element: ReLU's
  // max(x, 0) and the int8 input's saturating quantization would turn it into plausible logits
  // where PyTorch and ONNX Runtime give NaN, hiding a bug in the caller's preprocessing.
  void check_finite(const std::vector<Tensor>& inputs) const {
    if (!options.check_finite) return;
    const auto& declared = model->summary().inputs;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].dtype() != DType::f32) continue;
      const int64_t at = first_non_finite(inputs[i].data<float>(), inputs[i].numel());
      if (at >= 0)
        throw Error(ErrorKind::invalid_input, model->path() + ": input '" + declared[i].name + "' holds " +
                                                  non_finite_at(inputs[i].data<float>(), inputs[i].shape(), at) + "; effvit refuses non-finite inputs");
    }
  }

  void check_inputs(const std::vector<Tensor>& inputs) const {
    const auto& declared = model->summary().inputs;
    if (inputs.size() != declared.size())
      throw Error(ErrorKind::invalid_input,
                  model->path() + ": expects " + std::to_string(declared.size()) + " input(s), got " + std::to_string(inputs.size()));
    for (size_t i = 0; i < inputs.size(); ++i) {
      const TensorInfo& d = declared[i];
      const Tensor& t = inputs[i];
      const bool ok = shape_fits(d.shape, t.shape());
      // Both wrong (uint8 HWC pixels for a float32 NCHW model) are said at once, not one fix at a time.
      if (t.dtype() != d.dtype)
        throw Error(ErrorKind::invalid_input,
                    model->path() + ": input '" + d.name + "' must be " + dtype_name(d.dtype) + ", got " + dtype_name(t.dtype()) +
                        (ok ? "" : "; and its shape " + shape_str(t.shape()) + " does not fit " + shape_str(d.shape) + shape_mismatch_hint(d.shape, t.shape())));
      if (ok && !t.raw())
        throw Error(ErrorKind::invalid_input, model->path() + ": input '" + d.name + "' has no data");
      if (!ok || t.numel() == 0)
        throw Error(ErrorKind::invalid_input, model->path() + ": input '" + d.name + "' must have shape " + shape_str(d.shape) +
                                  (std::any_of(d.shape.begin(), d.shape.end(), [](int64_t v) { return v < 0; }) ? " (-1 = any)" : "") + ", got " + shape_str(t.shape()) +
                                  shape_mismatch_hint(d.shape, t.shape()));
    }
  }
};

Session::Session(std::shared_ptr<const Model> model, SessionOptions options) : impl_(std::make_unique<Impl>()) {
  if (!model) throw Error(ErrorKind::invalid_input, "Session: no model (a null pointer)");
  impl_->model = std::move(model);
  impl_->options = options;
  if (impl_->options.threads < 1) impl_->options.threads = 1;
  if (impl_->options.threads > kMaxThreads)
    throw Error(ErrorKind::invalid_input, "SessionOptions::threads: " + std::to_string(impl_->options.threads) +
                                              " is more than effvit runs (" + std::to_string(kMaxThreads) + ")");
  if (const char* strict = std::getenv("EFFVIT_STRICT"); strict && std::string(strict) == "1") impl_->options.strict = true;
  impl_->precision = at_api_boundary(ErrorKind::invalid_input, impl_->model->path(), [&] {
    return resolve_precision(impl_->options.precision, impl_->model->summary().precision, impl_->model->path());
  });
}

const std::string& Session::precision() const { return impl_->precision; }

Session::~Session() = default;

std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs) {
  return at_api_boundary(ErrorKind::invalid_input, impl_->model->path(), [&] {
    impl_->check_inputs(inputs);
    impl_->check_finite(inputs);
    // oneDNN's OpenMP threads follow the calling thread's setting, so each stream sets its own for
    // the run and gives the caller's back.
    OmpThreadScope threads(impl_->options.threads);
    return impl_->plan_for(inputs).run(inputs);
  });
}

Tensor Session::run(const Tensor& input) {
  const auto& outputs = impl_->model->summary().outputs;
  if (outputs.size() != 1)
    throw Error(ErrorKind::invalid_input, impl_->model->path() + ": has " + std::to_string(outputs.size()) +
                                              " outputs; run(std::vector<Tensor>) or run_named() returns them all");
  return run(std::vector<Tensor>{input}).front();
}

std::map<std::string, Tensor> Session::run_named(const std::map<std::string, Tensor>& inputs) {
  const ModelSummary& summary = impl_->model->summary();
  std::vector<Tensor> ordered;
  for (const TensorInfo& info : summary.inputs) {
    auto it = inputs.find(info.name);
    if (it == inputs.end()) throw Error(ErrorKind::invalid_input, impl_->model->path() + ": input '" + info.name + "' is missing");
    ordered.push_back(it->second);
  }
  for (const auto& [name, tensor] : inputs) {
    bool known = false;
    for (const TensorInfo& info : summary.inputs) known = known || info.name == name;
    if (!known) throw Error(ErrorKind::invalid_input, impl_->model->path() + ": has no input named '" + name + "'");
  }
  std::vector<Tensor> results = run(ordered);
  std::map<std::string, Tensor> named;
  for (size_t i = 0; i < results.size(); ++i) named.emplace(summary.outputs[i].name, std::move(results[i]));
  return named;
}

void Session::run_into(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
  at_api_boundary(ErrorKind::invalid_input, impl_->model->path(), [&] {
    impl_->check_inputs(inputs);
    impl_->check_finite(inputs);
    OmpThreadScope threads(impl_->options.threads);
    Plan& plan = impl_->plan_for(inputs);
    const auto& declared = impl_->model->summary().outputs;
    if (outputs.size() != declared.size())
      throw Error(ErrorKind::invalid_input, impl_->model->path() + ": produces " + std::to_string(declared.size()) +
                                                " output(s), " + std::to_string(outputs.size()) + " buffer(s) given");
    // Checked before running, so a wrong buffer leaves nothing half-written.
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Value& want = plan.graph().value(plan.graph().outputs[i]);
      const Tensor& got = outputs[i];
      if (got.dtype() != want.dtype || got.shape() != want.shape || !got.raw())
        throw Error(ErrorKind::invalid_input, impl_->model->path() + ": output '" + declared[i].name + "' needs a " +
                                                  dtype_name(want.dtype) + " buffer of shape " + shape_str(want.shape) +
                                                  ", got " + dtype_name(got.dtype()) + " " + shape_str(got.shape()) +
                                                  (got.raw() ? "" : " without data"));
    }
    plan.execute(inputs);
    for (size_t i = 0; i < outputs.size(); ++i)
      std::memcpy(const_cast<void*>(outputs[i].raw()), plan.output(i).raw(), plan.output(i).bytes());
  });
}

Session::PlanInfo Session::plan_info(const std::vector<Shape>& input_shapes) {
  return at_api_boundary(ErrorKind::invalid_input, impl_->model->path(), [&] {
    std::vector<Tensor> probes;  // shape-only stand-ins, checked like real inputs
    const auto& declared = impl_->model->summary().inputs;
    for (size_t i = 0; i < input_shapes.size(); ++i) {
      static char dummy;
      probes.push_back(Tensor::view(i < declared.size() ? declared[i].dtype : DType::f32, input_shapes[i], &dummy));
    }
    impl_->check_inputs(probes);
    OmpThreadScope threads(impl_->options.threads);
    Plan& plan = impl_->plan_for(input_shapes);
    PlanInfo info;
    const Graph& g = plan.graph();
    for (ValueId id : g.outputs) info.output_shapes.push_back(g.value(id).shape);
    const std::vector<std::string> impls = plan.implementations();
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      info.nodes.push_back({n.name.empty() ? n.op + "#" + std::to_string(i) : n.name, n.op, impls[i]});
    }
    info.arena_bytes = plan.arena_bytes();
    return info;
  });
}

size_t Session::cached_plans() const { return impl_->plans.size(); }

void Session::clear_cache() {
  impl_->plans.clear();
  impl_->index.clear();
  impl_->plan_bytes = 0;
}

}  // namespace effvit
