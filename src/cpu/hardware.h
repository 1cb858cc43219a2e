// The process-wide hardware object (see include/effvit/hardware.h): the ISA tier and everything
// derived from it. Passes, oneDNN kernels and effvit's own kernels read it; none tests CPU flags
// itself.
#pragma once

#include <cstddef>
#include <cstdint>

#include <optional>
#include <string_view>

#include "effvit/hardware.h"

namespace effvit {

struct KernelTable;

struct Hardware {
  HardwareInfo info;
  const KernelTable* kernels = nullptr;  // effvit's own micro-kernels built for info.tier
  // kernels->lookup_u8, or its AVX512-VBMI build where the table has one and the CPU has VBMI.
  void (*lookup_u8)(const uint8_t* x, const uint8_t* table, uint8_t* y, size_t n) = nullptr;

  bool has(IsaTier t) const { return info.tier >= t; }
};

// Decided once: cpuid, capped by EFFVIT_MAX_ISA, agreed with oneDNN (whose own ISA is capped to
// match before it creates any primitive).
const Hardware& hardware();

std::optional<IsaTier> parse_isa_tier(std::string_view name);
// Whether this CPU (and OS) can run `tier`, independently of any cap.
bool cpu_supports(IsaTier tier);
// Channels per block of the blocked activation layout at `tier`: one vector register of floats.
int channel_block_for(IsaTier tier);

}  // namespace effvit
