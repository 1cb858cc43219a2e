// Which arithmetic a Session runs (SessionOptions::precision), decided once when it is made.
#pragma once

#include <string>

#include "effvit/model.h"

namespace effvit {

// "fp32", "bf16" or "int8" for `asked` on a model whose summary says `model_precision` ("fp32" or
// "int8"). Throws effvit::Error naming `model_path` when bf16 is asked of an int8 model, or of a
// CPU whose tier has no native bf16 dot product (the error names the tier).
//
// Tests only: EFFVIT_TEST_FORCE_BF16=1 lets bf16 run on any AVX-512 tier, where oneDNN emulates it
// (slowly, but with the same rounding), so bf16 plans are tested on machines without bf16 units.
std::string resolve_precision(Precision asked, const std::string& model_precision, const std::string& model_path);

// "this CPU runs at tier avx2", with ", capped by EFFVIT_MAX_ISA (it has avx512_bf16)" when it is:
// why bf16 is not there, said where a cap (set long ago in a shell profile) would be forgotten.
std::string running_tier_text();

}  // namespace effvit
