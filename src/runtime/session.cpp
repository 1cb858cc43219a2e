#include <cstdlib>
#include <list>
#include <map>
#include <omp.h>

#include "effvit/model.h"
#include "ops/parallel.h"
#include "runtime/model_runtime.h"
#include "runtime/plan.h"

namespace effvit {

struct Session::Impl {
  std::shared_ptr<const Model> model;
  SessionOptions options;
  // One plan per input-shape set seen, most recently used first, within options.plan_cache_bytes.
  using Entry = std::pair<std::vector<Shape>, std::unique_ptr<Plan>>;
  std::list<Entry> plans;
  std::map<std::vector<Shape>, std::list<Entry>::iterator> index;
  size_t plan_bytes = 0;

  Plan& plan_for(const std::vector<Shape>& shapes) {
    auto it = index.find(shapes);
    if (it != index.end()) {
      plans.splice(plans.begin(), plans, it->second);
      return *plans.front().second;
    }
    Model::Runtime& shared = *model->runtime_;
    // The plan copies the shared graph's structure; its constants' storage stays shared.
    std::unique_ptr<Plan> plan;
    try {
      plan = std::make_unique<Plan>(*shared.graph_for(shapes), KernelOptions{options.threads, &shared.weights, options.strict});
    } catch (const Error& e) {
      throw Error(model->path() + ": " + e.what());
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

  void check_inputs(const std::vector<Tensor>& inputs) const {
    const auto& declared = model->summary().inputs;
    if (inputs.size() != declared.size())
      throw Error(model->path() + ": expects " + std::to_string(declared.size()) + " input(s), got " + std::to_string(inputs.size()));
    for (size_t i = 0; i < inputs.size(); ++i) {
      const TensorInfo& d = declared[i];
      const Tensor& t = inputs[i];
      if (t.dtype() != d.dtype)
        throw Error(model->path() + ": input '" + d.name + "' must be " + dtype_name(d.dtype) + ", got " + dtype_name(t.dtype()));
      bool ok = t.rank() == d.shape.size();
      for (size_t k = 0; ok && k < d.shape.size(); ++k) ok = d.shape[k] < 0 || d.shape[k] == t.shape()[k];
      if (!ok || t.numel() == 0)
        throw Error(model->path() + ": input '" + d.name + "' must have shape " + shape_str(d.shape) + " (-1 = any), got " + shape_str(t.shape()));
    }
  }
};

Session::Session(std::shared_ptr<const Model> model, SessionOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->model = std::move(model);
  impl_->options = options;
  if (impl_->options.threads < 1) impl_->options.threads = 1;
  if (const char* strict = std::getenv("EFFVIT_STRICT"); strict && std::string(strict) == "1") impl_->options.strict = true;
}

Session::~Session() = default;

std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs) {
  impl_->check_inputs(inputs);
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs) shapes.push_back(t.shape());
  // oneDNN's OpenMP threads follow the calling thread's setting, so each stream sets its own for
  // the run and gives the caller's back.
  OmpThreadScope threads(impl_->options.threads);
  return impl_->plan_for(shapes).run(inputs);
}

size_t Session::cached_plans() const { return impl_->plans.size(); }

void Session::clear_cache() {
  impl_->plans.clear();
  impl_->index.clear();
  impl_->plan_bytes = 0;
}

}  // namespace effvit
