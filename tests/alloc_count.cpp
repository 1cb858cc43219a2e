// Heap allocations of one steady-state inference (issue #7 item 5): the bundled M0 run through
// Session::run_into must allocate nothing in effvit, at one and two threads, batch 1 and 3, and
// with two shapes taking turns. Every operator new (aligned too), malloc, calloc, realloc and
// aligned allocation in this process, on any thread, is counted while a run is in flight and
// attributed, by walking the stack, to the first caller outside the C/C++ runtime: effvit (linked
// statically into this program), oneDNN, or anything else (OpenMP).
//
// oneDNN's own allocations are reported, not failed on: its C API builds an argument map on every
// primitive execution (dnnl_primitive_execute), which no caller can avoid.
#include <dlfcn.h>
#include <execinfo.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "effvit/model.h"

extern "C" void* __libc_malloc(size_t);
extern "C" void* __libc_calloc(size_t, size_t);
extern "C" void* __libc_realloc(void*, size_t);
extern "C" void* __libc_memalign(size_t, size_t);
extern "C" void __libc_free(void*);

namespace {

std::atomic<bool> counting{false};
thread_local bool in_hook = false;  // backtrace() may allocate itself
std::atomic<long> effvit_allocations{0}, onednn_allocations{0}, other_allocations{0};
std::atomic<void*> first_effvit_site{nullptr};

bool from_runtime_library(const char* object) {
  return std::strstr(object, "libstdc++") || std::strstr(object, "libc.so") || std::strstr(object, "libgcc");
}

void note_allocation() {
  if (!counting.load(std::memory_order_relaxed) || in_hook) return;
  in_hook = true;
  void* frames[12];
  const int n = backtrace(frames, 12);
  const char* owner = nullptr;
  void* site = nullptr;
  Dl_info self{};
  dladdr(reinterpret_cast<void*>(&note_allocation), &self);
  for (int i = 1; i < n && !owner; ++i) {
    Dl_info info{};
    if (!dladdr(frames[i], &info) || !info.dli_fname) continue;
    if (info.dli_saddr == reinterpret_cast<void*>(&note_allocation)) continue;
    if (from_runtime_library(info.dli_fname)) continue;
    // Frames of this file's own hooks are in the program too; skip them.
    if (info.dli_sname && (std::strstr(info.dli_sname, "_Znw") || std::strstr(info.dli_sname, "_Zna") ||
                           std::strstr(info.dli_sname, "alloc") || std::strcmp(info.dli_sname, "posix_memalign") == 0))
      continue;
    owner = info.dli_fname;
    site = frames[i];
  }
  if (owner && std::strstr(owner, "libdnnl")) ++onednn_allocations;
  else if (owner && std::strcmp(owner, self.dli_fname) == 0) {
    void* none = nullptr;
    first_effvit_site.compare_exchange_strong(none, site);
    ++effvit_allocations;
  } else ++other_allocations;
  in_hook = false;
}

}  // namespace

void* operator new(size_t n) {
  note_allocation();
  if (void* p = __libc_malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, std::align_val_t a) {
  note_allocation();
  if (void* p = __libc_memalign(static_cast<size_t>(a), n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }
extern "C" void* malloc(size_t n) {
  note_allocation();
  return __libc_malloc(n);
}
extern "C" void* calloc(size_t n, size_t size) {
  note_allocation();
  return __libc_calloc(n, size);
}
extern "C" void* realloc(void* p, size_t n) {
  note_allocation();
  return __libc_realloc(p, n);
}
extern "C" void* aligned_alloc(size_t alignment, size_t n) {
  note_allocation();
  return __libc_memalign(alignment, n);
}
extern "C" void* memalign(size_t alignment, size_t n) {
  note_allocation();
  return __libc_memalign(alignment, n);
}
extern "C" int posix_memalign(void** out, size_t alignment, size_t n) {
  note_allocation();
  void* p = __libc_memalign(alignment, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

namespace {

// Steady-state runs of `batches` in turn (each shape already run once), counted; returns effvit's.
long count_steady_runs(const std::shared_ptr<const effvit::Model>& model, int threads, const std::vector<int64_t>& batches) {
  effvit::SessionOptions options;
  options.threads = threads;
  effvit::Session session(model, options);
  std::vector<std::vector<effvit::Tensor>> inputs, outputs;
  for (int64_t batch : batches) {
    effvit::Shape shape = model->summary().inputs.at(0).shape;
    for (size_t k = 0; k < shape.size(); ++k) shape[k] = shape[k] < 0 ? (k == 0 ? batch : 1) : shape[k];
    inputs.push_back({effvit::Tensor(effvit::DType::f32, shape)});
    std::vector<effvit::Tensor> out;
    for (const effvit::Shape& s : session.plan_info({shape}).output_shapes) out.emplace_back(effvit::DType::f32, s);
    outputs.push_back(out);
  }
  for (int round = 0; round < 2; ++round)
    for (size_t i = 0; i < batches.size(); ++i) session.run_into(inputs[i], outputs[i]);
  const long before = effvit_allocations;
  counting = true;
  for (size_t i = 0; i < batches.size(); ++i) session.run_into(inputs[i], outputs[i]);
  counting = false;
  return effvit_allocations - before;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODEL.onnx\n", argv[0]);
    return 2;
  }
  {
    void* warm[4];
    backtrace(warm, 4);  // loads the unwinder before anything is counted
  }
  auto model = effvit::Model::load(argv[1]);
  struct Case {
    int threads;
    std::vector<int64_t> batches;
  };
  int failures = 0;
  for (const Case& c : {Case{1, {1}}, Case{2, {1}}, Case{1, {3}}, Case{2, {3, 1}}}) {
    const long onednn_before = onednn_allocations, other_before = other_allocations;
    const long effvit = count_steady_runs(model, c.threads, c.batches);
    std::string batches;
    for (int64_t b : c.batches) batches += (batches.empty() ? "" : ",") + std::to_string(b);
    std::printf("threads %d, batch %s: heap allocations in effvit %ld, oneDNN %ld, other %ld\n", c.threads, batches.c_str(),
                effvit, onednn_allocations - onednn_before, other_allocations - other_before);
    if (effvit != 0) ++failures;
  }
  if (failures) {
    Dl_info info{};
    void* site = first_effvit_site;
    dladdr(site, &info);
    std::printf("FAIL: effvit allocates on the hot path (first at %s+%#lx)\n", info.dli_sname ? info.dli_sname : "?",
                static_cast<unsigned long>(static_cast<char*>(site) - static_cast<char*>(info.dli_fbase)));
    return 1;
  }
  // The zero cannot come from a counter that does not count: oneDNN's allocations show, and so
  // does the copy Session::run returns.
  if (onednn_allocations == 0) {
    std::printf("FAIL: no oneDNN allocation seen either; the counter is not counting\n");
    return 1;
  }
  effvit::Session session(model);
  effvit::Shape shape = model->summary().inputs.at(0).shape;
  for (int64_t& d : shape) d = d < 0 ? 1 : d;
  const std::vector<effvit::Tensor> inputs{effvit::Tensor(effvit::DType::f32, shape)};
  session.run(inputs);
  counting = true;
  const std::vector<effvit::Tensor> returned = session.run(inputs);
  counting = false;
  std::printf("Session::run, which returns a new tensor: effvit %ld\n", effvit_allocations.load());
  if (effvit_allocations == 0) {
    std::printf("FAIL: the returned output's allocation was not attributed to effvit\n");
    return 1;
  }
  return 0;
}
