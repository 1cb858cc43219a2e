// Ops that only change how elements are arranged: Transpose, Reshape, Flatten, Squeeze, Unsqueeze,
// Expand. They work on any dtype by moving element-sized bytes.
#include <algorithm>
#include <cstring>

#include "ops/broadcast.h"
#include "ops/op.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

void copy_bytes(const TensorIn& in, const TensorOut& out) {
  if (in[0]->bytes()) std::memcpy(out[0]->raw(), in[0]->raw(), in[0]->bytes());
}

std::vector<int64_t> transpose_perm(const Node& n, size_t rank) {
  auto perm = n.attr_ints("perm");
  if (perm.empty()) {
    for (size_t i = rank; i-- > 0;) perm.push_back(static_cast<int64_t>(i));
  }
  if (perm.size() != rank) fail_node(n, "perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(rank));
  std::vector<bool> seen(rank, false);
  for (int64_t& p : perm) {
    p = normalize_axis(p, rank, n);
    if (seen[static_cast<size_t>(p)]) fail_node(n, "perm repeats axis " + std::to_string(p));
    seen[static_cast<size_t>(p)] = true;
  }
  return perm;
}

void infer_transpose(InferContext& c) {
  const Shape& s = c.shape(0);
  auto perm = transpose_perm(c.node, s.size());
  Shape out;
  for (int64_t p : perm) out.push_back(s[static_cast<size_t>(p)]);
  c.set_output(0, c.input(0).dtype, out);
}

std::vector<int64_t> transpose_strides(const Node& n, const Shape& s) {
  const auto perm = transpose_perm(n, s.size());
  std::vector<int64_t> in_strides(s.size(), 1);
  for (size_t d = s.size(); d-- > 1;) in_strides[d - 1] = in_strides[d] * s[d];
  std::vector<int64_t> src_stride(s.size());
  for (size_t d = 0; d < s.size(); ++d) src_stride[d] = in_strides[static_cast<size_t>(perm[d])];
  return src_stride;
}

void compute_transpose(const Node& n, const TensorIn& in, const TensorOut& out) {
  strided_gather(in[0]->raw(), 0, transpose_strides(n, in[0]->shape()), out[0]->raw(), out[0]->shape(),
                 dtype_size(in[0]->dtype()));
}

std::unique_ptr<Kernel> create_transpose(const Node& n, const Graph& g, const KernelOptions&) {
  const Value& x = g.value(n.inputs[0]);
  if (x.layout != Layout::Plain) return nullptr;  // the planner reports it
  return std::make_unique<StridedGatherKernel>(0, transpose_strides(n, x.shape), g.value(n.outputs[0]).shape, dtype_size(x.dtype));
}

void infer_reshape(InferContext& c) {
  const Shape& in = c.shape(0);
  auto target = c.constant_ints(1);
  const bool allowzero = c.node.attr_int("allowzero", 0);
  Shape out;
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == 0 && !allowzero) {
      if (i >= in.size()) c.fail("target " + shape_str(target) + " copies dimension " + std::to_string(i) + " of " + shape_str(in));
      d = in[i];
    }
    if (d == -1) {
      if (infer_at >= 0) c.fail("target " + shape_str(target) + " has two -1 entries");
      infer_at = static_cast<int>(i);
      out.push_back(1);
      continue;
    }
    if (d < 0) c.fail("invalid target " + shape_str(target));
    out.push_back(d);
    if (__builtin_mul_overflow(known, d, &known)) c.fail("target " + shape_str(target) + " has too many elements");
  }
  const int64_t total = shape_numel(in);
  if (infer_at >= 0) {
    if (known == 0 || total % known) c.fail("cannot reshape " + shape_str(in) + " to " + shape_str(target));
    out[static_cast<size_t>(infer_at)] = total / known;
  }
  if (shape_numel(out) != total) c.fail("cannot reshape " + shape_str(in) + " to " + shape_str(target));
  c.set_output(0, c.input(0).dtype, out);
}

void infer_flatten(InferContext& c) {
  const Shape& s = c.shape(0);
  int64_t axis = c.node.attr_int("axis", 1);
  if (axis < 0) axis += static_cast<int64_t>(s.size());
  if (axis < 0 || axis > static_cast<int64_t>(s.size())) c.fail("axis out of range");
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= s[static_cast<size_t>(d)];
  c.set_output(0, c.input(0).dtype, {outer, shape_numel(s) / std::max<int64_t>(outer, 1)});
}

std::vector<int64_t> axes_of(InferContext& c) {
  return c.has_input(1) ? c.constant_ints(1) : c.node.attr_ints("axes");
}

void infer_squeeze(InferContext& c) {
  const Shape& s = c.shape(0);
  auto axes = axes_of(c);
  std::vector<bool> drop(s.size(), false);
  if (axes.empty()) {
    for (size_t d = 0; d < s.size(); ++d) drop[d] = s[d] == 1;
  }
  for (int64_t a : axes) {
    size_t d = static_cast<size_t>(normalize_axis(a, s.size(), c.node));
    if (s[d] != 1) c.fail("cannot squeeze axis " + std::to_string(a) + " of " + shape_str(s));
    drop[d] = true;
  }
  Shape out;
  for (size_t d = 0; d < s.size(); ++d)
    if (!drop[d]) out.push_back(s[d]);
  c.set_output(0, c.input(0).dtype, out);
}

void infer_unsqueeze(InferContext& c) {
  const Shape& s = c.shape(0);
  auto axes = axes_of(c);
  const size_t rank = s.size() + axes.size();
  std::vector<bool> inserted(rank, false);
  for (int64_t a : axes) {
    size_t d = static_cast<size_t>(normalize_axis(a, rank, c.node));
    if (inserted[d]) c.fail("axis " + std::to_string(a) + " given twice");
    inserted[d] = true;
  }
  Shape out;
  size_t k = 0;
  for (size_t d = 0; d < rank; ++d) out.push_back(inserted[d] ? 1 : s[k++]);
  c.set_output(0, c.input(0).dtype, out);
}

void infer_expand(InferContext& c) {
  auto target = c.constant_ints(1);
  c.set_output(0, c.input(0).dtype, broadcast_shapes(c.shape(0), Shape(target.begin(), target.end()), c.node));
}

void compute_expand(const Node&, const TensorIn& in, const TensorOut& out) {
  strided_gather(in[0]->raw(), 0, broadcast_strides(in[0]->shape(), out[0]->shape()), out[0]->raw(), out[0]->shape(),
                 dtype_size(in[0]->dtype()));
}

std::unique_ptr<Kernel> create_expand(const Node& n, const Graph& g, const KernelOptions&) {
  const Value& x = g.value(n.inputs[0]);
  if (x.layout != Layout::Plain) return nullptr;  // the planner reports it
  const Shape& y = g.value(n.outputs[0]).shape;
  return std::make_unique<StridedGatherKernel>(0, broadcast_strides(x.shape, y), y, dtype_size(x.dtype));
}

void compute_copy(const Node&, const TensorIn& in, const TensorOut& out) { copy_bytes(in, out); }

}  // namespace

const OpDef kTransposeOp{"Transpose", infer_transpose, compute_transpose, create_transpose};
const OpDef kReshapeOp{"Reshape", infer_reshape, compute_copy};
const OpDef kFlattenOp{"Flatten", infer_flatten, compute_copy};
const OpDef kSqueezeOp{"Squeeze", infer_squeeze, compute_copy};
const OpDef kUnsqueezeOp{"Unsqueeze", infer_unsqueeze, compute_copy};
const OpDef kExpandOp{"Expand", infer_expand, compute_expand, create_expand};

}  // namespace effvit
