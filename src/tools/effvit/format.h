// Small text-formatting helpers shared by the verbs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

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

}  // namespace effvit::cli
