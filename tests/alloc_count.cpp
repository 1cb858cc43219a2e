// Heap allocations of one steady-state inference (issue #7 item 5): the bundled M0 run through
// Session::run_into must allocate nothing in effvit. Every operator new and malloc in this process
// is counted while a run is in flight and attributed, by walking the stack, to the first caller
// outside the C/C++ runtime: effvit (linked statically into this program), oneDNN, or OpenMP.
//
// oneDNN's own allocations are reported, not failed on: its C API builds an argument map on every
// primitive execution (dnnl_primitive_execute), which no caller can avoid.
#include <dlfcn.h>
#include <execinfo.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "effvit/model.h"

extern "C" void* __libc_malloc(size_t);
extern "C" void __libc_free(void*);

namespace {

thread_local bool counting = false;
long effvit_allocations = 0, onednn_allocations = 0, other_allocations = 0;
void* first_effvit_site = nullptr;

bool from_runtime_library(const char* object) {
  return std::strstr(object, "libstdc++") || std::strstr(object, "libc.so") || std::strstr(object, "libgcc");
}

void note_allocation() {
  if (!counting) return;
  counting = false;  // backtrace() may allocate itself
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
    // Frames of this file's own operator new / malloc are in the program too; skip them.
    if (info.dli_sname && (std::strstr(info.dli_sname, "_Znw") || std::strcmp(info.dli_sname, "malloc") == 0)) continue;
    owner = info.dli_fname;
    site = frames[i];
  }
  if (owner && std::strstr(owner, "libdnnl")) ++onednn_allocations;
  else if (owner && std::strcmp(owner, self.dli_fname) == 0) {
    if (!first_effvit_site) first_effvit_site = site;
    ++effvit_allocations;
  } else ++other_allocations;
  counting = true;
}

}  // namespace

void* operator new(size_t n) {
  note_allocation();
  if (void* p = __libc_malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t) noexcept { __libc_free(p); }
extern "C" void* malloc(size_t n) {
  note_allocation();
  return __libc_malloc(n);
}

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
  effvit::Session session(model);
  effvit::Shape shape = model->summary().inputs.at(0).shape;
  for (int64_t& d : shape) d = d < 0 ? 1 : d;
  const effvit::Tensor input(effvit::DType::f32, shape);
  const effvit::Session::PlanInfo info = session.plan_info({shape});
  std::vector<effvit::Tensor> outputs;
  for (const effvit::Shape& s : info.output_shapes) outputs.emplace_back(effvit::DType::f32, s);
  const std::vector<effvit::Tensor> inputs{input};
  for (int i = 0; i < 3; ++i) session.run_into(inputs, outputs);

  counting = true;
  session.run_into(inputs, outputs);
  counting = false;

  std::printf("heap allocations in one steady-state run: effvit %ld, oneDNN %ld, other %ld\n", effvit_allocations,
              onednn_allocations, other_allocations);
  if (effvit_allocations != 0) {
    Dl_info info{};
    dladdr(first_effvit_site, &info);
    std::printf("FAIL: effvit allocates on the hot path (first at %s+%#lx)\n", info.dli_sname ? info.dli_sname : "?",
                static_cast<unsigned long>(static_cast<char*>(first_effvit_site) - static_cast<char*>(info.dli_fbase)));
    return 1;
  }
  // The zero cannot come from a counter that does not count: oneDNN's allocations show, and so
  // does the copy Session::run returns.
  if (onednn_allocations == 0) {
    std::printf("FAIL: no oneDNN allocation seen either; the counter is not counting\n");
    return 1;
  }
  counting = true;
  const std::vector<effvit::Tensor> returned = session.run(inputs);
  counting = false;
  std::printf("Session::run, which returns a new tensor: effvit %ld\n", effvit_allocations);
  if (effvit_allocations == 0) {
    std::printf("FAIL: the returned output's allocation was not attributed to effvit\n");
    return 1;
  }
  return 0;
}
