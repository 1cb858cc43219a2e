#include "cpu/hardware.h"

#include <cpuid.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>
#include <string>

#include "effvit/error.h"
#include "kernels/kernels.h"

namespace effvit {
namespace {

constexpr IsaTier kAllTiers[] = {IsaTier::sse41,       IsaTier::avx2,        IsaTier::avx2_vnni, IsaTier::avx512,
                                 IsaTier::avx512_vnni, IsaTier::avx512_bf16, IsaTier::amx};

std::string cpu_brand() {
  unsigned regs[12] = {};
  unsigned max_ext = __get_cpuid_max(0x80000000u, nullptr);
  if (max_ext < 0x80000004u) return "unknown x86-64";
  for (unsigned i = 0; i < 3; ++i) __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
  char text[sizeof regs + 1] = {};
  std::memcpy(text, regs, sizeof regs);
  std::string s(text);
  const size_t first = s.find_first_not_of(' '), last = s.find_last_not_of(' ');
  s = first == std::string::npos ? "unknown x86-64" : s.substr(first, last - first + 1);
  // Virtual machines often show a bare "AMD EPYC": family and model tell Zen 3 from Zen 4.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
    const unsigned base_family = (eax >> 8) & 0xf, base_model = (eax >> 4) & 0xf;
    const unsigned family = base_family == 0xf ? base_family + ((eax >> 20) & 0xff) : base_family;
    const unsigned model = base_family == 0x6 || base_family == 0xf ? base_model | (((eax >> 16) & 0xf) << 4) : base_model;
    s += " (family " + std::to_string(family) + ", model " + std::to_string(model) + ")";
  }
  return s;
}

// oneDNN's ISA for a tier. At the native tier oneDNN is left uncapped, so extensions effvit does not
// name stay available to it.
dnnl::cpu_isa dnnl_isa_for(IsaTier tier) {
  switch (tier) {
    case IsaTier::sse41: return dnnl::cpu_isa::sse41;
    case IsaTier::avx2: return dnnl::cpu_isa::avx2;
    case IsaTier::avx2_vnni: return dnnl::cpu_isa::avx2_vnni;
    case IsaTier::avx512: return dnnl::cpu_isa::avx512_core;
    case IsaTier::avx512_vnni: return dnnl::cpu_isa::avx512_core_vnni;
    case IsaTier::avx512_bf16: return dnnl::cpu_isa::avx512_core_bf16;
    case IsaTier::amx: return dnnl::cpu_isa::avx512_core_amx;
  }
  return dnnl::cpu_isa::sse41;
}

// The tier oneDNN actually runs at (it may have been capped before us, e.g. by ONEDNN_MAX_CPU_ISA).
IsaTier tier_of_dnnl(dnnl::cpu_isa isa) {
  IsaTier best = IsaTier::sse41;
  for (IsaTier t : kAllTiers) {
    const auto need = static_cast<unsigned>(dnnl_isa_for(t));
    if ((static_cast<unsigned>(isa) & need) == need) best = t;
  }
  return best;
}

// oneDNN's own cap (ONEDNN_MAX_CPU_ISA, or the older DNNL_MAX_CPU_ISA) as an effvit tier: a user
// who caps oneDNN caps effvit too. Unset, empty or a name oneDNN does not know: no cap.
std::optional<IsaTier> dnnl_env_cap() {
  const char* value = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (!value || !*value) value = std::getenv("DNNL_MAX_CPU_ISA");
  if (!value || !*value) return std::nullopt;
  std::string name(value);
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name == "SSE41" || name == "AVX") return IsaTier::sse41;  // AVX: 8-float vectors, as sse41's blocks
  if (name == "AVX2") return IsaTier::avx2;
  if (name == "AVX2_VNNI") return IsaTier::avx2_vnni;
  if (name == "AVX512_CORE") return IsaTier::avx512;
  if (name == "AVX512_CORE_VNNI") return IsaTier::avx512_vnni;
  if (name == "AVX512_CORE_BF16") return IsaTier::avx512_bf16;
  return std::nullopt;  // ALL, AVX512_CORE_AMX and unknown names leave every tier available
}

