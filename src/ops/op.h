// The contract every op implements, and the registry that finds them by ONNX op type.
//
// Each op has three parts:
//   infer   - output dtypes/shapes from input dtypes/shapes (and constant inputs such as a Reshape
//             target); used by load-time folding and by planning.
//   compute - the plain reference: readable loops, no tricks, kept forever as the oracle that fast
//             kernels are tested against. Outputs arrive allocated with their inferred shapes.
//   create  - optional fast path, chosen once at plan time for a fully shaped node; returns nullptr
//             to decline (the planner then wraps `compute`). Kernels may pre-pack constant inputs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "effvit/error.h"
#include "ir/graph.h"

namespace effvit {

// Axes a tensor may have (ONNX sets no limit; loops that must not allocate keep per-axis state in
// fixed arrays of this size). Checked when shapes are inferred, so a model beyond it fails to load.
constexpr size_t kMaxRank = 64;

struct InferContext {
  const Node& node;
  const Graph& graph;
  std::vector<DType> out_dtypes;
  std::vector<Shape> out_shapes;

  size_t num_inputs() const { return node.inputs.size(); }
  bool has_input(size_t i) const { return i < node.inputs.size() && node.inputs[i] != kNoValue; }
  const Value& input(size_t i) const;
  const Shape& shape(size_t i) const { return input(i).shape; }
  // The constant data of input i; fails with a clear message when it is computed at run time.
  const Tensor& constant(size_t i) const;
  std::vector<int64_t> constant_ints(size_t i) const;
  void set_output(size_t i, DType dtype, Shape shape);
  // Fails unless every present input in [first, last] is float32.
  void require_f32(size_t first, size_t last) const;
  [[noreturn]] void fail(const std::string& problem) const;
};

using TensorIn = std::vector<const Tensor*>;   // nullptr for an omitted optional input
using TensorOut = std::vector<Tensor*>;

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(const TensorIn& in, const TensorOut& out) = 0;
  // What runs, for --strict and profiles: "effvit" for effvit's own code, "reference" for an op's
  // plain loop, or the oneDNN implementations used, e.g. "conv jit_1x1:avx2, reorder jit:uni".
  virtual std::string implementation() const { return "effvit"; }
  // Scratch bytes the kernel needs while it runs (oneDNN scratchpads, reorder buffers). The plan
  // gives every kernel the same region, inside its arena, before the first run: kernels run one
  // after another, so none may expect its scratch to survive to its next run.
  virtual size_t workspace_bytes() const { return 0; }
  virtual void bind_workspace(void* base) {}
  // Whether constant input i was copied (packed) when the kernel was made and is never read from
  // the graph again, so the plan need not keep it.
  virtual bool packed_input(size_t i) const { return false; }
};

// Gives a kernel run outside a plan (tests, micro-benchmarks) a workspace of its own; the kernel
// may run while the returned buffer lives.
std::shared_ptr<void> bind_own_workspace(Kernel& kernel);
// `bytes` (at least 64) on a 64-byte boundary: a kernel's packed weights, whose vector loads then
// never straddle two cache lines.
std::shared_ptr<void> aligned_buffer(size_t bytes);

// Whether `implementation` (as Kernel::implementation returns it) includes a reference loop:
// effvit's own, or oneDNN's ref:any / simple:any fallbacks.
bool is_reference_implementation(const std::string& implementation);

// Packed (reordered) constant weights shared by every Session of one Model: kernels ask for the
// packed form of a constant and get the one copy, created on first use. `layout` must say
// everything about how the source is read and what it becomes (e.g. both oneDNN descriptors: one
// weight may be read transposed by one node and plain by another).
//
// A constant with a weight id (Value::weight_id) is keyed by that id. The first packing of it whose
// `unpack` gives the source back bit for bit is held for the Model's life and becomes the weight's
// storage: the Model may then drop the plain bytes (recoverable), and recover() rebuilds them
// when a new input shape is specialised or a kernel wants another packing.
//
// Other constants are keyed by their storage's address; each entry holds that storage, so the
// address cannot be reused by another tensor while the entry lives. Packed copies other than the
// held ones live as long as some kernel holds them: a batch size whose plans are all evicted frees
// its packings (oneDNN may pack differently per batch size).
class WeightCache {
 public:
  using PackFn = std::function<std::shared_ptr<void>(const void* source)>;
  // Writes the bytes a packed copy was made from into `plain` (null: the packing cannot be undone).
  using UnpackFn = std::function<void(const std::shared_ptr<void>& packed, void* plain)>;

  std::shared_ptr<void> get(const Value& source, const std::string& layout, const PackFn& pack,
                            const UnpackFn& unpack = nullptr);
  bool recoverable(uint64_t weight_id);
  // The bytes of `released` (a constant with a weight id), rebuilt from its held packed copy.
  Tensor recover(const Value& released);
  size_t entries();

 private:
  struct Entry {
    Tensor source;
    std::weak_ptr<void> packed;
  };
  struct Held {
    std::shared_ptr<void> packed;
    UnpackFn unpack;
  };
  Tensor recover_locked(const Value& released);

  std::mutex mutex_;
  std::map<std::pair<const void*, std::string>, Entry> entries_;
  std::map<std::pair<uint64_t, std::string>, std::weak_ptr<void>> by_id_;
  std::map<uint64_t, Held> held_;
};

struct KernelOptions {
  int threads = 1;
  WeightCache* weights = nullptr;  // null: each kernel packs its own copy
  bool strict = false;             // see SessionOptions::strict
  // Tests only: run integer convs on oneDNN's int8 kernel even where int8_conv_is_exact says it
  // is not exact, so a test can hold that rule to what the kernel really computes.
  bool int8_where_inexact = false;
};

using InferFn = void (*)(InferContext&);
using ComputeFn = void (*)(const Node&, const TensorIn&, const TensorOut&);
using CreateKernelFn = std::unique_ptr<Kernel> (*)(const Node&, const Graph&, const KernelOptions&);

struct OpDef {
  const char* name;
  InferFn infer;
  ComputeFn compute;
  CreateKernelFn create = nullptr;
};

// nullptr when effvit has no implementation of `op`.
const OpDef* find_op(const std::string& op);
std::vector<std::string> supported_ops();

// Shape-level helpers shared by op files.
int64_t normalize_axis(int64_t axis, size_t rank, const Node& node);
Shape broadcast_shapes(const Shape& a, const Shape& b, const Node& node);
// Row-major strides of `shape` for reading as if broadcast to `out` (0 on broadcast dims).
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out);

[[noreturn]] void fail_node(const Node& node, const std::string& problem);

// The values of an int64 or int32 tensor (axes, pads, shapes...), as int64.
std::vector<int64_t> tensor_ints(const Tensor& t);

}  // namespace effvit
