// Force-included into src/cpu/hardware.cpp in the fuzz tree only (fuzz/CMakeLists.txt), when the
// compiler is clang older than 16: clang 14 rejects the feature names "avxvnni", "avx512bf16" and
// "amx-*" in __builtin_cpu_supports at compile time. Those tiers (avx2_vnni and AMX) then count as
// absent, so a fuzz build picks at most the avx512_vnni tier; the parsers under test do not care.
#pragma once

#include <cstring>

static inline bool effvit_fuzz_cpu_supports(const char* feature) {
  if (!std::strcmp(feature, "sse4.1")) return __builtin_cpu_supports("sse4.1");
  if (!std::strcmp(feature, "avx2")) return __builtin_cpu_supports("avx2");
  if (!std::strcmp(feature, "fma")) return __builtin_cpu_supports("fma");
  if (!std::strcmp(feature, "avx512f")) return __builtin_cpu_supports("avx512f");
  if (!std::strcmp(feature, "avx512bw")) return __builtin_cpu_supports("avx512bw");
  if (!std::strcmp(feature, "avx512dq")) return __builtin_cpu_supports("avx512dq");
  if (!std::strcmp(feature, "avx512vl")) return __builtin_cpu_supports("avx512vl");
  if (!std::strcmp(feature, "avx512vnni")) return __builtin_cpu_supports("avx512vnni");
  return false;
}
#define __builtin_cpu_supports(feature) effvit_fuzz_cpu_supports(feature)
