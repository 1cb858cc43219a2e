// The process-wide oneDNN CPU engine. oneDNN objects never appear in public headers.
#pragma once

#include <dnnl.hpp>
#include <memory>

#include "ops/op.h"

namespace effvit {

dnnl::engine& dnnl_engine();

// Constant weights `data` (laid out as `user`) reordered into `packed`, once per Model when
// `cache` is given (every Session then shares the copy). `keep_alive` holds the packed buffer.
dnnl::memory pack_weights(const dnnl::memory::desc& user, const void* data, const dnnl::memory::desc& packed,
                          WeightCache* cache, std::shared_ptr<void>& keep_alive);

}  // namespace effvit
