// Small text-formatting helpers shared by the verbs and the Python module.
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "effvit/hardware.h"

namespace effvit::cli {

// 12473772 -> "12.5 M", 79000000 -> "79.0 M".
inline std::string human_count(int64_t n) {
  char buf[32];
  if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.2f G", static_cast<double>(n) / 1e9);
  else if (n >= 1000000) std::snprintf(buf, sizeof buf, "%.1f M", static_cast<double>(n) / 1e6);
  else if (n >= 1000) std::snprintf(buf, sizeof buf, "%.1f K", static_cast<double>(n) / 1e3);
  else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  return buf;
}

// 36802560 -> "35.1 MiB".
inline std::string human_bytes(size_t n) {
  char buf[32];
  if (n >= (size_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1 << 20));
  else std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  return buf;
}

// "avx2 (capped from avx512_vnni by EFFVIT_MAX_ISA) on AMD EPYC 9B14": which tier runs, and where.
inline std::string hardware_line() {
  const HardwareInfo& hw = hardware_info();
  std::string s = isa_tier_name(hw.tier);
  if (hw.tier != hw.native) s += std::string(" (capped from ") + isa_tier_name(hw.native) + ")";
  return s + " on " + hw.cpu_model;
}

// The keys every JSON report carries about the hardware: "isa" (the tier in use), "isa_native",
// "isa_supported" and "cpu".
inline void add_hardware_json(nlohmann::json& j) {
  const HardwareInfo& hw = hardware_info();
  j["isa"] = isa_tier_name(hw.tier);
  j["isa_native"] = isa_tier_name(hw.native);
  nlohmann::json tiers = nlohmann::json::array();
  for (IsaTier t : hw.supported) tiers.push_back(isa_tier_name(t));
  j["isa_supported"] = tiers;
  j["cpu"] = hw.cpu_model;
}

}  // namespace effvit::cli
