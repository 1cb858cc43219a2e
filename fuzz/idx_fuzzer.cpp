// IDX reader (src/data/idx.cpp), plain and gzip-compressed, on arbitrary bytes.
#include <cstdint>

#include "data/idx.h"
#include "effvit/error.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static effvit::fuzz::MemFile file;
  const std::string& path = file.write(data, size);
  try {
    const effvit::IdxArray a = effvit::read_idx(path);
    size_t count = 1;
    for (int64_t d : a.dims) count *= static_cast<size_t>(d);
    if (count != a.data.size()) __builtin_trap();  // the reader promises exactly the header's count
  } catch (const effvit::Error&) {
  }
  return 0;
}
