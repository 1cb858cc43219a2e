#!/bin/sh
# End-to-end exactness of `effvit run` against PyTorch for one export configuration: builds a
# random-weight fixture with python/make_fixture.py, runs effvit on it and compares the logits.
#
#   model_exactness.sh EFFVIT_BINARY WORKDIR VARIANT LAYOUT OPSET FUSE(0|1) DYNAMIC(0|1) BATCH SEED
#
# PYTHON (default /usr/bin/python3) must have torch, onnx and numpy; RTOL (default 1e-4) is passed
# to compare_npy.py.
set -eu

if [ $# -ne 9 ]; then
    echo "usage: $0 EFFVIT_BINARY WORKDIR VARIANT LAYOUT OPSET FUSE(0|1) DYNAMIC(0|1) BATCH SEED" >&2
    exit 2
fi
effvit=$1 workdir=$2 variant=$3 layout=$4 opset=$5 fuse=$6 dynamic=$7 batch=$8 seed=$9
pydir=$(cd "$(dirname "$0")/../python" && pwd)
python=${PYTHON:-/usr/bin/python3}

flags=""
case $fuse in
    0) ;;
    1) flags="$flags --fuse-bn" ;;
    *) echo "$0: FUSE must be 0 or 1, got '$fuse'" >&2; exit 2 ;;
esac
case $dynamic in
    0) ;;
    1) flags="$flags --dynamic-batch" ;;
    *) echo "$0: DYNAMIC must be 0 or 1, got '$dynamic'" >&2; exit 2 ;;
esac
# EXTERNAL_DATA=1 stores the weights beside the graph (ONNX external data); THREADS=N runs
# effvit with N threads inside the inference.
if [ "${EXTERNAL_DATA:-0}" = 1 ]; then flags="$flags --external-data"; fi

# One directory per configuration, so tests run in parallel never share files.
dir=$workdir/exact_${variant}_${layout}_op${opset}_fuse${fuse}_dyn${dynamic}_b${batch}_s${seed}_x${EXTERNAL_DATA:-0}
mkdir -p "$dir"
# shellcheck disable=SC2086
"$python" "$pydir/make_fixture.py" --variant "$variant" --layout "$layout" --opset "$opset" \
    --batch "$batch" --seed "$seed" --outdir "$dir" $flags
# A stale output from an earlier run must not stand in for one effvit failed to write.
rm -f "$dir/out.npy"
"$effvit" run "$dir/model.onnx" --input "$dir/input.npy" --output "$dir/out.npy" --threads "${THREADS:-1}"
"$python" "$pydir/compare_npy.py" "$dir/out.npy" "$dir/expected.npy" --rtol "${RTOL:-1e-4}"
# bf16 (conv chains in bfloat16): close to PyTorch's float32 logits. Natively where the tier has
# bf16; on other AVX-512 tiers through oneDNN's emulation (EFFVIT_TEST_FORCE_BF16, tests only).
# Below AVX-512 there is no bf16 conv to test, and the run must be refused.
# The bar is loose because these random-weight fixtures amplify rounding: rounding only the input
# image to bf16 and running float32 already drops M5's cosine to 0.9973 (bf16 measures 0.975-0.998
# across M0-M5). The issue's bars (cosine 0.999, top-1 agreement) hold on the trained bundled
# model: tests/python/test_bf16.py.
tier=$("$effvit" info "$dir/model.onnx" --json | "$python" -c "import json, sys; print(json.load(sys.stdin)['isa'])")
case $tier in
    avx512_bf16|amx) force=0 ;;
    avx512|avx512_vnni) force=1 ;;
    *) force="" ;;
esac
rm -f "$dir/out_bf16.npy"
if [ -n "$force" ]; then
    EFFVIT_TEST_FORCE_BF16=$force "$effvit" run "$dir/model.onnx" --input "$dir/input.npy" --output "$dir/out_bf16.npy" \
        --threads "${THREADS:-1}" --precision bf16 2>"$dir/err_bf16.txt" || { cat "$dir/err_bf16.txt" >&2; exit 1; }
    "$python" "$pydir/compare_npy.py" "$dir/out_bf16.npy" "$dir/expected.npy" --cosine 0.95
elif "$effvit" run "$dir/model.onnx" --input "$dir/input.npy" --output "$dir/out_bf16.npy" --precision bf16 2>"$dir/err_bf16.txt" \
    || [ -e "$dir/out_bf16.npy" ] || ! grep -q "precision bf16 needs native bf16 dot products .* tier $tier" "$dir/err_bf16.txt"; then
    echo "FAIL: bf16 at tier $tier was not refused by name:" >&2
    cat "$dir/err_bf16.txt" >&2
    exit 1
fi
# Non-finite input never gives finite logits: one NaN pixel, and one infinity, are refused by name
# (PyTorch and ONNX Runtime would answer NaN; a ReLU's max(x, 0) would hide it in plausible logits).
"$python" -c "
import numpy as np
x = np.load('$dir/input.npy')
for name, value in (('nan', np.nan), ('inf', np.inf)):
    y = x.copy()
    y.flat[y.size // 2 + 7] = value
    np.save('$dir/input_%s.npy' % name, y)
"
for bad in nan inf; do
    rm -f "$dir/out_$bad.npy"
    if "$effvit" run "$dir/model.onnx" --input "$dir/input_$bad.npy" --output "$dir/out_$bad.npy" 2>"$dir/err_$bad.txt" \
        || [ -e "$dir/out_$bad.npy" ] || ! grep -q "input 'input' holds .* at \[[0-9,]*\] (element [0-9]*); effvit refuses non-finite inputs" "$dir/err_$bad.txt"; then
        echo "FAIL: a $bad input was not refused by name:" >&2
        cat "$dir/err_$bad.txt" >&2
        exit 1
    fi
done
# MEMORY_CHECK=PROGRAM: also hold the model's resident memory to its bar (tests/model_memory.cpp).
# In bf16 too where bf16 convs run (the bf16 packings must then be the weights' only copy).
if [ -n "${MEMORY_CHECK:-}" ]; then
    "$MEMORY_CHECK" "$dir/model.onnx"
    if [ -n "$force" ]; then EFFVIT_TEST_FORCE_BF16=$force "$MEMORY_CHECK" "$dir/model.onnx" bf16; fi
fi
