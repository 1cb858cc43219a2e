// Ops that cut tensors apart or join them: Split, Slice, Concat, Gather, Pad. Any dtype.
#include <algorithm>
#include <climits>
#include <cstring>

#include "ops/broadcast.h"
#include "ops/op.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

// A tensor seen as [outer, axis_len, inner] around one axis, in bytes per inner block.
struct AxisView {
  int64_t outer = 1, len = 1, inner_bytes = 1;
};

AxisView axis_view(const Shape& s, size_t axis, size_t elem) {
  AxisView v;
  int64_t inner = 1;
  for (size_t d = 0; d < s.size(); ++d) {
    if (d < axis) v.outer *= s[d];
    else if (d > axis) inner *= s[d];
  }
  v.len = s[axis];
  v.inner_bytes = inner * static_cast<int64_t>(elem);
  return v;
}

std::vector<int64_t> split_sizes(const Node& n, const Shape& s, size_t axis, const std::vector<int64_t>* given) {
  const size_t parts = n.outputs.size();
  std::vector<int64_t> sizes = given ? *given : n.attr_ints("split");
  if (sizes.empty()) {
    if (s[axis] % static_cast<int64_t>(parts)) fail_node(n, "cannot split " + std::to_string(s[axis]) + " evenly into " + std::to_string(parts));
    sizes.assign(parts, s[axis] / static_cast<int64_t>(parts));
  }
  int64_t total = 0;
  for (int64_t v : sizes)
    if (v < 0 || __builtin_add_overflow(total, v, &total)) fail_node(n, "invalid split sizes " + shape_str(sizes));
  if (sizes.size() != parts || total != s[axis])
    fail_node(n, "split sizes " + shape_str(sizes) + " do not cover axis of length " + std::to_string(s[axis]));
  return sizes;
}

void infer_split(InferContext& c) {
  const Shape& s = c.shape(0);
  const size_t axis = static_cast<size_t>(normalize_axis(c.node.attr_int("axis", 0), s.size(), c.node));
  std::vector<int64_t> given;
  if (c.has_input(1)) given = c.constant_ints(1);
  auto sizes = split_sizes(c.node, s, axis, c.has_input(1) ? &given : nullptr);
  for (size_t i = 0; i < sizes.size(); ++i) {
    Shape o = s;
    o[axis] = sizes[i];
    c.set_output(i, c.input(0).dtype, o);
  }
}

void compute_split(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  const size_t axis = static_cast<size_t>(normalize_axis(n.attr_int("axis", 0), s.size(), n));
  const AxisView v = axis_view(s, axis, dtype_size(in[0]->dtype()));
  const char* src = static_cast<const char*>(in[0]->raw());
  int64_t start = 0;
  for (Tensor* o : out) {
    const int64_t len = o->shape()[axis];
    char* dst = static_cast<char*>(o->raw());
    for (int64_t b = 0; b < v.outer; ++b)
      std::memcpy(dst + b * len * v.inner_bytes, src + (b * v.len + start) * v.inner_bytes,
                  static_cast<size_t>(len * v.inner_bytes));
    start += len;
  }
}

void infer_concat(InferContext& c) {
  Shape out = c.shape(0);
  const size_t axis = static_cast<size_t>(normalize_axis(c.node.attr_int("axis", 0), out.size(), c.node));
  for (size_t i = 1; i < c.num_inputs(); ++i) {
    const Shape& s = c.shape(i);
    if (c.input(i).dtype != c.input(0).dtype) c.fail("inputs have different types");
    if (s.size() != out.size()) c.fail("inputs have different ranks");
    for (size_t d = 0; d < s.size(); ++d)
      if (d != axis && s[d] != out[d]) c.fail("input shapes " + shape_str(c.shape(0)) + " and " + shape_str(s) + " differ off the concat axis");
    out[axis] += s[axis];
  }
  c.set_output(0, c.input(0).dtype, out);
}

void compute_concat(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Shape& os = out[0]->shape();
  const size_t axis = static_cast<size_t>(normalize_axis(n.attr_int("axis", 0), os.size(), n));
  const AxisView ov = axis_view(os, axis, dtype_size(out[0]->dtype()));
  char* dst = static_cast<char*>(out[0]->raw());
  int64_t start = 0;
  for (const Tensor* t : in) {
    const int64_t len = t->shape()[axis];
    const char* src = static_cast<const char*>(t->raw());
    for (int64_t b = 0; b < ov.outer; ++b)
      std::memcpy(dst + (b * ov.len + start) * ov.inner_bytes, src + b * len * ov.inner_bytes,
                  static_cast<size_t>(len * ov.inner_bytes));
    start += len;
  }
}

struct SliceAxis {
  int64_t start, step, count;
};

