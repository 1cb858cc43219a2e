// Large buffers straight from the kernel (anonymous mmap), zero-filled, given back to the system
// the moment the last owner lets go. From malloc they would not be: glibc raises its mmap threshold
// after each large free, so later large blocks land in the heap and stay resident (plan arenas of
// evicted shapes, weights a Model now holds packed only).
#pragma once

#include <cstddef>
#include <memory>

namespace effvit {

// Page-aligned, zeroed `bytes` (at least one page); std::bad_alloc when the system refuses.
std::shared_ptr<void> map_zeroed(size_t bytes);

}  // namespace effvit
