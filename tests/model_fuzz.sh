#!/bin/sh
# Mutated models (attributes, initializers, wiring, raw bytes) must never crash effvit.
#   model_fuzz.sh EFFVIT_BINARY WORKDIR
. "$(dirname "$0")/cli_lib.sh"
[ -f m0/model.onnx ] || "$python" "$pydir/make_fixture.py" --variant m0 --outdir m0 --seed 13 >/dev/null
"$python" "$pydir/mutate_onnx.py" "$effvit" m0/model.onnx m0/input.npy mutants --count 60 --seed 1
