#!/bin/sh
# The per-tier kernel builds contain only their tier's instructions: an AVX-512 instruction
# anywhere but in src/kernels/isa/avx512.cpp would crash an AVX2 laptop, and no test running on
# an AVX-512 machine would notice (there it just runs). So read the machine code: zmm and mask
# registers only in avx512_kernels, ymm only in avx2/avx512_kernels, no VEX encoding at all in
# sse41_kernels; and each table really is vectorised for its width.
#   isa_build.sh EFFVIT_BINARY
set -eu
objdump -d --no-show-raw-insn "$1" | awk '
  /^[0-9a-f]+ <.*>:$/ { fn = $2; next }
  /%zmm|%k[0-7]/ { if (fn ~ /avx512_kernels/) zmm++; else { bad[fn] = "AVX-512"; } }
  /%ymm/ { if (fn ~ /avx2_kernels/) ymm++; else if (fn !~ /avx512_kernels/) bad[fn] = "AVX"; }
  /\tv[a-z]/ { if (fn ~ /sse41_kernels/) bad[fn] = "VEX-encoded" }
  END {
    n = 0
    for (f in bad) { printf "FAIL: %s instructions in %s\n", bad[f], f; n++ }
    if (zmm == 0) { print "FAIL: the avx512 kernels use no zmm register"; n++ }
    if (ymm == 0) { print "FAIL: the avx2 kernels use no ymm register"; n++ }
    if (n) exit 1
    printf "ok: %d zmm instructions in avx512_kernels, %d ymm in avx2_kernels, none elsewhere\n", zmm, ymm
  }'
