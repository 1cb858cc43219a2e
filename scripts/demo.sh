#!/bin/sh
# `make demo`: the seed's flow on the bundled Fashion-MNIST model, end to end on this machine —
# classify real test images, evaluate on the full 10k test set, quantize to int8 from the model's
# YAML (NV12 input, as on the board), evaluate and classify with that, benchmark one and two
# streams of both, and print the seed's table (also written to docs/results.md).
set -eu
build=${1:-build}
effvit=$build/effvit
model=models/efficientvit_m0_fashion_mnist.onnx
data=/usr/share/datasets/fashion-mnist
out=$build/demo
mkdir -p "$out" docs

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
"$effvit" classify "$model" "$out"/samples/*/*.png --topk 1 --render docs/demo_contact_sheet.png

echo
echo "== float32 accuracy on all 10000 Fashion-MNIST test images"
"$effvit" eval "$model" --data "$data" --json >"$out/eval_fp32.json"
float_top1=$(json_field "$out/eval_fp32.json" top1)

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

for precision in fp32 int8; do
    m=$model
    [ "$precision" = int8 ] && m=$int8_model
    echo
    echo "== $precision latency: one stream, one thread"
    "$effvit" bench "$m" --threads 1 --iters 100 --warmup 10 --json >"$out/bench_${precision}_1.json"
    echo "== $precision throughput: two streams on two cores"
    "$effvit" bench "$m" --threads 1 --streams 2 --iters 100 --warmup 10 --json >"$out/bench_${precision}_2.json"
done
"$effvit" info "$model" --json >"$out/info.json"

params=$(json_field "$out/info.json" params)
cpu=$(awk -F'"' '$2 == "cpu" { print $4; exit }' "$out/info.json")
isa=$(awk -F'"' '$2 == "isa" { print $4; exit }' "$out/info.json")
row() {  # row PRECISION INPUT TOP1
    awk -v pr="$1" -v inp="$2" -v p="$params" -v t="$3" -v l1="$(json_field "$out/bench_$1_1.json" median)" \
        -v l2="$(json_field "$out/bench_$1_2.json" median 2)" -v fps="$(json_field "$out/bench_$1_2.json" fps)" 'BEGIN {
        printf "| EfficientViT-M0 (Fashion-MNIST) | %s | %s | 10 | %.2f M | %.2f%% | %.2f ms | %.2f ms | %.1f |\n",
               pr, inp, p / 1e6, 100 * t, l1, l2, fps }'
}
table=$(printf '%s\n%s\n%s\n%s' \
    "| model | precision | input | classes | params | top-1 | latency 1 thread | latency 2 streams | FPS |" \
    "|---|---|---|---|---|---|---|---|---|" \
    "$(row fp32 "224x224 RGB float" "$float_top1")" \
    "$(row int8 "224x224 NV12 uint8" "$int8_top1")")

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
    echo "Contact sheet of the classified samples: [demo_contact_sheet.png](demo_contact_sheet.png)."
} >docs/results.md

echo
echo "$table"
echo
echo "(written to docs/results.md; contact sheet: docs/demo_contact_sheet.png)"
