// The one hardware decision effvit makes: an instruction-set tier, chosen once per process from
// cpuid and capped by the environment variable EFFVIT_MAX_ISA. Every ISA-dependent choice (the
// channel block of the blocked activation layout, the formats asked of oneDNN, which build of
// effvit's own kernels runs, oneDNN's own ISA cap) derives from it, so any tier can be run and
// tested on any machine that has it:
//
//   EFFVIT_MAX_ISA=avx2 effvit bench m5.onnx     # an AVX-512 machine behaves as an AVX2 one
#pragma once

#include <string>
#include <vector>

namespace effvit {

// Ordered from least to most capable. A tier the CPU lacks is skipped when capping: on a CPU with
// AVX-512 VNNI but no AVX-VNNI (Zen 4, Ice Lake), a cap of avx2_vnni runs avx2.
enum class IsaTier : int {
  sse41,        // x86-64 with SSE4.1: the floor
  avx2,         // AVX2 + FMA
  avx2_vnni,    // AVX2 + AVX-VNNI (int8 dot products on 256-bit vectors)
  avx512,       // AVX-512 F/BW/DQ/VL
  avx512_vnni,  // AVX-512 + VNNI
  avx512_bf16,  // AVX-512 VNNI + AVX512_BF16 (bf16 dot products with fp32 sums: Zen 4, Cooper Lake)
  amx,          // AVX-512 BF16 + AMX tiles (int8/bf16)
};

const char* isa_tier_name(IsaTier tier);

struct HardwareInfo {
  IsaTier tier = IsaTier::sse41;     // what runs: the native tier capped by EFFVIT_MAX_ISA
  IsaTier native = IsaTier::sse41;   // the best tier this CPU has
  std::vector<IsaTier> supported;    // every tier this CPU can run, lowest first
  std::string cpu_model;             // cpuid brand string, e.g. "AMD EPYC 9B14"
  int channel_block = 8;             // channels per block of the blocked activation layout
};

// Decided on first call (thread-safe) and fixed for the life of the process. Throws effvit::Error
// when EFFVIT_MAX_ISA names no tier, or the CPU lacks SSE4.1.
const HardwareInfo& hardware_info();

}  // namespace effvit
