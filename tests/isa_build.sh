#!/bin/sh
# The per-tier kernel builds contain only their tier's instructions: an AVX-512 instruction
# anywhere but in src/kernels/isa/avx512.cpp would crash an AVX2 laptop, and no test running on
# an AVX-512 machine would notice (there it just runs). So read the machine code by encoding:
# EVEX (AVX-512, whatever the register width) only in avx512_kernels, VEX (AVX/AVX2/FMA) only in
# avx2_kernels and avx512_kernels, neither anywhere else; and each table is really vectorised.
#   isa_build.sh EFFVIT_BINARY
set -eu
objdump -d "$1" | awk -F'\t' '
  /^[0-9a-f]+ <.*>:$/ { fn = $0; next }
  NF < 3 { next }  # continuation lines carry only the bytes of a long instruction
  {
    n = split($2, bytes, " ")
    i = 1
    while (i < n && (bytes[i] == "64" || bytes[i] == "65" || bytes[i] == "67")) i++  # segment/address prefixes
    if (bytes[i] == "62") {
      if (fn ~ /avx512_kernels/) evex++; else bad[fn] = "AVX-512 (EVEX)"
    } else if (bytes[i] == "c4" || bytes[i] == "c5") {
      if (fn ~ /avx2_kernels/) vex2++
      else if (fn !~ /avx512_kernels/) bad[fn] = "AVX (VEX)"
    }
  }
  END {
    n = 0
    for (f in bad) { printf "FAIL: %s instructions in %s\n", bad[f], f; n++ }
    if (evex == 0) { print "FAIL: the avx512 kernels have no AVX-512 instruction"; n++ }
    if (vex2 == 0) { print "FAIL: the avx2 kernels have no AVX instruction"; n++ }
    if (n) exit 1
    printf "ok: %d AVX-512 instructions in avx512_kernels, %d AVX ones in avx2_kernels, none elsewhere\n", evex, vex2
  }'
