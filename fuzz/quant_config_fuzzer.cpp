// The quantize YAML (src/quant/config.cpp: load_quant_config) on arbitrary bytes.
#include <cstdint>

#include "effvit/error.h"
#include "fuzz_util.h"
#include "quant/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static effvit::fuzz::MemFile file;
  const std::string& path = file.write(data, size);
  try {
    const effvit::quant::QuantConfig c = effvit::quant::load_quant_config(path);
    (void)c.output_path();
    (void)effvit::quant::input_kind_name(c.input_type_rt);
  } catch (const effvit::Error&) {
  }
  return 0;
}
