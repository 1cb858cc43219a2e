#include "runtime/plan.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "cpu/hardware.h"
#include "ir/mapped_memory.h"
#include "effvit/error.h"

namespace effvit {
namespace {

// Wraps an op's reference compute when no fast kernel claims the node.
class ReferenceKernel final : public Kernel {
 public:
  ReferenceKernel(const Node& node, ComputeFn fn) : node_(node), fn_(fn) {}
  void run(const TensorIn& in, const TensorOut& out) override { fn_(node_, in, out); }
  std::string implementation() const override { return "reference"; }

 private:
  const Node& node_;
  ComputeFn fn_;
};

// A node whose output is its input's bytes under another shape (Reshape and friends): the output
// shares the input's storage and the step does nothing.
class AliasKernel final : public Kernel {
 public:
  void run(const TensorIn&, const TensorOut&) override {}
  std::string implementation() const override { return "alias"; }
};

bool is_view_op(const std::string& op) {
  return op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity";
}

size_t align64(size_t n) { return (n + 63) / 64 * 64; }

bool must_not_be_reference(const std::string& op) {
  return op == "Conv" || op == "MatMul" || op == "Gemm" || op == "effvit.ToBlocked" || op == "effvit.ToPlain" ||
         op == "effvit.ToNhwc" || op == "effvit.NhwcToPlain";
}

}  // namespace

void check_hot_path_kernel(const Node& n, const Kernel& kernel, bool strict) {
  if (!must_not_be_reference(n.op)) return;
  const std::string impl = kernel.implementation();
  if (!is_reference_implementation(impl)) return;
  const std::string problem = n.describe() + " would run a reference loop (" + impl + ") at ISA tier " +
                              isa_tier_name(hardware().info.tier);
  if (strict) throw Error(ErrorKind::unsupported, problem);
  // Once per node per process: every Session and batch size would say it again.
  static std::mutex mutex;
  static std::set<std::string> warned;
  std::lock_guard<std::mutex> lock(mutex);
  if (warned.insert(problem).second) std::fprintf(stderr, "effvit: warning: %s; expect it to be slow\n", problem.c_str());
}

namespace {

bool released(const Value& v) { return v.is_constant && v.weight_id != 0 && !v.constant.defined(); }

void recover(Value& v, const KernelOptions& options) {
  if (!options.weights)
    throw Error(ErrorKind::internal, "internal error: the weights '" + v.name + "' were released and nothing can recover them");
  v.constant = options.weights->recover(v);
}

}  // namespace

Plan::Plan(Graph graph, const KernelOptions& options) : graph_(std::move(graph)) {
  steps_.reserve(graph_.nodes.size());
  // Weights the Model holds only packed (Value::weight_id) come back as plain bytes for every
  // reader but a Conv's weights, which its kernel normally finds packed in the cache.
  for (const Node& n : graph_.nodes)
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (n.inputs[k] != kNoValue && released(graph_.value(n.inputs[k])) && !(n.op == "Conv" && k == 1))
        recover(graph_.value(n.inputs[k]), options);
  const std::vector<int> producers = graph_.producers();
  alias_of_.assign(graph_.values.size(), kNoValue);
  for (const Node& n : graph_.nodes) {
    const OpDef* def = find_op(n.op);
    Step s;
    // A view of a value this plan computes (not of a graph input or constant, whose storage is not
    // the arena's) shares its storage.
    if (is_view_op(n.op) && n.outputs.size() == 1 && producers[static_cast<size_t>(n.inputs[0])] >= 0 &&
        graph_.value(n.inputs[0]).layout == Layout::Plain) {
      const ValueId in = n.inputs[0];
      const ValueId root = alias_of_[static_cast<size_t>(in)] == kNoValue ? in : alias_of_[static_cast<size_t>(in)];
      alias_of_[static_cast<size_t>(n.outputs[0])] = root;
      s.kernel = std::make_unique<AliasKernel>();
    }
    if (!s.kernel && def->create) s.kernel = def->create(n, graph_, options);
    if (!s.kernel) {
      // Reference loops read plain NCHW only; a blocked value here would be read as garbage.
      for (ValueId id : n.inputs)
        if (id != kNoValue && graph_.value(id).layout != Layout::Plain)
          throw Error(n.describe() + ": internal error: no kernel for its blocked input");
      for (ValueId id : n.outputs)
        if (graph_.value(id).layout != Layout::Plain)
          throw Error(n.describe() + ": internal error: no kernel for its blocked output");
      s.kernel = std::make_unique<ReferenceKernel>(n, def->compute);
    }
    check_hot_path_kernel(n, *s.kernel, options.strict);
    s.inputs = n.inputs;
    s.outputs = n.outputs;
    steps_.push_back(std::move(s));
  }
  keep_only_read_weights(options);
  assign_memory();
  if (const char* p = std::getenv("EFFVIT_PROFILE")) profile_ = std::atoi(p) >= 2 ? 2 : 1;
  node_ms_.assign(steps_.size(), 0.0);
}

Plan::~Plan() {
  if (!profile_ || runs_ == 0) return;
  // EFFVIT_PROFILE=1: time per op type over every run of this plan, printed when it is destroyed;
  // EFFVIT_PROFILE=2 adds one line per node (time, op, output shape, implementation).
  std::multimap<double, std::string, std::greater<>> by_time;
  double total = 0;
  for (const auto& [op, ms] : op_ms_) {
    by_time.emplace(ms, op);
    total += ms;
  }
  std::fprintf(stderr, "profile: %d run(s), %.3f ms per run\n", runs_, total / runs_);
  for (const auto& [ms, op] : by_time)
    std::fprintf(stderr, "  %-20s %8.3f ms  %5.1f%%\n", op.c_str(), ms / runs_, 100.0 * ms / total);
  if (profile_ < 2) return;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Node& n = graph_.nodes[i];
    std::fprintf(stderr, "  node %8.4f ms  %-18s %-18s %s  [%s]\n", node_ms_[i] / runs_, n.op.c_str(),
                 shape_str(graph_.value(n.outputs[0]).shape).c_str(), n.name.c_str(), steps_[i].kernel->implementation().c_str());
  }
}

