#include "ops/dnnl/engine.h"

#include <new>

#include "cpu/hardware.h"

namespace effvit {

dnnl::engine& dnnl_engine() {
  static dnnl::engine engine = [] {
    hardware();
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return engine;
}

dnnl::memory::format_tag blocked_tag(int64_t block) {
  if (block == 8) return dnnl::memory::format_tag::nChw8c;
  if (block == 16) return dnnl::memory::format_tag::nChw16c;
  throw Error("internal error: no oneDNN format for a channel block of " + std::to_string(block));
}

int dnnl_threads_for(double work, int threads) { return work < 2.5e5 ? 1 : threads; }

std::unique_ptr<Kernel> decline_or_rethrow(const Node& node, const dnnl::error& e) {
  if (e.status == dnnl_unimplemented || e.status == dnnl_invalid_arguments) return nullptr;
  if (e.status == dnnl_out_of_memory) throw std::bad_alloc();
  throw Error(node.describe() + ": oneDNN failed: " + e.what());
}

dnnl::reorder make_reorder(const dnnl::memory& from, const dnnl::memory& to, std::string& impls) {
  dnnl::reorder::primitive_desc pd(from, to);
  impls += std::string(impls.empty() ? "" : ", ") + "reorder " + pd.impl_info_str();
  return dnnl::reorder(pd);
}

dnnl::memory pack_weights(const dnnl::memory::desc& user, const Tensor& source, const dnnl::memory::desc& packed,
                          WeightCache* cache, std::shared_ptr<void>& keep_alive) {
  const void* data = source.raw();
  auto& eng = dnnl_engine();
  auto pack = [&]() -> std::shared_ptr<void> {
    auto out = std::make_shared<dnnl::memory>(packed, eng);
    dnnl::memory src(user, eng, const_cast<void*>(data));
    dnnl::stream s(eng);
    dnnl::reorder(src, *out).execute(s, src, *out);
    s.wait();
    return out;
  };
  // How the source is read (a transposed view, say) and what it becomes are both in the key: the
  // same weights may be read and packed several ways.
  std::string layout(reinterpret_cast<const char*>(&user.data), sizeof user.data);
  layout.append(reinterpret_cast<const char*>(&packed.data), sizeof packed.data);
  keep_alive = cache ? cache->get(source, layout, pack) : pack();
  return *static_cast<dnnl::memory*>(keep_alive.get());
}

}  // namespace effvit
