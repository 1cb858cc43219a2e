#!/bin/sh
# effvit vs ONNX Runtime, single-thread latency on the same model, measured side by side in one run
# (alternating rounds, medians, ratio). ONNX Runtime is a benchmark peer only: it is installed with
# npm into a cache folder outside the source tree and is never a build or runtime dependency.
# effvit's ISA tier (EFFVIT_MAX_ISA caps it) and the CPU are printed with the ratio; ONNX Runtime
# always runs its own best kernels for this CPU.
#
# With ORT_MODEL, ONNX Runtime runs that model instead (effvit's int8 file against ONNX Runtime's
# float32 run of the export it came from). EFFVIT_PRECISION=bf16 runs effvit in bf16 (ONNX Runtime
# stays float32: it has no bf16 path for float models on x86).
#
#   bench/compare_ort.sh EFFVIT_BINARY MODEL [ROUNDS] [ITERS] [ORT_MODEL]
set -eu
effvit=$1 model=$2 rounds=${3:-3} iters=${4:-50} ort_model=${5:-$2}
cache=${EFFVIT_ORT_CACHE:-$HOME/.cache/effvit-ort}
if [ ! -d "$cache/node_modules/onnxruntime-node" ]; then
    mkdir -p "$cache"
    # --ignore-scripts: the package's install script fetches GPU parts; the CPU library is bundled.
    (cd "$cache" && npm install --silent --ignore-scripts onnxruntime-node@1.30.0 >/dev/null)
fi
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
ours="" theirs=""
i=0
while [ "$i" -lt "$rounds" ]; do
    o=$(effvit_latency "$effvit" "$model" 1 "$iters")
    t=$(NODE_PATH="$cache/node_modules" node "$here/ort_bench.js" "$ort_model" "$iters" 5 1 | sed 's/.*"median_ms":\([0-9.]*\).*/\1/')
    ours="$ours $o" theirs="$theirs $t"
    i=$((i + 1))
done
o=$(printf '%s\n' $ours | median)
t=$(printf '%s\n' $theirs | median)
hw=$(effvit_hardware "$effvit" "$model")
precision=$(effvit_precision "$effvit" "$model")
awk -v o="$o" -v t="$t" -v m="$model" -v om="$ort_model" -v hw="$hw" -v r="$rounds" \
    -v p="$precision" \
    'BEGIN { printf "effvit %s (%s): %.3f ms, onnxruntime %s: %.3f ms, ratio %.2fx (medians of %d rounds; effvit isa %s)\n", m, p, o, om, t, o / t, r, hw }'
