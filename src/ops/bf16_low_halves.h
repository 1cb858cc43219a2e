// What rounding float32 weights to bf16 throws away, kept so the float32 weights can be rebuilt bit
// for bit from a bf16 packing: each float's low 16 bits, plus which exact ties rounded up. With it a
// bf16 packing can be the weights' only copy (WeightCache): 2 bytes an element on top of the
// packing's 2, where keeping the float32 source costs 4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace effvit {

class Bf16LowHalves {
 public:
  // Of n floats, rounded to nearest even as f32_to_bf16 and oneDNN round them.
  Bf16LowHalves(const float* source, size_t n);
  // The n floats back from their rounded upper halves (in the source's order). Wrong for a NaN,
  // whose rounding is not a carry: callers check the round trip once (WeightCache does).
  void restore(const uint16_t* rounded, float* out) const;

 private:
  std::vector<uint16_t> low_;
  // Indices of the elements whose low half was exactly 0x8000 and that rounded up (to even): only
  // there is the carry not told by the low half itself. Sorted.
  std::vector<size_t> ties_up_;
};

}  // namespace effvit
