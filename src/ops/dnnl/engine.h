// The process-wide oneDNN CPU engine. oneDNN objects never appear in public headers.
#pragma once

#include <dnnl.hpp>
#include <memory>
#include <utility>
#include <vector>

#include "ops/op.h"
#include "ops/parallel.h"

namespace effvit {

// Created after the hardware object has capped oneDNN's ISA (cpu/hardware.h), so every primitive
// is built for the tier effvit runs.
dnnl::engine& dnnl_engine();

// oneDNN's blocked activation format for a channel block of 8 or 16 (nChw8c / nChw16c).
dnnl::memory::format_tag blocked_tag(int64_t block);
// oneDNN's type for an activation: float32 or bfloat16, or the 8-bit codes of an int8 chain (the
// layout conversions of passes/nhwc_layout.cpp move uint8 too: read as float32, a NHWC -> NCHW
// conversion of uint8 scrambled them).
inline dnnl::memory::data_type dnnl_type(DType dtype) {
  switch (dtype) {
    case DType::bf16: return dnnl::memory::data_type::bf16;
    case DType::u8: return dnnl::memory::data_type::u8;
    case DType::i8: return dnnl::memory::data_type::s8;
    default: return dnnl::memory::data_type::f32;
  }
}
// The format of a 4-D value in its layout: nchw, nChw<B>c or nhwc.
dnnl::memory::format_tag layout_tag(const Value& value);

// The OpenMP threads a oneDNN primitive of `work` multiply-adds (or elements moved) should use in
// a Session of `threads`: below ~250k, splitting costs more in fork/join and in moving data between
// cores than it saves (measured on M5's per-head convs and matmuls), so they run on one.
int dnnl_threads_for(double work, int threads);

// What a kernel factory does when oneDNN throws while building a primitive: a shape or attribute
// oneDNN has no implementation for returns null (the planner falls back to the reference loop);
// running out of memory is std::bad_alloc; anything else is an effvit::Error naming the node.
std::unique_ptr<Kernel> decline_or_rethrow(const Node& node, const dnnl::error& e);


// A primitive with its arguments bound once. execute() goes through oneDNN's C API with an argument
// array built at plan time: the C++ wrapper's execute() builds an unordered_map and a vector on
// every call (about 900 heap allocations per M0 run). Memory objects are handles, so a kernel
// points them at new data with set_data_handle() and the bound arguments follow.
class BoundPrimitive {
 public:
  BoundPrimitive() = default;
  BoundPrimitive(dnnl::primitive primitive, std::vector<std::pair<int, dnnl::memory>> args);
  explicit operator bool() const { return static_cast<bool>(primitive_); }
  void execute(const dnnl::stream& stream) const;

 private:
  dnnl::primitive primitive_;
  std::vector<dnnl::memory> memories_;  // keep the handles in args_ alive
  std::vector<dnnl_exec_arg_t> args_;
};

// The buffers a kernel needs only while it runs (oneDNN's scratchpad, reorder targets), laid out at
// plan time in one region the plan provides (Kernel::workspace_bytes / bind_workspace). Kernels of
// one plan run one after another, so they all get the same region, as large as the largest needs.
class DnnlWorkspace {
 public:
  // A buffer for `desc`, 64-byte aligned, pointing into the region once bind() is called.
  dnnl::memory add(const dnnl::memory::desc& desc);
  size_t bytes() const { return bytes_; }
  void bind(void* base);

 private:
  size_t bytes_ = 0;
  std::vector<std::pair<dnnl::memory, size_t>> buffers_;  // with their offsets
};

// A oneDNN primitive between the graph's plain (or blocked) tensors and the layouts it runs in:
// the input is reordered in and the output out when they differ, inside the plan's workspace.
// Subclasses build primitive_, the reorders and the plain memories; run() points those at the
// step's tensors (after setting anything else the primitive reads) and calls run_reordered().
class ReorderedPrimitiveKernel : public Kernel {
 public:
  std::string implementation() const override { return impls_; }
  size_t workspace_bytes() const override { return workspace_.bytes(); }
  void bind_workspace(void* base) override { workspace_.bind(base); }

 protected:
  void run_reordered(const void* src, void* dst);

  // accumulate_ (optional) runs after primitive_ on the same source and destination, adding onto
  // what primitive_ wrote (a sum post-op): the second half of a split-weights int8 conv.
  BoundPrimitive primitive_, accumulate_, src_reorder_, dst_reorder_;
  dnnl::stream stream_{dnnl_engine()};  // one per kernel: a Session runs on one thread
  dnnl::memory src_plain_, dst_plain_;   // the graph's tensors, pointed at per run
  DnnlWorkspace workspace_;
  int threads_ = 1;
  std::string impls_;
};

// Without VNNI oneDNN's int8 convs sum pairs of u8 x s8 products in int16, exact only for weights
// within [-64, 64] (int8_conv_is_exact, ops/conv.h). Any int8 w is hi + lo with hi = floor(w / 2)
// and lo = w - hi, both within [-64, 64]: two exact convs, the second accumulating onto the first,
// give the full-range conv's sums.
std::pair<Tensor, Tensor> split_int8_weights(const Tensor& weights);

// oneDNN's dims of a conv's tensors (struct ConvGeometry, ops/conv.h): NCHW source and
// destination, OIHW weights (GOIHW, in `weights_tag`, when grouped).
struct ConvDnnlDims {
  dnnl::memory::dims src, dst, weights;
  dnnl::memory::format_tag weights_tag;
};
template <typename Geometry>
ConvDnnlDims conv_dnnl_dims(const Geometry& g) {
  using dims = dnnl::memory::dims;
  const bool grouped = g.groups > 1;
  return {dims{g.batch, g.in_c, g.in_h, g.in_w}, dims{g.batch, g.out_c, g.out_h, g.out_w},
          grouped ? dims{g.groups, g.out_c / g.groups, g.in_c / g.groups, g.kh, g.kw} : dims{g.out_c, g.in_c, g.kh, g.kw},
          grouped ? dnnl::memory::format_tag::goihw : dnnl::memory::format_tag::oihw};
}

// A reorder from `from` to `to`, bound to them; appends "reorder <oneDNN implementation>" to `impls`.
BoundPrimitive make_reorder(const dnnl::memory& from, const dnnl::memory& to, std::string& impls);

// Constant weights `source` (read as `user` describes) reordered into `packed`, once per Model
// when `cache` is given (every Session then shares the copy; see WeightCache for weights the Model
// holds only packed). `keep_alive` holds the packed buffer.
dnnl::memory pack_weights(const dnnl::memory::desc& user, const Value& source, const dnnl::memory::desc& packed,
                          WeightCache* cache, std::shared_ptr<void>& keep_alive);
// The same for weights of this kernel alone.
dnnl::memory pack_weights(const dnnl::memory::desc& user, const Tensor& source, const dnnl::memory::desc& packed,
                          std::shared_ptr<void>& keep_alive);

}  // namespace effvit
