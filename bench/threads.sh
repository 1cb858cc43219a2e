#!/bin/sh
# --threads 1 against --threads 2 on one image, interleaved round by round (this machine is noisy:
# only ratios measured side by side mean anything), medians and the speed-up. EFFVIT_MAX_ISA
# applies as usual.
#
#   bench/threads.sh EFFVIT_BINARY MODEL [ROUNDS] [ITERS]
set -eu
effvit=$1 model=$2 rounds=${3:-7} iters=${4:-40}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
latency() { "$effvit" bench "$model" --threads "$1" --iters "$iters" --warmup 5 --json | awk '$1 == "\"median\":" { sub(/,$/, "", $2); print $2; exit }'; }
one="" two=""
i=0
while [ "$i" -lt "$rounds" ]; do
    one="$one $(latency 1)" two="$two $(latency 2)"
    i=$((i + 1))
done
a=$(printf '%s\n' $one | median)
b=$(printf '%s\n' $two | median)
hw=$("$effvit" info "$model" --json | awk -F'"' '$2 == "isa" { isa = $4 } $2 == "cpu" { cpu = $4 } END { print isa " on " cpu }')
awk -v a="$a" -v b="$b" -v m="$model" -v hw="$hw" -v r="$rounds" \
    'BEGIN { printf "%s: 1 thread %.3f ms, 2 threads %.3f ms, speed-up %.2fx (medians of %d rounds; isa %s)\n", m, a, b, a / b, r, hw }'
