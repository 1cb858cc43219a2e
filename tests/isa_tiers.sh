#!/bin/sh
# Every ISA tier this machine has, forced with EFFVIT_MAX_ISA: M0 and M5 (batch 1) and a dynamic-batch
# M0 at batch 8 must run without any reference conv, matmul or layout reorder (--strict turns one
# into an error naming the node) and agree with PyTorch to 1e-4. This is how an AVX-512 machine
# tests the AVX2 and SSE4.1 paths users' laptops take.
#   isa_tiers.sh EFFVIT_BINARY WORKDIR
. "$(dirname "$0")/cli_lib.sh"
fixture() {  # DIR ARGS...: a random-weight export plus PyTorch's logits for its input
    dir=$1
    shift
    [ -f "$dir/expected.npy" ] || "$python" "$pydir/make_fixture.py" --outdir "$dir" "$@" >/dev/null
}
fixture m0 --variant m0 --layout timm --opset 13 --seed 21
fixture m5 --variant m5 --layout cream --opset 11 --fuse-bn --seed 22
fixture m0b8 --variant m0 --layout cream --opset 17 --dynamic-batch --batch 8 --seed 23

tiers=$("$effvit" info m0/model.onnx --json | "$python" -c "import json, sys; print(' '.join(json.load(sys.stdin)['isa_supported']))")
echo "tiers here: $tiers"
for tier in $tiers; do
    for case in m0 m5 m0b8; do
        rm -f "$case/out_$tier.npy"
        if ! EFFVIT_MAX_ISA=$tier "$effvit" run --strict "$case/model.onnx" -i "$case/input.npy" -o "$case/out_$tier.npy" 2>err.txt ||
           [ -s err.txt ]; then
            echo "FAIL: $case at $tier:" >&2
            cat err.txt >&2
            failures=$((failures + 1))
            continue
        fi
        if "$python" "$pydir/compare_npy.py" "$case/out_$tier.npy" "$case/expected.npy" --rtol 1e-4 >cmp.txt; then
            echo "ok: $case at $tier: $(cat cmp.txt)"
        else
            echo "FAIL: $case at $tier: $(cat cmp.txt)" >&2
            failures=$((failures + 1))
        fi
    done
    # The tier must really be the one asked for, and the batch must not change which kernels run.
    got=$(EFFVIT_MAX_ISA=$tier "$effvit" info m0/model.onnx --json | "$python" -c "import json, sys; print(json.load(sys.stdin)['isa'])")
    [ "$got" = "$tier" ] || { echo "FAIL: EFFVIT_MAX_ISA=$tier ran $got" >&2; failures=$((failures + 1)); }
done
# Every cascaded-attention head runs as one fused kernel (passes/fuse_attention_head.cpp): M0 has
# 1 + 2 + 3 blocks of 4 heads, M5 1 x 3 + 3 x 3 + 4 x 4. A change to the exporters' pattern would
# otherwise silently fall back to the nine-node form.
for expect in "m0 24" "m5 28" "m0b8 24"; do
    set -- $expect
    heads=$("$effvit" info "$1/model.onnx" --kernels | grep -c "effvit.AttentionHead .*+attention" || true)
    [ "$heads" = "$2" ] || { echo "FAIL: $1 has $heads fused attention heads, want $2" >&2; failures=$((failures + 1)); }
done
finish
