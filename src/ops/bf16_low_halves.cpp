#include "ops/bf16_low_halves.h"

#include <algorithm>
#include <cstring>

namespace effvit {

Bf16LowHalves::Bf16LowHalves(const float* source, size_t n) : low_(n) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, source + i, sizeof u);
    low_[i] = static_cast<uint16_t>(u);
    // A tie rounds to the even upper half: up when the truncated one is odd.
    if (low_[i] == 0x8000u && (u >> 16) & 1u) ties_up_.push_back(i);
  }
}

void Bf16LowHalves::restore(const uint16_t* rounded, float* out) const {
  auto tie = ties_up_.begin();
  for (size_t i = 0; i < low_.size(); ++i) {
    const uint32_t low = low_[i];
    bool carried = low > 0x8000u;
    if (low == 0x8000u) {
      tie = std::lower_bound(tie, ties_up_.end(), i);
      carried = tie != ties_up_.end() && *tie == i;
    }
    const uint32_t u = (static_cast<uint32_t>(static_cast<uint16_t>(rounded[i] - carried)) << 16) | low;
    std::memcpy(out + i, &u, sizeof u);
  }
}

}  // namespace effvit