Hardware decide() {
  Hardware hw;
  HardwareInfo& info = hw.info;
  if (!cpu_supports(IsaTier::sse41)) throw Error(ErrorKind::unsupported, "effvit needs an x86-64 CPU with SSE4.1");
  info.cpu_model = cpu_brand();
  for (IsaTier t : kAllTiers)
    if (cpu_supports(t)) {
      info.supported.push_back(t);
      info.native = t;
    }
  info.tier = info.native;
  std::optional<IsaTier> cap = dnnl_env_cap();
  if (const char* value = std::getenv("EFFVIT_MAX_ISA"); value && *value) {
    const auto requested = parse_isa_tier(value);
    if (!requested)
      throw Error(ErrorKind::invalid_input, std::string("EFFVIT_MAX_ISA: unknown tier '") + value + "' (expected sse41, avx2, avx2_vnni, avx512, avx512_vnni, avx512_bf16 or amx)");
    cap = cap ? std::min(*cap, *requested) : *requested;
  }
  // The best tier at or below the cap that this CPU has (tiers are not nested: AVX-VNNI is not a
  // subset of AVX-512 VNNI).
  if (cap) {
    info.tier = IsaTier::sse41;
    for (IsaTier t : info.supported)
      if (t <= *cap) info.tier = t;
  }
  // Set even when ONEDNN_MAX_CPU_ISA is: the tier is already at or below it.
  if (info.tier != info.native) {
    try {
      dnnl::set_max_cpu_isa(dnnl_isa_for(info.tier));
    } catch (const dnnl::error&) {
      // oneDNN already fixed its ISA (the host program used it first); checked below.
    }
  }
  // Agree with oneDNN: capped lower, our layouts must follow it, or its kernels would see formats
  // they cannot take; running higher than the cap asked of it, the cap is not in force.
  // (Uncapped, oneDNN may see more than cpuid tells us, e.g. AMX after its own permission
  // request; that changes nothing effvit derives.)
  const IsaTier dnnl_tier = tier_of_dnnl(dnnl::get_effective_cpu_isa());
  if (dnnl_tier < info.tier) info.tier = dnnl_tier;
  if (dnnl_tier > info.tier && info.tier < info.native)
    throw Error(ErrorKind::invalid_input, std::string("EFFVIT_MAX_ISA=") + isa_tier_name(info.tier) + " cannot be applied: oneDNN was set up at " +
                isa_tier_name(dnnl_tier) + " before effvit loaded (load a model before using oneDNN directly)");
  info.channel_block = channel_block_for(info.tier);
  hw.kernels = &kernels_for(info.tier);
  hw.lookup_u8 = hw.kernels->lookup_u8_vbmi && __builtin_cpu_supports("avx512vbmi") ? hw.kernels->lookup_u8_vbmi : hw.kernels->lookup_u8;
  return hw;
}

}  // namespace

const char* isa_tier_name(IsaTier tier) {
  switch (tier) {
    case IsaTier::sse41: return "sse41";
    case IsaTier::avx2: return "avx2";
    case IsaTier::avx2_vnni: return "avx2_vnni";
    case IsaTier::avx512: return "avx512";
    case IsaTier::avx512_vnni: return "avx512_vnni";
    case IsaTier::avx512_bf16: return "avx512_bf16";
    case IsaTier::amx: return "amx";
  }
  return "?";
}

std::optional<IsaTier> parse_isa_tier(std::string_view name) {
  for (IsaTier t : kAllTiers)
    if (name == isa_tier_name(t)) return t;
  return std::nullopt;
}

bool cpu_supports(IsaTier tier) {
  __builtin_cpu_init();
  const bool sse41 = __builtin_cpu_supports("sse4.1");
  const bool avx2 = sse41 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const bool avx512_vnni = avx512 && __builtin_cpu_supports("avx512vnni");
  const bool avx512_bf16 = avx512_vnni && __builtin_cpu_supports("avx512bf16");
  switch (tier) {
    case IsaTier::sse41: return sse41;
    case IsaTier::avx2: return avx2;
    case IsaTier::avx2_vnni: return avx2 && __builtin_cpu_supports("avxvnni");
    case IsaTier::avx512: return avx512;
    case IsaTier::avx512_vnni: return avx512_vnni;
    case IsaTier::avx512_bf16: return avx512_bf16;
    case IsaTier::amx:
      return avx512_bf16 && __builtin_cpu_supports("amx-tile") &&
             __builtin_cpu_supports("amx-int8") && __builtin_cpu_supports("amx-bf16");
  }
  return false;
}

int channel_block_for(IsaTier tier) { return tier >= IsaTier::avx512 ? 16 : 8; }

const Hardware& hardware() {
  static const Hardware hw = decide();
  return hw;
}

const HardwareInfo& hardware_info() { return hardware().info; }

}  // namespace effvit
