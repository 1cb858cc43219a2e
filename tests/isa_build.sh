#!/bin/sh
# The per-tier kernel builds contain only their tier's instructions: an AVX-512 instruction
# anywhere but in src/kernels/isa/avx512*.cpp would crash an AVX2 laptop, and no test running on
# an AVX-512 machine would notice (there it just runs). So read the machine code by encoding:
# EVEX (AVX-512, whatever the register width) only in avx512_kernels and avx512_bf16_kernels, VEX
# (AVX/AVX2/FMA) only in those and avx2_kernels, neither anywhere else; AVX512_BF16's
# instructions (vdpbf16ps, vcvtne[2]ps2bf16: Zen 3 and Skylake-X fault on them) only in
# avx512_bf16_kernels; and each table is really vectorised.
#   isa_build.sh EFFVIT_BINARY
set -eu
objdump -d "$1" | awk -F'\t' '
  /^[0-9a-f]+ <.*>:$/ { fn = $0; next }
  NF < 3 { next }  # continuation lines carry only the bytes of a long instruction
  {
    n = split($2, bytes, " ")
    i = 1
    while (i < n && (bytes[i] == "64" || bytes[i] == "65" || bytes[i] == "67")) i++  # segment/address prefixes
    avx512 = fn ~ /avx512_kernels|avx512_bf16_kernels/
    if ($3 ~ /^(vdpbf16ps|vcvtne2ps2bf16|vcvtneps2bf16)/) {
      if (fn ~ /avx512_bf16_kernels/) bf16++; else bad[fn] = "AVX512_BF16"
    }
    if (bytes[i] == "62") {
      if (avx512) evex++; else bad[fn] = "AVX-512 (EVEX)"
    } else if (bytes[i] == "c4" || bytes[i] == "c5") {
      if (fn ~ /avx2_kernels/) vex2++
      else if (!avx512) bad[fn] = "AVX (VEX)"
    }
  }
  END {
    n = 0
    for (f in bad) { printf "FAIL: %s instructions in %s\n", bad[f], f; n++ }
    if (evex == 0) { print "FAIL: the avx512 kernels have no AVX-512 instruction"; n++ }
    if (vex2 == 0) { print "FAIL: the avx2 kernels have no AVX instruction"; n++ }
    if (bf16 == 0) { print "FAIL: the avx512_bf16 kernels have no AVX512_BF16 instruction"; n++ }
    if (n) exit 1
    printf "ok: %d AVX-512 instructions in avx512*_kernels (%d AVX512_BF16), %d AVX ones in avx2_kernels, none elsewhere\n", evex, bf16, vex2
  }'
