#include "kernels/kernels.h"

#include "effvit/hardware.h"

namespace effvit {


const KernelTable& kernels_for(IsaTier tier) {
  if (tier >= IsaTier::avx512) return kKernelsAvx512;
  if (tier >= IsaTier::avx2) return kKernelsAvx2;
  return kKernelsSse41;
}

}  // namespace effvit