void Plan::run_profiled() {
  using Clock = std::chrono::steady_clock;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const auto t0 = Clock::now();
    steps_[i].kernel->run(steps_[i].in, steps_[i].out);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    op_ms_[graph_.nodes[i].op] += ms;
    node_ms_[i] += ms;
  }
  ++runs_;
}

// A weight every kernel packed is not kept by the plan (the kernels and the Model's cache hold the
// packed copies); one some kernel reads at run time (a reference loop, say) is recovered if the
// Model released it.
void Plan::keep_only_read_weights(const KernelOptions& options) {
  std::vector<char> read(graph_.values.size(), 0);
  for (const Step& s : steps_)
    for (size_t k = 0; k < s.inputs.size(); ++k)
      if (s.inputs[k] != kNoValue && !s.kernel->packed_input(k)) read[static_cast<size_t>(s.inputs[k])] = 1;
  for (ValueId id : graph_.outputs) read[static_cast<size_t>(id)] = 1;
  for (size_t id = 0; id < graph_.values.size(); ++id) {
    Value& v = graph_.values[id];
    if (!v.is_constant || v.weight_id == 0) continue;
    if (!read[id]) v.constant = Tensor();
    else if (released(v)) recover(v, options);
  }
}

void Plan::assign_memory() {
  const size_t nv = graph_.values.size();
  slots_.assign(nv, Tensor());
  std::vector<int> def_at(nv, -1), last_use(nv, -1);
  for (size_t i = 0; i < steps_.size(); ++i) {
    for (ValueId id : steps_[i].outputs) def_at[static_cast<size_t>(id)] = static_cast<int>(i);
    for (ValueId id : steps_[i].inputs)
      if (id != kNoValue) last_use[static_cast<size_t>(id)] = static_cast<int>(i);
  }
  const int end = static_cast<int>(steps_.size());
  for (ValueId id : graph_.outputs) last_use[static_cast<size_t>(id)] = end;
  // A view keeps its root's bytes alive for as long as the view is read.
  for (size_t id = 0; id < nv; ++id)
    if (alias_of_[id] != kNoValue) {
      int& root_last = last_use[static_cast<size_t>(alias_of_[id])];
      root_last = std::max(root_last, last_use[id]);
    }

  // First-fit placement over live intervals: a value's bytes are free again once the step after its
  // last reader starts, so a node never writes over its own inputs.
  struct Block {
    size_t offset, size;
    int last;
  };
  std::vector<Block> live;
  std::vector<size_t> offset(nv, 0);
  size_t high = 0;
  for (size_t i = 0; i < steps_.size(); ++i) {
    live.erase(std::remove_if(live.begin(), live.end(), [&](const Block& b) { return b.last < static_cast<int>(i); }), live.end());
    for (ValueId id : steps_[i].outputs) {
      if (alias_of_[static_cast<size_t>(id)] != kNoValue) continue;
      const Value& v = graph_.value(id);
      const size_t bytes = align64(value_bytes(v));
      std::sort(live.begin(), live.end(), [](const Block& a, const Block& b) { return a.offset < b.offset; });
      size_t at = 0;
      for (const Block& b : live) {
        if (at + bytes <= b.offset) break;
        at = std::max(at, b.offset + b.size);
      }
      offset[static_cast<size_t>(id)] = at;
      live.push_back({at, bytes, std::max(last_use[static_cast<size_t>(id)], static_cast<int>(i))});
      high = std::max(high, at + bytes);
    }
  }
  // Then one workspace region every kernel shares (they run one after another).
  const size_t workspace_at = align64(high);
  size_t workspace = 0;
  for (const Step& s : steps_) workspace = std::max(workspace, s.kernel->workspace_bytes());
  high = workspace_at + workspace;
  arena_bytes_ = high;
  // Mapped, not malloc'ed: arenas of evicted plans (up to 32 MB) would otherwise stay in the heap,
  // fragmented (M0 cycling batch 1..64: 1.3 GB resident against 0.8 GB).
  arena_ = map_zeroed(high);
  void* mem = arena_.get();
  for (size_t id = 0; id < nv; ++id) {
    const Value& v = graph_.values[id];
    if (v.is_constant) slots_[id] = v.constant;
    else if (def_at[id] < 0) slots_[id] = Tensor::view(v.dtype, v.shape, nullptr);  // a graph input
    else {
      const size_t storage = alias_of_[id] == kNoValue ? id : static_cast<size_t>(alias_of_[id]);
      slots_[id] = Tensor::view(v.dtype, v.shape, static_cast<char*>(mem) + offset[storage]);
    }
  }
  for (Step& s : steps_) {
    s.kernel->bind_workspace(static_cast<char*>(mem) + workspace_at);
    s.in.clear();
    s.out.clear();
    for (ValueId id : s.inputs) s.in.push_back(id == kNoValue ? nullptr : &slots_[static_cast<size_t>(id)]);
    for (ValueId id : s.outputs) s.out.push_back(&slots_[static_cast<size_t>(id)]);
  }
}

std::vector<std::string> Plan::implementations() const {
  std::vector<std::string> out;
  for (const Step& s : steps_) out.push_back(s.kernel->implementation());
  return out;
}

void Plan::execute(const std::vector<Tensor>& inputs) {
  // The input slots are views made at plan time (assign_memory): only their data moves.
  for (size_t i = 0; i < graph_.inputs.size(); ++i)
    slots_[static_cast<size_t>(graph_.inputs[i])].data_ = const_cast<void*>(inputs[i].raw());
  if (profile_) {
    run_profiled();
  } else {
    for (Step& s : steps_) s.kernel->run(s.in, s.out);
  }
}

std::vector<Tensor> Plan::run(const std::vector<Tensor>& inputs) {
  execute(inputs);
  std::vector<Tensor> outputs;
  for (ValueId id : graph_.outputs) outputs.push_back(slots_[static_cast<size_t>(id)].clone());
  return outputs;
}

}  // namespace effvit
