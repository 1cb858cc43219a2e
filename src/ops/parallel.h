// Splitting one kernel's work across the Session's threads (--threads N). OpenMP, the same thread
// pool oneDNN runs on, so effvit's own kernels and oneDNN's never oversubscribe the cores.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace effvit {

// Sets the calling thread's OpenMP thread count for a scope and restores it after, so a host
// application's own OpenMP code keeps its setting. oneDNN reads the count when it creates a
// primitive (many jit kernels fix their split then) and when it executes one.
class OmpThreadScope {
 public:
  explicit OmpThreadScope(int threads) : saved_(omp_get_max_threads()) {
    if (threads != saved_) omp_set_num_threads(threads);
  }
  ~OmpThreadScope() {
    if (omp_get_max_threads() != saved_) omp_set_num_threads(saved_);
  }
  OmpThreadScope(const OmpThreadScope&) = delete;
  OmpThreadScope& operator=(const OmpThreadScope&) = delete;

 private:
  int saved_;
};

// Calls fn(begin, end) over contiguous chunks of [0, n), one per thread, using at most `threads`
// threads and none that would get fewer than `min_per_thread` items (waking a thread costs a few
// microseconds; small ops stay on the calling thread).
template <typename Fn>
void parallel_for(int threads, int64_t n, int64_t min_per_thread, Fn&& fn) {
  const int64_t useful = std::max<int64_t>(1, n / std::max<int64_t>(1, min_per_thread));
  const int t = static_cast<int>(std::min<int64_t>(threads, useful));
  if (t <= 1) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(t)
  {
    const int64_t i = omp_get_thread_num(), count = omp_get_num_threads();
    fn(n * i / count, n * (i + 1) / count);
  }
}

// parallel_for whose fn(chunk, begin, end) also gets its chunk's index in [0, threads): the slot of
// per-thread scratch it may use. Not omp_get_thread_num(): called from inside a host
// application's own OpenMP region, the serial path would report the host's thread number, which
// can exceed the slots a kernel sized for `threads`.
template <typename Fn>
void parallel_for_chunks(int threads, int64_t n, int64_t min_per_thread, Fn&& fn) {
  const int64_t useful = std::max<int64_t>(1, n / std::max<int64_t>(1, min_per_thread));
  const int t = static_cast<int>(std::min<int64_t>(threads, useful));
  if (t <= 1) {
    fn(0, int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(t)
  {
    const int i = omp_get_thread_num(), count = omp_get_num_threads();
    fn(i, n * i / count, n * (i + 1) / count);
  }
}

}  // namespace effvit