// Per-axis start/step/count after ONNX's clamping rules.
std::vector<SliceAxis> slice_plan(const Node& n, const Shape& s, const std::vector<int64_t>& starts,
                                  const std::vector<int64_t>& ends, std::vector<int64_t> axes,
                                  std::vector<int64_t> steps) {
  std::vector<SliceAxis> plan(s.size());
  for (size_t d = 0; d < s.size(); ++d) plan[d] = {0, 1, s[d]};
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    fail_node(n, "starts/ends/axes/steps have different lengths");
  for (size_t i = 0; i < starts.size(); ++i) {
    const size_t d = static_cast<size_t>(normalize_axis(axes[i], s.size(), n));
    const int64_t dim = s[d];
    if (steps[i] == 0) fail_node(n, "step 0");
    // A step longer than the axis takes one element either way; clamped, the arithmetic below (and
    // the gather's step * stride) cannot overflow.
    const int64_t step = std::clamp<int64_t>(steps[i], -std::max<int64_t>(dim, 1), std::max<int64_t>(dim, 1));
    int64_t st = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t en = ends[i] < 0 && ends[i] > INT64_MIN / 2 ? ends[i] + dim : ends[i];
    if (step > 0) {
      st = std::clamp<int64_t>(st, 0, dim);
      en = std::clamp<int64_t>(en, 0, dim);
    } else {
      st = std::clamp<int64_t>(st, 0, dim - 1);
      en = std::clamp<int64_t>(en, -1, dim - 1);
    }
    int64_t count = step > 0 ? (en - st + step - 1) / step : (st - en + (-step) - 1) / (-step);
    plan[d] = {st, step, std::max<int64_t>(count, 0)};
  }
  return plan;
}

void infer_slice(InferContext& c) {
  if (c.num_inputs() < 3) c.fail("Slice with attributes (opset < 10) is not supported");
  auto plan = slice_plan(c.node, c.shape(0), c.constant_ints(1), c.constant_ints(2),
                         c.has_input(3) ? c.constant_ints(3) : std::vector<int64_t>{},
                         c.has_input(4) ? c.constant_ints(4) : std::vector<int64_t>{});
  Shape out;
  for (const auto& a : plan) out.push_back(a.count);
  c.set_output(0, c.input(0).dtype, out);
}

std::vector<int64_t> ints_of(const Tensor* t) { return t ? tensor_ints(*t) : std::vector<int64_t>{}; }

// The slice as a strided gather: the first element's offset and each output axis's source stride.
void slice_as_gather(const Node& n, const Shape& s, const Tensor* const (&params)[4], int64_t& base,
                     std::vector<int64_t>& src_stride) {
  auto plan = slice_plan(n, s, ints_of(params[0]), ints_of(params[1]), ints_of(params[2]), ints_of(params[3]));
  const size_t rank = s.size();
  std::vector<int64_t> strides(rank, 1);
  for (size_t d = rank; d-- > 1;) strides[d - 1] = strides[d] * s[d];
  base = 0;
  src_stride.assign(rank, 0);
  for (size_t d = 0; d < rank; ++d) {
    base += plan[d].start * strides[d];
    src_stride[d] = plan[d].step * strides[d];
  }
}

void compute_slice(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Tensor* const params[4] = {in[1], in[2], in.size() > 3 ? in[3] : nullptr, in.size() > 4 ? in[4] : nullptr};
  int64_t base;
  std::vector<int64_t> src_stride;
  slice_as_gather(n, in[0]->shape(), params, base, src_stride);
  strided_gather(in[0]->raw(), base, src_stride, out[0]->raw(), out[0]->shape(), dtype_size(in[0]->dtype()));
}

std::unique_ptr<Kernel> create_slice(const Node& n, const Graph& g, const KernelOptions&) {
  if (g.value(n.inputs[0]).layout != Layout::Plain) return nullptr;  // the planner reports it
  const Tensor* params[4] = {};
  for (size_t i = 1; i < n.inputs.size() && i <= 4; ++i) {
    if (n.inputs[i] == kNoValue) continue;
    if (!g.is_constant(n.inputs[i])) return nullptr;  // parameters computed at run time: the reference
    params[i - 1] = &g.value(n.inputs[i]).constant;
  }
  int64_t base;
  std::vector<int64_t> src_stride;
  const Value& x = g.value(n.inputs[0]);
  slice_as_gather(n, x.shape, params, base, src_stride);
  return std::make_unique<StridedGatherKernel>(base, std::move(src_stride), g.value(n.outputs[0]).shape, dtype_size(x.dtype));
}

