#include "ops/op.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace effvit {

const Value& InferContext::input(size_t i) const {
  if (!has_input(i)) fail("missing input " + std::to_string(i));
  return graph.value(node.inputs[i]);
}

const Tensor& InferContext::constant(size_t i) const {
  const Value& v = input(i);
  if (!v.is_constant) fail("input '" + v.name + "' must be a constant (it is computed at run time)");
  return v.constant;
}

std::vector<int64_t> tensor_ints(const Tensor& t) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  for (size_t k = 0; k < out.size(); ++k)
    out[k] = t.dtype() == DType::i64 ? t.data<int64_t>()[k] : t.data<int32_t>()[k];
  return out;
}

std::vector<int64_t> InferContext::constant_ints(size_t i) const {
  const Tensor& t = constant(i);
  if (t.dtype() != DType::i64 && t.dtype() != DType::i32)
    fail("input '" + input(i).name + "' must be int64, got " + dtype_name(t.dtype()));
  return tensor_ints(t);
}

void InferContext::set_output(size_t i, DType dtype, Shape shape) {
  if (out_dtypes.size() <= i) {
    out_dtypes.resize(i + 1);
    out_shapes.resize(i + 1);
  }
  // Every dimension, and the product of the nonzero ones, within effvit's tensor limit: later shape
  // arithmetic (a [2^40, 2^40, 0] has no elements, but its outer sizes wrap int64) stays exact.
  int64_t nonzero = 1;
  for (int64_t d : shape) {
    if (d < 0) fail("computed an invalid output shape " + shape_str(shape));
    if (d > 0 && (__builtin_mul_overflow(nonzero, d, &nonzero) || nonzero > kMaxElements))
      fail("computed an output shape " + shape_str(shape) + " of too many elements");
  }
  if (shape.size() > kMaxRank)
    throw Error(ErrorKind::unsupported, node.describe() + ": an output of " + std::to_string(shape.size()) + " axes (effvit handles up to " +
                                            std::to_string(kMaxRank) + ")");
  out_dtypes[i] = dtype;
  out_shapes[i] = std::move(shape);
}

void InferContext::require_f32(size_t first, size_t last) const {
  for (size_t i = first; i <= last && i < num_inputs(); ++i)
    if (has_input(i) && input(i).dtype != DType::f32)
      fail("input " + std::to_string(i) + " ('" + input(i).name + "') must be float32, got " + dtype_name(input(i).dtype));
}

void InferContext::fail(const std::string& problem) const { fail_node(node, problem); }

std::shared_ptr<void> WeightCache::get(const Value& source, const std::string& layout, const PackFn& pack,
                                       const UnpackFn& unpack) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (source.weight_id == 0) {
    Entry& slot = entries_[{source.constant.raw(), layout}];
    if (auto packed = slot.packed.lock()) return packed;
    auto packed = pack(source.constant.raw());
    slot.packed = packed;
    slot.source = source.constant;
    // Forget packings no kernel holds any more (their plans were evicted).
    for (auto it = entries_.begin(); it != entries_.end();)
      it = it->second.packed.expired() ? entries_.erase(it) : std::next(it);
    return packed;
  }
  for (auto it = by_id_.begin(); it != by_id_.end();)
    it = it->second.expired() ? by_id_.erase(it) : std::next(it);
  std::weak_ptr<void>& slot = by_id_[{source.weight_id, layout}];
  if (auto packed = slot.lock()) return packed;
  const Tensor plain = source.constant.defined() ? source.constant : recover_locked(source);
  auto packed = pack(plain.raw());
  slot = packed;
  if (unpack && !held_.count(source.weight_id)) {
    // Held (and the plain bytes droppable) only if unpacking gives back exactly what was packed.
    Tensor back(plain.dtype(), plain.shape());
    unpack(packed, back.raw());
    if (std::memcmp(back.raw(), plain.raw(), plain.bytes()) == 0) held_[source.weight_id] = Held{packed, unpack};
  }
  return packed;
}

bool WeightCache::recoverable(uint64_t weight_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_.count(weight_id) != 0;
}

Tensor WeightCache::recover(const Value& released) {
  std::lock_guard<std::mutex> lock(mutex_);
  return recover_locked(released);
}

Tensor WeightCache::recover_locked(const Value& released) {
  auto it = held_.find(released.weight_id);
  if (it == held_.end())
    throw Error(ErrorKind::internal, "internal error: the weights '" + released.name + "' were released but no packed copy holds them");
  Tensor plain(released.dtype, released.shape);
  it->second.unpack(it->second.packed, plain.raw());
  return plain;
}

size_t WeightCache::entries() {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size() + by_id_.size();
}

void fail_node(const Node& node, const std::string& problem) {
  throw Error(node.describe() + ": " + problem);
}

int64_t normalize_axis(int64_t axis, size_t rank, const Node& node) {
  int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r)
    fail_node(node, "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(r));
  return axis < 0 ? axis + r : axis;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const Node& node) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      fail_node(node, "cannot broadcast " + shape_str(a) + " with " + shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  size_t offset = out.size() - shape.size();
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i + offset] = shape[i] == 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

}  // namespace effvit

namespace effvit {

std::shared_ptr<void> aligned_buffer(size_t bytes) {
  return std::shared_ptr<void>(::operator new(std::max<size_t>(bytes, 64), std::align_val_t{64}),
                               [](void* p) { ::operator delete(p, std::align_val_t{64}); });
}

std::shared_ptr<void> bind_own_workspace(Kernel& kernel) {
  std::shared_ptr<void> buffer = aligned_buffer(kernel.workspace_bytes());
  kernel.bind_workspace(buffer.get());
  return buffer;
}

bool is_reference_implementation(const std::string& implementation) {
  // Parts are "<primitive> <impl>" joined by ", "; oneDNN names its fallbacks ref:any, ref_int8:any,
  // simple:any (reorders)...
  size_t at = 0;
  while (at <= implementation.size()) {
    size_t end = implementation.find(", ", at);
    if (end == std::string::npos) end = implementation.size();
    const std::string part = implementation.substr(at, end - at);
    const size_t space = part.rfind(' ');
    const std::string impl = space == std::string::npos ? part : part.substr(space + 1);
    if (impl == "reference" || impl.rfind("ref", 0) == 0 || impl.rfind("simple:", 0) == 0) return true;
    at = end + 2;
  }
  return false;
}

}  // namespace effvit
