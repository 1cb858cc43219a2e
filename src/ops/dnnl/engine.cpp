#include "ops/dnnl/engine.h"

namespace effvit {

dnnl::engine& dnnl_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

}  // namespace effvit