void infer_gather(InferContext& c) {
  const Shape& data = c.shape(0);
  const DType idt = c.input(1).dtype;
  if (idt != DType::i64 && idt != DType::i32) c.fail("indices must be int32 or int64");
  const size_t axis = static_cast<size_t>(normalize_axis(c.node.attr_int("axis", 0), data.size(), c.node));
  Shape out(data.begin(), data.begin() + static_cast<int64_t>(axis));
  for (int64_t d : c.shape(1)) out.push_back(d);
  out.insert(out.end(), data.begin() + static_cast<int64_t>(axis) + 1, data.end());
  c.set_output(0, c.input(0).dtype, out);
}

void compute_gather(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  const size_t axis = static_cast<size_t>(normalize_axis(n.attr_int("axis", 0), s.size(), n));
  const AxisView v = axis_view(s, axis, dtype_size(in[0]->dtype()));
  const auto idx = ints_of(in[1]);
  const char* src = static_cast<const char*>(in[0]->raw());
  char* dst = static_cast<char*>(out[0]->raw());
  const int64_t count = static_cast<int64_t>(idx.size());
  for (int64_t b = 0; b < v.outer; ++b)
    for (int64_t k = 0; k < count; ++k) {
      int64_t j = idx[static_cast<size_t>(k)];
      if (j < 0) j += v.len;
      if (j < 0 || j >= v.len) fail_node(n, "index " + std::to_string(idx[static_cast<size_t>(k)]) + " out of range for axis of length " + std::to_string(v.len));
      std::memcpy(dst + (b * count + k) * v.inner_bytes, src + (b * v.len + j) * v.inner_bytes,
                  static_cast<size_t>(v.inner_bytes));
    }
}

std::vector<int64_t> pads_of(InferContext& c) {
  return c.has_input(1) ? c.constant_ints(1) : c.node.attr_ints("pads");
}

void infer_pad(InferContext& c) {
  const Shape& s = c.shape(0);
  auto pads = pads_of(c);
  if (c.has_input(3)) c.fail("Pad with an axes input is not supported");
  if (c.has_input(2) && (c.input(2).dtype != c.input(0).dtype || shape_numel(c.shape(2)) != 1))
    c.fail("constant_value must be one value of the data's type");
  if (pads.size() != 2 * s.size()) c.fail("pads has " + std::to_string(pads.size()) + " values for rank " + std::to_string(s.size()));
  Shape out = s;
  for (size_t d = 0; d < s.size(); ++d)
    if (__builtin_add_overflow(out[d], pads[d], &out[d]) || __builtin_add_overflow(out[d], pads[d + s.size()], &out[d]))
      c.fail("pads overflow dimension " + std::to_string(d) + " of " + shape_str(s));
  c.set_output(0, c.input(0).dtype, out);
}

void compute_pad(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  const size_t rank = s.size(), es = dtype_size(in[0]->dtype());
  const auto pads = in.size() > 1 && in[1] ? ints_of(in[1]) : n.attr_ints("pads");
  const std::string mode = n.attr_string("mode", "constant");
  if (mode != "constant" && mode != "edge" && mode != "reflect") fail_node(n, "unknown mode '" + mode + "'");
  std::vector<char> fill(es, 0);
  if (in.size() > 2 && in[2]) std::memcpy(fill.data(), in[2]->raw(), es);
  else if (n.has("value")) {
    float v = n.attr_float("value", 0.f);
    std::memcpy(fill.data(), &v, std::min(es, sizeof v));
  }
  std::vector<int64_t> strides(rank, 1);
  for (size_t d = rank; d-- > 1;) strides[d - 1] = strides[d] * s[d];
  const Shape& os = out[0]->shape();
  const char* src = static_cast<const char*>(in[0]->raw());
  char* dst = static_cast<char*>(out[0]->raw());
  std::vector<int64_t> idx(rank, 0);
  for (int64_t i = 0, e = out[0]->numel(); i < e; ++i) {
    int64_t off = 0;
    bool outside = false;
    for (size_t d = 0; d < rank && !outside; ++d) {
      int64_t j = idx[d] - pads[d];
      if (j < 0 || j >= s[d]) {
        if (mode == "constant") outside = true;
        else if (mode == "edge") j = std::clamp<int64_t>(j, 0, s[d] - 1);
        else {
          const int64_t period = 2 * (s[d] - 1);
          j = period ? std::abs(j) % period : 0;
          if (j >= s[d]) j = period - j;
        }
      }
      off += j * strides[d];
    }
    std::memcpy(dst + i * static_cast<int64_t>(es), outside ? fill.data() : src + off * static_cast<int64_t>(es), es);
    next_index(idx, os);
  }
}

}  // namespace

const OpDef kSplitOp{"Split", infer_split, compute_split};
const OpDef kConcatOp{"Concat", infer_concat, compute_concat};
const OpDef kSliceOp{"Slice", infer_slice, compute_slice, create_slice};
const OpDef kGatherOp{"Gather", infer_gather, compute_gather};
const OpDef kPadOp{"Pad", infer_pad, compute_pad};

}  // namespace effvit
