#include "runtime/precision.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cpu/hardware.h"

namespace effvit {
namespace {

bool forced_for_tests() {
  const char* force = std::getenv("EFFVIT_TEST_FORCE_BF16");
  if (!force || std::strcmp(force, "1") != 0 || !hardware().has(IsaTier::avx512)) return false;
  static const bool said = [] {
    std::fprintf(stderr, "effvit: EFFVIT_TEST_FORCE_BF16=1: bf16 allowed at tier %s, which only emulates it (for tests)\n",
                 isa_tier_name(hardware().info.tier));
    return true;
  }();
  return said;
}

bool bf16_available() { return hardware().has(IsaTier::avx512_bf16) || forced_for_tests(); }

}  // namespace

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::fp32: return "fp32";
    case Precision::bf16: return "bf16";
    case Precision::automatic: return "auto";
  }
  return "?";
}

bool parse_precision(const std::string& name, Precision& precision) {
  for (Precision p : {Precision::fp32, Precision::bf16, Precision::automatic})
    if (name == precision_name(p)) {
      precision = p;
      return true;
    }
  return false;
}

std::string running_tier_text() {
  const HardwareInfo& info = hardware().info;
  std::string text = std::string("this CPU runs at tier ") + isa_tier_name(info.tier);
  if (info.tier != info.native) text += std::string(", capped by EFFVIT_MAX_ISA (it has ") + isa_tier_name(info.native) + ")";
  return text;
}

std::string resolve_precision(Precision asked, const std::string& model_precision, const std::string& model_path) {
  const bool int8 = model_precision == "int8";
  switch (asked) {
    case Precision::fp32: return model_precision;
    // Native only: the tests' emulation (EFFVIT_TEST_FORCE_BF16) is for an explicit bf16.
    case Precision::automatic: return !int8 && hardware().has(IsaTier::avx512_bf16) ? "bf16" : model_precision;
    case Precision::bf16: break;
  }
  if (int8) throw Error(ErrorKind::invalid_input, model_path + ": is an int8 model; precision bf16 applies to float32 models");
  if (!bf16_available())
    throw Error(ErrorKind::unsupported, model_path + ": precision bf16 needs native bf16 dot products (ISA tier avx512_bf16 or amx); " +
                                            running_tier_text() + " (use fp32, or auto to pick the best there is)");
  return "bf16";
}

}  // namespace effvit
