#include "ops/dnnl/engine.h"

#include <functional>
#include <new>

#include "cpu/hardware.h"
#include "ops/bf16_low_halves.h"

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

dnnl::memory::format_tag layout_tag(const Value& value) {
  switch (value.layout) {
    case Layout::Blocked: return blocked_tag(value.channel_block);
    case Layout::Nhwc: return dnnl::memory::format_tag::nhwc;
    case Layout::Plain: break;
  }
  return dnnl::memory::format_tag::nchw;
}

int dnnl_threads_for(double work, int threads) { return work < 2.5e5 ? 1 : threads; }

std::unique_ptr<Kernel> decline_or_rethrow(const Node& node, const dnnl::error& e) {
  if (e.status == dnnl_unimplemented || e.status == dnnl_invalid_arguments) return nullptr;
  if (e.status == dnnl_out_of_memory) throw std::bad_alloc();
  throw Error(node.describe() + ": oneDNN failed: " + e.what());
}

void ReorderedPrimitiveKernel::run_reordered(const void* src, void* dst) {
  src_plain_.set_data_handle(const_cast<void*>(src));
  dst_plain_.set_data_handle(dst);
  if (src_reorder_) src_reorder_.execute(stream_);
  primitive_.execute(stream_);
  if (accumulate_) accumulate_.execute(stream_);
  if (dst_reorder_) dst_reorder_.execute(stream_);
  stream_.wait();
}

std::pair<Tensor, Tensor> split_int8_weights(const Tensor& weights) {
  Tensor hi(DType::i8, weights.shape()), lo(DType::i8, weights.shape());
  const int8_t* w = weights.data<int8_t>();
  for (int64_t i = 0; i < weights.numel(); ++i) {
    hi.data<int8_t>()[i] = static_cast<int8_t>(w[i] >> 1);  // floor(w / 2): arithmetic shift
    lo.data<int8_t>()[i] = static_cast<int8_t>(w[i] - (w[i] >> 1));
  }
  return {std::move(hi), std::move(lo)};
}

BoundPrimitive make_reorder(const dnnl::memory& from, const dnnl::memory& to, std::string& impls) {
  dnnl::reorder::primitive_desc pd(from, to);
  impls += std::string(impls.empty() ? "" : ", ") + "reorder " + pd.impl_info_str();
  return BoundPrimitive(dnnl::reorder(pd), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}

BoundPrimitive::BoundPrimitive(dnnl::primitive primitive, std::vector<std::pair<int, dnnl::memory>> args)
    : primitive_(std::move(primitive)) {
  for (auto& [arg, memory] : args) {
    args_.push_back({arg, memory.get()});
    memories_.push_back(std::move(memory));
  }
}

void BoundPrimitive::execute(const dnnl::stream& stream) const {
  dnnl::error::wrap_c_api(
      dnnl_primitive_execute(primitive_.get(), stream.get(), static_cast<int>(args_.size()), args_.data()),
      "could not execute a primitive");
}

dnnl::memory DnnlWorkspace::add(const dnnl::memory::desc& desc) {
  buffers_.emplace_back(dnnl::memory(desc, dnnl_engine(), DNNL_MEMORY_NONE), bytes_);
  bytes_ += (desc.get_size() + 63) / 64 * 64;
  return buffers_.back().first;
}

void DnnlWorkspace::bind(void* base) {
  for (auto& [memory, offset] : buffers_) memory.set_data_handle(static_cast<char*>(base) + offset);
}

namespace {

std::shared_ptr<void> reorder_into(const dnnl::memory::desc& from, const void* data, const dnnl::memory::desc& to) {
  auto& eng = dnnl_engine();
  auto out = std::make_shared<dnnl::memory>(to, eng);
  dnnl::memory src(from, eng, const_cast<void*>(data));
  dnnl::stream s(eng);
  dnnl::reorder(src, *out).execute(s, src, *out);
  s.wait();
  return out;
}

}  // namespace

dnnl::memory pack_weights(const dnnl::memory::desc& user, const Value& source, const dnnl::memory::desc& packed,
                          WeightCache* cache, std::shared_ptr<void>& keep_alive) {
  if (!cache) return pack_weights(user, source.constant, packed, keep_alive);
  std::function<std::shared_ptr<void>(const void*)> pack = [&](const void* data) { return reorder_into(user, data, packed); };
  // Float packings are pure permutations (with zero padding), so reordering back gives the source;
  // int8 ones may carry compensation terms oneDNN does not reorder back; bf16 ones are rounded, and
  // give the source back with the low halves the rounding dropped.
  WeightCache::UnpackFn unpack;
  using dt = dnnl::memory::data_type;
  const bool plain_source = user.data.format_kind == dnnl_blocked && user.data.format_desc.blocking.inner_nblks == 0 &&
                            user.get_size() == static_cast<size_t>(shape_numel(source.shape)) * sizeof(float);
  if (user.data_type() == dt::f32 && packed.data.extra.flags == 0 && packed.data_type() == dt::f32) {
    unpack = [user](const std::shared_ptr<void>& from, void* plain) {
      auto& eng = dnnl_engine();
      auto& src = *static_cast<dnnl::memory*>(from.get());
      dnnl::memory dst(user, eng, plain);
      dnnl::stream s(eng);
      dnnl::reorder(src, dst).execute(s, src, dst);
      s.wait();
    };
  } else if (user.data_type() == dt::f32 && packed.data.extra.flags == 0 && packed.data_type() == dt::bf16 && plain_source &&
             source.weight_id && !cache->recoverable(source.weight_id)) {
    // Only where the cache may hold this packing for the weight: others never rebuild it.
    // The source's bytes in their own order, as bf16: the same dims and strides.
    const dnnl::memory::desc rounded_md(user.dims(), dt::bf16, dnnl::memory::dims(user.data.format_desc.blocking.strides,
                                                                                   user.data.format_desc.blocking.strides + user.data.ndims));
    const size_t n = static_cast<size_t>(shape_numel(source.shape));
    auto low = std::make_shared<std::unique_ptr<Bf16LowHalves>>();
    pack = [&, low, n](const void* data) {
      *low = std::make_unique<Bf16LowHalves>(static_cast<const float*>(data), n);
      return reorder_into(user, data, packed);
    };
    unpack = [rounded_md, low, n](const std::shared_ptr<void>& from, void* plain) {
      auto& eng = dnnl_engine();
      auto& src = *static_cast<dnnl::memory*>(from.get());
      std::vector<uint16_t> rounded(n);
      dnnl::memory dst(rounded_md, eng, rounded.data());
      dnnl::stream s(eng);
      dnnl::reorder(src, dst).execute(s, src, dst);
      s.wait();
      (*low)->restore(rounded.data(), static_cast<float*>(plain));
    };
  }
  // How the source is read (a transposed view, say) and what it becomes are both in the key: the
  // same weights may be read and packed several ways.
  std::string layout(reinterpret_cast<const char*>(&user.data), sizeof user.data);
  layout.append(reinterpret_cast<const char*>(&packed.data), sizeof packed.data);
  keep_alive = cache->get(source, layout, pack, unpack);
  return *static_cast<dnnl::memory*>(keep_alive.get());
}

dnnl::memory pack_weights(const dnnl::memory::desc& user, const Tensor& source, const dnnl::memory::desc& packed,
                          std::shared_ptr<void>& keep_alive) {
  if (!source.defined()) throw Error(ErrorKind::internal, "internal error: packing weights that were released");
  keep_alive = reorder_into(user, source.raw(), packed);
  return *static_cast<dnnl::memory*>(keep_alive.get());
}

}  // namespace effvit
