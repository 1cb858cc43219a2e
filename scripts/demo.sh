#!/bin/sh
# `make demo`: the seed's flow on the bundled Fashion-MNIST model, end to end on this machine —
# classify real test images, evaluate on the full 10k test set (fp32, bf16 where the CPU has bf16
# units), quantize to int8 from the model's YAML (NV12 input, as on the board), evaluate and
# classify with that, benchmark one and two streams of each, and print the seed's table. Then the
# seed's own row, M5: an untrained M5 export (python/make_fixture.py), quantized from the seed's
# YAML with only its paths changed, timed in fp32, bf16 and int8 (speed only: no accuracy for
# untrained weights). Both tables are also written to RESULTS/results.md (default: BUILD/demo, so
# that a user's run leaves the tree as it was; `make demo RESULTS=docs` records them in docs/).
#
#   demo.sh [BUILD] [RESULTS]
set -eu
build=${1:-build}
effvit=$build/effvit
model=models/efficientvit_m0_fashion_mnist.onnx
data=/usr/share/datasets/fashion-mnist
out=$build/demo
results=${2:-$out}
python=${PYTHON:-/usr/bin/python3}
mkdir -p "$out" "$results"
# Results of an earlier run (on another CPU, or another tier) must not stand in for this one's.
rm -f "$out"/bench_*.json "$out"/eval_*.json
# bf16 runs where the ISA tier has native bf16 dot products; elsewhere its rows say why not.
isa=$("$effvit" info "$model" --json | awk -F'"' '$2 == "isa" { print $4; exit }')
case $isa in
    avx512_bf16|amx) bf16=yes ;;
    *) bf16="" ;;
esac

# Pull a field out of effvit's pretty-printed JSON: json_field FILE KEY [nth match].
json_field() {
    awk -v key="\"$2\":" -v nth="${3:-1}" '$1 == key { if (++n == nth) { v = $2; sub(/,$/, "", v); gsub(/"/, "", v); print v } }' "$1"
}

echo "== model"
"$effvit" info "$model"

echo
echo "== classify a few real test images (written out as PNG, true class = folder name)"
rm -rf "$out/samples"
"$effvit" eval "$model" --data "$data" --limit 10 --save-images "$out/samples" >/dev/null 2>&1
"$effvit" classify "$model" "$out"/samples/*/*.png --topk 1 --render "$results"/demo_contact_sheet.png

echo
echo "== float32 accuracy on all 10000 Fashion-MNIST test images"
"$effvit" eval "$model" --data "$data" --json >"$out/eval_fp32.json"
float_top1=$(json_field "$out/eval_fp32.json" top1)
if [ -n "$bf16" ]; then
    echo "== bf16 accuracy on the same 10000 images (conv chains in bfloat16)"
    "$effvit" eval "$model" --data "$data" --precision bf16 --json >"$out/eval_bf16.json"
    bf16_top1=$(json_field "$out/eval_bf16.json" top1)
fi

echo
echo "== int8: quantize from models/efficientvit_m0_fashion_mnist.yaml (200 training images, NV12 input)"
"$effvit" quantize --config models/efficientvit_m0_fashion_mnist.yaml --json >"$out/quantize.json"
int8_model=$(json_field "$out/quantize.json" output)
echo "wrote $int8_model"
echo "== int8: classify the same images, turned into NV12 frames as the board's demo does"
"$effvit" classify "$int8_model" "$out"/samples/*/*.png --topk 1
echo "== int8 accuracy on all 10000 test images"
"$effvit" eval "$int8_model" --data "$data" --json >"$out/eval_int8.json"
int8_top1=$(json_field "$out/eval_int8.json" top1)

# bench_pair NAME MODEL PRECISION: one stream, then two streams on two cores.
bench_pair() {
    echo
    echo "== $1: latency, one stream, one thread"
    "$effvit" bench "$2" --precision "$3" --threads 1 --iters 100 --warmup 10 --json >"$out/bench_$1_1.json"
    echo "== $1: throughput, two streams on two cores"
    "$effvit" bench "$2" --precision "$3" --threads 1 --streams 2 --iters 100 --warmup 10 --json >"$out/bench_$1_2.json"
}
bench_pair fp32 "$model" fp32
[ -n "$bf16" ] && bench_pair bf16 "$model" bf16
bench_pair int8 "$int8_model" fp32
"$effvit" info "$model" --json >"$out/info.json"

