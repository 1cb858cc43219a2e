// The process-wide oneDNN CPU engine. oneDNN objects never appear in public headers.
#pragma once

#include <dnnl.hpp>
#include <memory>

#include "ops/op.h"
#include "ops/parallel.h"

namespace effvit {

// Created after the hardware object has capped oneDNN's ISA (cpu/hardware.h), so every primitive
// is built for the tier effvit runs.
dnnl::engine& dnnl_engine();

// oneDNN's blocked activation format for a channel block of 8 or 16 (nChw8c / nChw16c).
dnnl::memory::format_tag blocked_tag(int64_t block);

// The OpenMP threads a oneDNN primitive of `work` multiply-adds (or elements moved) should use in
// a Session of `threads`: below ~250k, splitting costs more in fork/join and in moving data between
// cores than it saves (measured on M5's per-head convs and matmuls), so they run on one.
int dnnl_threads_for(double work, int threads);

// What a kernel factory does when oneDNN throws while building a primitive: a shape or attribute
// oneDNN has no implementation for returns null (the planner falls back to the reference loop);
// running out of memory is std::bad_alloc; anything else is an effvit::Error naming the node.
std::unique_ptr<Kernel> decline_or_rethrow(const Node& node, const dnnl::error& e);

// A reorder from `from` to `to`; appends "reorder <oneDNN implementation>" to `impls`.
dnnl::reorder make_reorder(const dnnl::memory& from, const dnnl::memory& to, std::string& impls);

// Constant weights `source` (read as `user` describes) reordered into `packed`, once per Model
// when `cache` is given (every Session then shares the copy). `keep_alive` holds the packed buffer.
dnnl::memory pack_weights(const dnnl::memory::desc& user, const Tensor& source, const dnnl::memory::desc& packed,
                          WeightCache* cache, std::shared_ptr<void>& keep_alive);

}  // namespace effvit
