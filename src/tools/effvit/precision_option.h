// --precision, the same on run, classify, eval, bench, info and serve.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <string>

#include "effvit/model.h"
#include "runtime/precision.h"

namespace effvit::cli {

inline CLI::Option* add_precision_option(CLI::App* cmd, Precision& precision) {
  static const std::map<std::string, Precision> names{
      {"fp32", Precision::fp32}, {"bf16", Precision::bf16}, {"auto", Precision::automatic}};
  return cmd
      ->add_option("--precision", precision,
                   "fp32: exact (default); bf16: conv chains in bfloat16 with float32 sums (CPUs with native bf16: tier "
                   "avx512_bf16 or amx); auto: bf16 where the CPU has it, else fp32")
      ->transform(CLI::CheckedTransformer(names))
      ->option_text("fp32|bf16|auto");
}

// What `auto` chose, on stderr (stdout stays the command's result).
inline void say_precision(Precision asked, const std::string& running) {
  if (asked != Precision::automatic) return;
  const std::string why = running == "fp32" ? " (no bf16: " + running_tier_text() + ")" : "";
  std::fprintf(stderr, "effvit: precision auto: running %s%s\n", running.c_str(), why.c_str());
}

}  // namespace effvit::cli
