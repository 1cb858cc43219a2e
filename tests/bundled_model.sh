#!/bin/sh
# The bundled Fashion-MNIST model, run by effvit on real test images it never trained on, keeps its
# accuracy (the full 10k set measures 93.45 %; 1000 images must clear 91 %), and its metadata
# drives preprocessing and class names.
#   bundled_model.sh EFFVIT_BINARY WORKDIR
. "$(dirname "$0")/cli_lib.sh"
model=$testdir/../models/efficientvit_m0_fashion_mnist.onnx
"$effvit" eval "$model" --data /usr/share/datasets/fashion-mnist --limit 1000 --json >eval.json 2>/dev/null
"$effvit" info "$model" --json >info.json
"$python" - <<'PY'
import json
e, i = json.load(open("eval.json")), json.load(open("info.json"))
assert e["count"] == 1000, e
assert e["top1"] >= 0.91, f"bundled model top-1 {e['top1']:.4f} on 1000 test images"
assert i["variant"] == "m0" and i["outputs"][0]["shape"] == [-1, 10], i
print(f"ok: top-1 {e['top1']:.4f}, top-5 {e['top5']:.4f}")
PY
