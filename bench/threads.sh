#!/bin/sh
# --threads 1 against --threads 2 on one image, interleaved round by round (this machine is noisy:
# only ratios measured side by side mean anything), medians and the speed-up. EFFVIT_MAX_ISA
# applies as usual.
#
#   bench/threads.sh EFFVIT_BINARY MODEL [ROUNDS] [ITERS]
set -eu
effvit=$1 model=$2 rounds=${3:-7} iters=${4:-40}
. "$(dirname "$0")/lib.sh"
one="" two=""
i=0
while [ "$i" -lt "$rounds" ]; do
    one="$one $(effvit_latency "$effvit" "$model" 1 "$iters")" two="$two $(effvit_latency "$effvit" "$model" 2 "$iters")"
    i=$((i + 1))
done
a=$(printf '%s\n' $one | median)
b=$(printf '%s\n' $two | median)
hw=$(effvit_hardware "$effvit" "$model")
awk -v a="$a" -v b="$b" -v m="$model" -v hw="$hw" -v r="$rounds" \
    'BEGIN { printf "%s: 1 thread %.3f ms, 2 threads %.3f ms, speed-up %.2fx (medians of %d rounds; isa %s)\n", m, a, b, a / b, r, hw }'
