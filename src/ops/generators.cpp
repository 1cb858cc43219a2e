// Ops whose output is built from shapes or scalars rather than from input elements: Shape,
// ConstantOfShape, Range. After load-time folding none of them survives in an EfficientViT graph.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/op.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

std::pair<int64_t, int64_t> shape_window(const Node& n, int64_t rank) {
  int64_t start = n.attr_int("start", 0), end = n.attr_int("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);
  return {start, end};
}

void infer_shape(InferContext& c) {
  auto [start, end] = shape_window(c.node, static_cast<int64_t>(c.shape(0).size()));
  c.set_output(0, DType::i64, {end - start});
}

void compute_shape(const Node& n, const TensorIn& in, const TensorOut& out) {
  const Shape& s = in[0]->shape();
  auto [start, end] = shape_window(n, static_cast<int64_t>(s.size()));
  for (int64_t i = start; i < end; ++i) out[0]->data<int64_t>()[i - start] = s[static_cast<size_t>(i)];
}

void infer_constant_of_shape(InferContext& c) {
  auto dims = c.constant_ints(0);
  DType dt = DType::f32;
  if (c.node.has("value")) dt = c.node.attrs.at("value").t.dtype();
  c.set_output(0, dt, Shape(dims.begin(), dims.end()));
}

void compute_constant_of_shape(const Node& n, const TensorIn&, const TensorOut& out) {
  if (!n.has("value")) return;  // outputs arrive zeroed
  const Tensor& v = n.attrs.at("value").t;
  const size_t es = dtype_size(v.dtype());
  char* dst = static_cast<char*>(out[0]->raw());
  for (int64_t i = 0, e = out[0]->numel(); i < e; ++i) std::memcpy(dst + i * static_cast<int64_t>(es), v.raw(), es);
}

double scalar_of(const Tensor& t) {
  switch (t.dtype()) {
    case DType::f32: return t.data<float>()[0];
    case DType::i64: return static_cast<double>(t.data<int64_t>()[0]);
    case DType::i32: return t.data<int32_t>()[0];
    default: return 0;
  }
}

int64_t range_count(const Node& n, double start, double limit, double delta) {
  if (delta == 0) fail_node(n, "delta is 0");
  return std::max<int64_t>(0, static_cast<int64_t>(std::ceil((limit - start) / delta)));
}

void infer_range(InferContext& c) {
  const int64_t count = range_count(c.node, scalar_of(c.constant(0)), scalar_of(c.constant(1)), scalar_of(c.constant(2)));
  c.set_output(0, c.input(0).dtype, {count});
}

void compute_range(const Node& n, const TensorIn& in, const TensorOut& out) {
  const double start = scalar_of(*in[0]), delta = scalar_of(*in[2]);
  for (int64_t i = 0, e = out[0]->numel(); i < e; ++i) {
    const double v = start + static_cast<double>(i) * delta;
    switch (out[0]->dtype()) {
      case DType::f32: out[0]->data<float>()[i] = static_cast<float>(v); break;
      case DType::i64: out[0]->data<int64_t>()[i] = static_cast<int64_t>(v); break;
      case DType::i32: out[0]->data<int32_t>()[i] = static_cast<int32_t>(v); break;
      default: fail_node(n, "unsupported type");
    }
  }
}

}  // namespace

const OpDef kShapeOp{"Shape", infer_shape, compute_shape};
const OpDef kConstantOfShapeOp{"ConstantOfShape", infer_constant_of_shape, compute_constant_of_shape};
const OpDef kRangeOp{"Range", infer_range, compute_range};

}  // namespace effvit
