// NumPy .npy reader (src/data/npy.cpp) on arbitrary bytes.
#include <cstdint>

#include "data/npy.h"
#include "effvit/error.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static effvit::fuzz::MemFile file;
  const std::string& path = file.write(data, size);
  try {
    effvit::Tensor t = effvit::read_npy(path);
    // A tensor that parsed must be whole: its bytes are readable.
    volatile uint8_t sink = 0;
    const auto* p = static_cast<const uint8_t*>(t.raw());
    for (size_t i = 0; i < t.bytes(); ++i) sink = sink ^ p[i];
  } catch (const effvit::Error&) {
  }
  return 0;
}