params=$(json_field "$out/info.json" params)
cpu=$(awk -F'"' '$2 == "cpu" { print $4; exit }' "$out/info.json")
no_bf16="n/a: tier $isa has no bf16 units"
# row MODEL CLASSES PARAMS BENCH PRECISION INPUT TOP1: one line of the seed's table; TOP1 is a
# fraction, or text to print as it is.
row() {
    if [ ! -f "$out/bench_$4_1.json" ]; then
        printf '| %s | %s | %s | %s | %.2f M | %s | %s | %s | %s |\n' "$1" "$5" "$6" "$2" "$(echo "$3" | awk '{ print $1 / 1e6 }')" \
            "$no_bf16" "-" "-" "-"
        return
    fi
    awk -v m="$1" -v c="$2" -v p="$3" -v pr="$5" -v inp="$6" -v t="$7" -v l1="$(json_field "$out/bench_$4_1.json" median)" \
        -v l2="$(json_field "$out/bench_$4_2.json" median 2)" -v fps="$(json_field "$out/bench_$4_2.json" fps)" 'BEGIN {
        top = t ~ /^[0-9.]+$/ ? sprintf("%.2f%%", 100 * t) : t
        printf "| %s | %s | %s | %s | %.2f M | %s | %.2f ms | %.2f ms | %.1f |\n", m, pr, inp, c, p / 1e6, top, l1, l2, fps }'
}
header="| model | precision | input | classes | params | top-1 | latency 1 thread | latency 2 streams | FPS |
|---|---|---|---|---|---|---|---|---|"
m0="EfficientViT-M0 (Fashion-MNIST)"
table=$(printf '%s\n%s\n%s\n%s' "$header" \
    "$(row "$m0" 10 "$params" fp32 fp32 "224x224 RGB float" "$float_top1")" \
    "$(row "$m0" 10 "$params" bf16 bf16 "224x224 RGB float" "${bf16_top1:-}")" \
    "$(row "$m0" 10 "$params" int8 int8 "224x224 NV12 uint8" "$int8_top1")")

echo
echo "== the seed's row: EfficientViT-M5 (untrained weights, speed only)"
m5=$out/m5
mkdir -p "$m5/calibration_data_rgb_f32"
[ -f "$m5/efficientvit_m5.onnx" ] || {
    "$python" python/make_fixture.py --variant m5 --layout timm --outdir "$m5/export" >/dev/null
    mv "$m5/export/model.onnx" "$m5/efficientvit_m5.onnx"
}
# Calibration samples in the seed's format (float32 RGB pixels, NCHW): 20 Fashion-MNIST training
# images at 224x224.
"$python" - "$m5/calibration_data_rgb_f32" <<'PY'
import gzip, sys
import numpy as np
with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(16 + 20 * 784), np.uint8)[16:].reshape(20, 28, 28)
for i, img in enumerate(images):
    big = np.kron(img, np.ones((8, 8), np.uint8)).astype(np.float32)
    np.save(f"{sys.argv[1]}/sample{i:02d}.npy", np.repeat(big[None, None], 3, axis=1))
PY
# The seed's YAML (a copy is kept in tests/data) beside the export and samples it names: its
# relative paths then hold as they are.
cp tests/data/EfficientViT_MSRA_m5_config.yaml "$m5/EfficientViT_MSRA_m5_config.yaml"
"$effvit" quantize --config "$m5/EfficientViT_MSRA_m5_config.yaml" --json >"$out/quantize_m5.json" 2>"$out/quantize_m5.log"
m5_int8=$(json_field "$out/quantize_m5.json" output)
bench_pair m5_fp32 "$m5/efficientvit_m5.onnx" fp32
[ -n "$bf16" ] && bench_pair m5_bf16 "$m5/efficientvit_m5.onnx" bf16
bench_pair m5_int8 "$m5_int8" fp32
m5_params=$("$effvit" info "$m5/efficientvit_m5.onnx" --json | awk '$1 == "\"params\":" { sub(/,$/, "", $2); print $2 }')
untrained="n/a (untrained, speed only)"
m5name="EfficientViT-M5 (untrained)"
m5_table=$(printf '%s\n%s\n%s\n%s' "$header" \
    "$(row "$m5name" 1000 "$m5_params" m5_fp32 fp32 "224x224 RGB float" "$untrained")" \
    "$(row "$m5name" 1000 "$m5_params" m5_bf16 bf16 "224x224 RGB float" "$untrained")" \
    "$(row "$m5name" 1000 "$m5_params" m5_int8 int8 "224x224 NV12 uint8" "$untrained")")

{
    echo "# effvit results on this machine"
    echo
    echo "Written by \`make demo\` on $(date -u +%Y-%m-%d) — $cpu, ISA tier $isa, $(nproc) cores. Model: \`$model\`;"
    echo "int8: \`effvit quantize --config models/efficientvit_m0_fashion_mnist.yaml\` (calibrated on 200 training"
    echo "images, NV12 input as on the RDK board). Top-1 over the 10000 Fashion-MNIST test images; latency ="
    echo "median of 100 runs, batch 1; FPS = two streams (one thread each) sharing one loaded model."
    echo
    echo "$table"
    echo
    echo "bf16: conv chains in bfloat16 with float32 sums (\`--precision bf16\`), on CPUs with bf16 units only."
    echo
    echo "The seed's row, EfficientViT-M5 (12.4 M parameters; untrained weights from \`python/make_fixture.py\`, so"
    echo "speed only). int8: the seed's own \`EfficientViT_MSRA_m5_config.yaml\` with only its paths changed (NV12"
    echo "input; its 28 int16 Softmax entries stay float32), calibrated on 20 Fashion-MNIST training images."
    echo
    echo "$m5_table"
    echo
    echo "Contact sheet of the classified samples: [demo_contact_sheet.png](demo_contact_sheet.png)."
} >"$results"/results.md

echo
echo "$table"
echo
echo "$m5_table"
echo
echo "(written to $results/results.md; contact sheet: $results/demo_contact_sheet.png)"
