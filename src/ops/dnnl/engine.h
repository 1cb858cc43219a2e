// The process-wide oneDNN CPU engine. oneDNN objects never appear in public headers.
#pragma once

#include <dnnl.hpp>

namespace effvit {

dnnl::engine& dnnl_engine();

}  // namespace effvit
