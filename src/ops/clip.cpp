// Clip: y = min(max(x, min), max), bounds optional. Opset 11+ gives them as scalar inputs (any
// numeric type), earlier opsets as float attributes. Quantized models use it on int32 (the NV12
// colour conversion `effvit quantize` writes).
#include <algorithm>
#include <limits>

#include "ops/op.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

void infer_clip(InferContext& c) {
  const DType t = c.input(0).dtype;
  if (t != DType::f32 && t != DType::i32 && t != DType::i64 && t != DType::u8)
    c.fail(std::string("unsupported input type ") + dtype_name(t));
  for (size_t i = 1; i <= 2; ++i)
    if (c.has_input(i) && (c.input(i).dtype != t || shape_numel(c.shape(i)) != 1))
      c.fail("bounds must be scalars of the input's type");
  c.set_output(0, t, c.shape(0));
}

template <typename T>
void clip_typed(const Node& n, const TensorIn& in, Tensor& out) {
  T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
  if constexpr (std::is_same_v<T, float>) {
    lo = n.attr_float("min", lo);
    hi = n.attr_float("max", hi);
  }
  if (in.size() > 1 && in[1]) lo = in[1]->data<T>()[0];
  if (in.size() > 2 && in[2]) hi = in[2]->data<T>()[0];
  const T* x = in[0]->data<T>();
  T* y = out.data<T>();
  for (int64_t i = 0, e = out.numel(); i < e; ++i) y[i] = std::min(std::max(x[i], lo), hi);
}

void compute_clip(const Node& n, const TensorIn& in, const TensorOut& out) {
  switch (in[0]->dtype()) {
    case DType::f32: clip_typed<float>(n, in, *out[0]); break;
    case DType::i32: clip_typed<int32_t>(n, in, *out[0]); break;
    case DType::i64: clip_typed<int64_t>(n, in, *out[0]); break;
    default: clip_typed<uint8_t>(n, in, *out[0]); break;
  }
}

}  // namespace

const OpDef kClipOp{"Clip", infer_clip, compute_clip};

}  // namespace effvit
