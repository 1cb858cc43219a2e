#!/bin/sh
# `effvit quantize` end to end: the bundled model from an RGB YAML to a standard QDQ file (checked
# by ONNX's own checker and by its structure), its accuracy through `effvit eval`; the seed's own
# YAML (paths changed) on an M5 export with the seed's node names; and bad configs.
#
#   quantize.sh EFFVIT_BINARY WORKDIR
. "$(dirname "$0")/cli_lib.sh"
models=$(cd "$testdir/../models" && pwd)
rm -rf out cal_bad q_*.yaml
mkdir -p out cal_bad

cat >q_rgb.yaml <<YAML
model_parameters:
  onnx_model: '$models/efficientvit_m0_fashion_mnist.onnx'
  march: "bayes-e"
  working_dir: 'out'
  output_model_file_prefix: 'm0_int8'
input_parameters:
  input_type_rt: 'rgb'
  input_type_train: 'rgb'
  input_layout_train: 'NCHW'
  norm_type: 'data_mean_and_scale'
  mean_value: 123.675 116.28 103.53
  scale_value: 0.01712475 0.017507 0.01742919
calibration_parameters:
  cal_data_dir: '$models/calibration/fashion_mnist_train_200'
  cal_data_type: 'float32'
  calibration_type: 'max'
  max_percentile: 0.99999
YAML
"$effvit" quantize --config q_rgb.yaml --json >quantize.json 2>quantize.err
grep -q "model_parameters.march: ignored on a CPU" quantize.err

"$python" - "$models/efficientvit_m0_fashion_mnist.onnx" <<'PY'
import json, sys
import numpy as np
import onnx
from onnx import numpy_helper
r = json.load(open("quantize.json"))
assert r["output"].endswith("out/m0_int8.onnx"), r
assert r["samples"] == 200 and r["quantized_nodes"] > 100 and r["quantized_activations"] > 0, r
assert r["scheme"] == "portable", r
# The written model against the float one on calibration samples: every quantized node and the
# logits. int8 must be close but not identical (a comparison of a model with itself scores 1.0).
a = r["agreement"]
assert a["samples"] == 100 and len(a["nodes"]) == r["quantized_nodes"], (a["samples"], len(a["nodes"]))
assert a["top1_agreement"] >= 0.95 and 0.99 < a["logits_cosine"] < 1.0, (a["top1_agreement"], a["logits_cosine"])
cosines = [n["cosine"] for n in a["nodes"]]
assert all(0.9 < c <= 1.0 for c in cosines) and min(cosines) < 0.9999, (min(cosines), max(cosines))
assert all(n["max_error"] > 0 and n["max_abs"] > 0 for n in a["nodes"])
q = onnx.load(r["output"])
onnx.checker.check_model(q)
assert q.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8, "the deployed model takes uint8 pixels"
ops = [n.op_type for n in q.graph.node]
assert ops.count("QuantizeLinear") == r["quantized_activations"], (ops.count("QuantizeLinear"), r)
init = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
producer = {o: n for n in q.graph.node for o in n.output}
f = onnx.load(sys.argv[1])
f_init = {t.name: numpy_helper.to_array(t) for t in f.graph.initializer}
f_conv = {n.name: n for n in f.graph.node if n.op_type == "Conv"}
checked = 0
for n in q.graph.node:
    if n.op_type != "Conv":
        continue
    x, w = producer[n.input[0]], producer[n.input[1]]
    assert x.op_type == "DequantizeLinear" and w.op_type == "DequantizeLinear", n.name
    wq, scale = init[w.input[0]], init[w.input[1]]
    assert wq.dtype == np.int8 and scale.shape == (wq.shape[0],), (n.name, wq.dtype, scale.shape)
    # The portable scheme: 7-bit weights (each channel reaching 64), uint8 activations whose zero
    # point keeps 0 exact.
    assert np.abs(wq).max() == 64, (n.name, np.abs(wq).max())
    zx = init[x.input[2]]
    assert zx.dtype == np.uint8, (n.name, zx.dtype)
    # Dequantized weights within half a step of the float ones, per output channel.
    original = f_init[f_conv[n.name].input[1]]
    err = np.abs(wq.astype(np.float32) * scale[:, None, None, None] - original)
    assert (err <= scale[:, None, None, None] / 2 + 1e-7).all(), n.name
    checked += 1
assert checked > 100, checked
print("QDQ structure ok:", checked, "convs")
PY

# Accuracy on 500 real test images: int8 within one point of float32 (docs/ has the 10k numbers).
"$effvit" eval "$models/efficientvit_m0_fashion_mnist.onnx" --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \
    --limit 500 --json >fp32.json
"$effvit" eval out/m0_int8.onnx --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --limit 500 --json >int8.json
"$python" - <<'PY'
import json
a, b = json.load(open("fp32.json")), json.load(open("int8.json"))
print("top-1 fp32 %.4f int8 %.4f" % (a["top1"], b["top1"]))
assert a["count"] == b["count"] == 500
assert b["top1"] >= a["top1"] - 0.01 and b["top1"] > 0.85, (a, b)
PY

# The engine runs the convs on int8 kernels (oneDNN's, never its reference loop: EFFVIT_STRICT)
# at every ISA tier this machine has, with the same accuracy: the portable scheme's uint8 x 7-bit
# products are exact even where oneDNN sums pairs in int16 (no VNNI).
"$effvit" info out/m0_int8.onnx --kernels --json >kernels.json
"$python" - <<'PY'
import json
info = json.load(open("kernels.json"))
convs = [n for n in info["kernels"] if n["op"] == "Conv"]
int8 = [n for n in convs if n["implementation"].startswith("int8 conv")]
heads = [n for n in info["kernels"] if n["op"] == "effvit.AttentionHead"]
print("int8 convs: %d of %d at %s; %d attention heads fused (their depthwise convs inside)" % (len(int8), len(convs), info["isa"], len(heads)))
assert len(heads) == 24, len(heads)
assert len(convs) > 80 and all(n["implementation"].startswith(("int8 conv", "dequantized conv")) for n in convs)
assert len(int8) == len(convs), [n for n in convs if n not in int8][:3]
PY
for tier in $("$effvit" info out/m0_int8.onnx --json | "$python" -c "import json,sys; print(' '.join(json.load(sys.stdin)['isa_supported']))"); do
    EFFVIT_MAX_ISA=$tier "$effvit" info out/m0_int8.onnx --kernels --json >"kernels_$tier.json"
    "$python" - "kernels_$tier.json" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
convs = [n for n in info["kernels"] if n["op"] == "Conv"]
slow = [n["implementation"] for n in convs if not n["implementation"].startswith("int8 conv")]
print("%s: %d of %d convs int8" % (info["isa"], len(convs) - len(slow), len(convs)))
assert not slow, slow[:3]
PY
done
# Preprocessing parity: calibration data scaled to 0..1, already normalised, or with its colour
# channels swapped gets one note each; the real data above got none.
! grep -q "calibration data" quantize.err || { echo "FAIL: a parity note on good data" >&2; failures=$((failures + 1)); }
"$python" - <<'PY'
import os
import numpy as np
rng = np.random.default_rng(1)
def natural():  # brighter red than blue, as photos are on average
    x = rng.uniform(0, 255, (1, 3, 224, 224)).astype(np.float32)
    x[:, 0] = np.clip(x[:, 0] * 0.6 + 90, 0, 255)
    x[:, 2] = np.clip(x[:, 2] * 0.6 + 20, 0, 255)
    return x
mean = np.array([123.675, 116.28, 103.53], np.float32).reshape(1, 3, 1, 1)
scale = np.array([0.01712475, 0.017507, 0.01742919], np.float32).reshape(1, 3, 1, 1)
for name, make in (("unit", lambda: natural() / 255), ("normalised", lambda: (natural() - mean) * scale),
                   ("swapped", lambda: natural()[:, ::-1].copy())):
    os.makedirs("cal_" + name, exist_ok=True)
    for i in range(3):
        np.save("cal_%s/s%d.npy" % (name, i), make())
PY
for case in unit:0..1 normalised:normalised swapped:bgr; do
    name=${case%%:*} want=${case#*:}
    sed -e "s|'$models/calibration/fashion_mnist_train_200'|'cal_$name'|" -e "s|'m0_int8'|'parity_$name'|" q_rgb.yaml >q_parity_$name.yaml
    "$effvit" quantize --config q_parity_$name.yaml >/dev/null 2>parity_$name.err || true
    if grep "calibration data" parity_$name.err | grep -q "$want"; then echo "ok: $name: $(grep -o 'calibration data[^:]*' parity_$name.err | head -1)"
    else echo "FAIL: no parity note for $name calibration data" >&2; cat parity_$name.err >&2; failures=$((failures + 1)); fi
done

# Calibration types: mse and kl choose their own bounds; default quantizes with max, max at
# percentile 0.99995 and kl, and keeps the one whose logits are closest to float32 (and says so).
for t in mse kl default; do
    sed -e "s|calibration_type: 'max'|calibration_type: '$t'|" q_rgb.yaml >q_$t.yaml
    "$effvit" quantize --config q_$t.yaml -o out/m0_$t.onnx --json --report report_$t >cal_$t.json 2>cal_$t.err
done
# --report: the JSON has every quantized activation (range, bound, grid, 128-bin histogram) and
# the agreement; the plots are real PNG and SVG files.
"$python" - <<'PY'
import json
from PIL import Image
r = json.load(open("cal_default.json"))
rep = json.load(open("report_default/report.json"))
acts = rep["activations"]
assert len(acts) == r["quantized_activations"] and rep["calibration"] == r["calibration"], (len(acts), rep["calibration"])
assert all(len(a["histogram"]) == 128 and sum(a["histogram"]) > 0 and a["readers"] for a in acts)
assert all(0 < a["bound"] <= max(-a["min"], a["max"]) + 1e-6 for a in acts if a["max"] > a["min"] and a["tensor"] != "input")
# The pixel input's grid spans every pixel value once normalised, whatever the calibration saw:
# (255 - 103.53) * 0.01742919 on the blue channel is the largest magnitude.
# (kl, which would clip the image's bright tail, must keep it too.)
for report in ("report_default", "report_kl"):
    (image,) = [a for a in json.load(open(report + "/report.json"))["activations"] if a["tensor"] == "input"]
    assert abs(image["bound"] - (255 - 103.53) * 0.01742919) < 1e-5, (report, image["bound"])
assert abs(image["scale"] - ((255 - 103.53) * 0.01742919 + 123.675 * 0.01712475) / 255) < 1e-6, image["scale"]
assert rep["agreement"]["nodes"] == r["agreement"]["nodes"]
page = open("report_default/report.html").read()
assert page.startswith("<!DOCTYPE html>") and 'src="agreement.svg"' in page and 'src="histograms.svg"' in page, page[:200]
for name, size in (("agreement", (960, 480)), ("histograms", (960, 520))):
    assert Image.open("report_default/%s.png" % name).size == size, name
    assert "<svg" in open("report_default/%s.svg" % name).read(400), name
print("report ok: %d activations, plots written" % len(acts))
PY
"$python" - <<'PY'
import json
r = {t: json.load(open("cal_%s.json" % t)) for t in ("mse", "kl", "default")}
assert r["mse"]["calibration"] == "mse" and r["kl"]["calibration"] == "kl", (r["mse"]["calibration"], r["kl"]["calibration"])
notes = [l for l in open("cal_default.err") if "calibration_type default:" in l]
assert len(notes) == 4 and "kept" in notes[-1], notes
cos = {t: r[t]["agreement"]["logits_cosine"] for t in r}
# default keeps the best of its candidates: at least as close as kl, one of them. Its choice was
# measured on the model as written, so the kept candidate's cosine is the report's.
assert cos["default"] >= cos["kl"] - 1e-9, cos
kept = [l for l in notes if "gives logits cosine" in l and r["default"]["calibration"] in l]
assert kept and abs(float(kept[0].split("logits cosine ")[1].split(",")[0]) - cos["default"]) < 1e-5, (kept, cos["default"])
print("calibration types:", {t: (r[t]["calibration"], round(cos[t], 5)) for t in r})
PY
# load: the grids of an existing QDQ file, effvit's own or one written as ONNX Runtime writes int8
# activations (int8 zero points, 128 lower: the same values): both give back the max model's graph.
# mix: each activation bounded the way that, quantized alone, keeps the logits closest to float32.
# per_channel: False writes one scale per weight; both ways are measured and reported.
"$python" - out/m0_int8.onnx out/m0_ort_style.onnx <<'PY'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
inits = {i.name: i for i in m.graph.initializer}
weights = {i.name for i in m.graph.initializer}
for n in m.graph.node:
    if n.op_type == "QuantizeLinear" and n.input[0] not in weights and n.input[2] in inits:
        z = numpy_helper.to_array(inits[n.input[2]])
        if z.dtype == np.uint8:
            inits[n.input[2]].CopyFrom(numpy_helper.from_array((z.astype(np.int16) - 128).astype(np.int8), n.input[2]))
onnx.save(m, sys.argv[2])
PY
# That file as an engine input (ONNX Runtime's default QDQ layout): its int8 activations become
# uint8 (passes/shift_int8_activations.cpp), so it runs the uint8 file's int8 kernels, node for
# node, and gives its logits bit for bit.
"$python" -c "import numpy as np; np.save('ort_style_in.npy', np.random.RandomState(5).randint(0, 256, (2, 3, 224, 224)).astype(np.uint8))"
"$effvit" run out/m0_int8.onnx --input ort_style_in.npy --output ort_style_want.npy
"$effvit" run out/m0_ort_style.onnx --input ort_style_in.npy --output ort_style_got.npy
cmp ort_style_want.npy ort_style_got.npy || { echo "FAIL: the int8-activation file's logits differ from the uint8 file's" >&2; exit 1; }
"$effvit" info out/m0_int8.onnx --kernels --json >kernels_uint8.json
EFFVIT_STRICT=1 "$effvit" info out/m0_ort_style.onnx --kernels --json >kernels_ort_style.json
"$python" - <<'PY'
import json
want, got = (json.load(open(f))["kernels"] for f in ("kernels_uint8.json", "kernels_ort_style.json"))
assert got == want, [(a, b) for a, b in zip(got, want) if a != b][:3]
assert sum("int8 conv" in k["implementation"] for k in got) >= 40, got
PY
for t in load load_ort mix per_tensor; do
    case $t in
        load) sed -e "s|calibration_type: 'max'|calibration_type: 'load'\n  qdq_model: 'out/m0_int8.onnx'|" q_rgb.yaml >q_$t.yaml ;;
        load_ort) sed -e "s|calibration_type: 'max'|calibration_type: 'load'\n  qdq_model: 'out/m0_ort_style.onnx'|" q_rgb.yaml >q_$t.yaml ;;
        mix) sed -e "s|calibration_type: 'max'|calibration_type: 'mix'|" q_rgb.yaml >q_$t.yaml ;;
        per_tensor) sed -e "s|calibration_type: 'max'|calibration_type: 'max'\n  per_channel: False|" q_rgb.yaml >q_$t.yaml ;;
    esac
    "$effvit" quantize --config q_$t.yaml -o out/m0_$t.onnx --json >cal_$t.json 2>cal_$t.err
done
"$python" - <<'PY'
import json
import onnx
from onnx import numpy_helper
def graph(path):
    m = onnx.load(path)
    return m.graph.SerializeToString()
assert graph("out/m0_load.onnx") == graph("out/m0_int8.onnx"), "load of our own file changed the graph"
assert graph("out/m0_load_ort.onnx") == graph("out/m0_int8.onnx"), "load of int8 zero points changed the graph"
r = {t: json.load(open("cal_%s.json" % t)) for t in ("load", "mix", "per_tensor")}
assert r["load"]["calibration"] == "load" and r["mix"]["calibration"] == "mix", r["mix"]["calibration"]
notes = open("cal_mix.err").read()
assert "calibration_type mix: activations per way (" in notes, notes
counts = [int(x.split(":")[1]) for x in notes.split("per way (")[1].split(")")[0].split(", ")]
assert sum(counts) == r["mix"]["quantized_activations"], (counts, r["mix"]["quantized_activations"])
assert r["mix"]["agreement"]["logits_cosine"] > 0.99, r["mix"]["agreement"]
pt = r["per_tensor"]
assert pt["per_channel_weights"] is False and pt["weights_cosine"] and pt["weights_other_way_cosine"], pt
assert "weights per-tensor: logits cosine" in open("cal_per_tensor.err").read()
m = onnx.load("out/m0_per_tensor.onnx")
scales = [numpy_helper.to_array(i) for i in m.graph.initializer if i.name.endswith("/weight/scale")]
assert scales and all(s.size == 1 for s in scales), [s.shape for s in scales][:3]
base = json.load(open("quantize.json"))
assert base["per_channel_weights"] is True and "weights per-channel: logits cosine" in open("quantize.err").read()
print("load: same graphs; mix: %s; per-tensor cosine %.5f vs per-channel %.5f" % (counts, pt["weights_cosine"], pt["weights_other_way_cosine"]))
PY
sed -e "s|calibration_type: 'max'|calibration_type: 'load'|" q_rgb.yaml >q_load_bad.yaml
expect_error "q_load_bad.yaml: calibration_parameters.qdq_model: calibration_type load takes its scales from this QDQ model; name one" \
    "$effvit" quantize --config q_load_bad.yaml
sed -e "s|calibration_type: 'max'|calibration_type: 'load'\n  qdq_model: 'out/nothing.onnx'|" q_rgb.yaml >q_load_missing.yaml
expect_error "q_load_missing.yaml: calibration_parameters.qdq_model: out/nothing.onnx does not exist" "$effvit" quantize --config q_load_missing.yaml

# --auto-mixed: every node measured quantized alone (most sensitive first); the most sensitive kept
# in float32 until the logits' cosine reaches the budget; a config with them written beside the
# YAML, which quantizes to the same model. The budget is judged on the samples the agreement is
# measured on, so the note and the agreement say the same.
rm -f q_rgb.auto_mixed.yaml
"$effvit" quantize --config q_rgb.yaml -o out/m0_mixed.onnx --auto-mixed "cosine>=0.9995" --json >mixed.json 2>mixed.err
"$effvit" quantize --config q_rgb.auto_mixed.yaml -o out/m0_mixed_again.onnx --json >mixed_again.json 2>/dev/null
"$python" - <<'PY'
import json
r = json.load(open("mixed.json"))
again = json.load(open("mixed_again.json"))
sens = r["sensitivity"]
floats = r["auto_mixed"]["float_nodes"]
assert len(sens) == r["quantized_nodes"] + len(floats), (len(sens), r["quantized_nodes"], len(floats))
assert all(a["cosine"] <= b["cosine"] for a, b in zip(sens, sens[1:])), "not sorted, most sensitive first"
assert 0 < len(floats) < 10 and floats == [s["node"] for s in sens[:len(floats)]], floats
assert r["agreement"]["logits_cosine"] >= 0.999, r["agreement"]["logits_cosine"]
assert again["quantized_nodes"] == r["quantized_nodes"] and again["float_nodes"] == r["float_nodes"], (again["quantized_nodes"], r["quantized_nodes"])
note = [l for l in open("mixed.err") if "--auto-mixed cosine>=0.9995: " in l]
assert len(note) == 1 and ("logits cosine %.5f, top-1 agreement %.2f%% on %d samples" % (
    r["agreement"]["logits_cosine"], 100 * r["agreement"]["top1_agreement"], r["agreement"]["samples"])) in note[0], (note, r["agreement"])
print("auto-mixed: %d node(s) kept in float32 (%s), logits cosine %.5f" % (len(floats), ", ".join(floats), r["agreement"]["logits_cosine"]))
PY
expect_error "--auto-mixed: 'accuracy>=1' is not" "$effvit" quantize --config q_rgb.yaml --auto-mixed "accuracy>=1"
expect_error "--auto-mixed: 'cosine' is not cosine>=X (X in (0, 1]) or top1>=Y% (Y in (0, 100]); quote it, or the shell reads '>' as a redirection" \
    "$effvit" quantize --config q_rgb.yaml --auto-mixed cosine
expect_error "--auto-mixed: 'cosine>=99%' is not cosine>=X" "$effvit" quantize --config q_rgb.yaml --auto-mixed "cosine>=99%"
# A budget no node_info can reach (the 8-bit input alone misses it) fails before the search, writing nothing.
rm -f q_rgb.auto_mixed.yaml
set +e
"$effvit" quantize --config q_rgb.yaml -o out/m0_unreachable.onnx --calibration-samples 4 --auto-mixed "cosine>=1" --report unreachable_report >/dev/null 2>err.txt
status=$?
set -e
[ "$status" -eq 1 ] && grep -q "^effvit: --auto-mixed cosine>=1: not reachable: with every Conv/Gemm/MatMul in float32, logits cosine .*; what is left is the deployed input (rgb, 8-bit), which node_info cannot keep in float32: lower the budget$" err.txt ||
    { echo "FAIL: an unreachable budget must fail (status $status) saying why" >&2; cat err.txt >&2; failures=$((failures + 1)); }
[ ! -e out/m0_unreachable.onnx ] && [ ! -e q_rgb.auto_mixed.yaml ] && [ ! -e unreachable_report ] ||
    { echo "FAIL: an unreachable --auto-mixed left files or its report folder" >&2; failures=$((failures + 1)); }
echo "# an earlier run's, edited" >q_rgb.auto_mixed.yaml
expect_error "q_rgb.auto_mixed.yaml: exists (an earlier --auto-mixed run's, perhaps edited since); --force replaces it" \
    "$effvit" quantize --config q_rgb.yaml -o out/m0_mixed_twice.onnx --auto-mixed "cosine>=0.9995"
[ ! -e out/m0_mixed_twice.onnx ] || { echo "FAIL: a refused --auto-mixed run wrote its model" >&2; failures=$((failures + 1)); }

# The full-range scheme (--full-range): int8 weights in [-127, 127]; integer speed needs VNNI.
"$effvit" quantize --config q_rgb.yaml --full-range -o out/m0_full.onnx --json >full.json 2>/dev/null
"$python" -c "import json; r = json.load(open('full.json')); assert r['scheme'] == 'full_range', r"
# The full-range file itself classifies as well as the portable one (an evaluation, not its metadata).
"$effvit" eval out/m0_full.onnx --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --limit 200 --json >full_eval.json
"$effvit" eval out/m0_int8.onnx --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --limit 200 --json >portable_eval.json
"$python" - <<'PY'
import json
full, portable = (json.load(open(f))["top1"] for f in ("full_eval.json", "portable_eval.json"))
print("full-range top-1 %.3f, portable %.3f on 200 images" % (full, portable))
assert full >= portable - 0.02 and full > 0.8, (full, portable)
PY
for tier in $("$effvit" info out/m0_int8.onnx --json | "$python" -c "import json,sys; print(' '.join(json.load(sys.stdin)['isa_supported']))"); do
    EFFVIT_MAX_ISA=$tier "$effvit" eval out/m0_int8.onnx --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz         --limit 200 --json >"tier_$tier.json"
done
"$python" - <<'PY'
import glob, json
r = {f: json.load(open(f))["top1"] for f in glob.glob("tier_*.json")}
print("int8 top-1 per tier:", r)
assert len(r) >= 2 and max(r.values()) - min(r.values()) <= 0.005, r
PY

# The seed's YAML with only its paths changed, on an M5 export carrying the seed's node names:
# its 28 int16 Softmax entries are honoured (kept in float32, noted), everything else quantized.
[ -f m5/model.onnx ] || "$python" "$pydir/make_fixture.py" --variant m5 --layout timm --opset 13 --seed 3 --outdir m5 >/dev/null
mkdir -p m5cal
"$python" -c "
import numpy as np
rng = np.random.default_rng(0)
for i in range(3):
    np.save('m5cal/sample%d.npy' % i, rng.uniform(0, 255, (1, 3, 224, 224)).astype(np.float32))
"
sed -e "s|'./efficientvit_m5.onnx'|'m5/model.onnx'|" -e "s|'./calibration_data_rgb_f32'|'m5cal'|" \
    -e "s|input_type_rt: 'nv12'|input_type_rt: 'rgb'|" "$testdir/data/EfficientViT_MSRA_m5_config.yaml" >q_seed.yaml
"$effvit" quantize --config q_seed.yaml --json >seed.json 2>seed.err
# The seed's 28 int16 Softmax entries are one note, not 28 lines burying the others.
[ "$(grep -c 'int16' seed.err)" -eq 1 ] && grep -q "node_info: 28 node(s) asked int16 (Softmax x28) kept in float32" seed.err ||
    { echo "FAIL: expected one note for the 28 int16 entries" >&2; cat seed.err >&2; exit 1; }
"$python" - <<'PY'
import json
import onnx
r = json.load(open("seed.json"))
q = onnx.load(r["output"])
onnx.checker.check_model(q)
producer = {o: n for n in q.graph.node for o in n.output}
softmax = [n for n in q.graph.node if n.op_type == "Softmax"]
assert len(softmax) == 28 and all(producer[n.input[0]].op_type != "DequantizeLinear" for n in softmax)
assert r["quantized_nodes"] > 100, r
print("seed YAML ok:", r["quantized_nodes"], "int8 nodes")
PY

# Bad configs: one line naming the file and the key or node; nothing written. (Without the march
# key, whose note would be a second line.)
sed -i '/march/d' q_rgb.yaml
sed "s|output_model_file_prefix: 'm0_int8'|output_model_file_prefix: 'bad'\n  node_info: {'/no/such/Conv': {'ON': 'CPU'}}|" q_rgb.yaml >q_node.yaml
expect_error "q_node.yaml: model_parameters.node_info names node '/no/such/Conv'" "$effvit" quantize --config q_node.yaml
sed "s|fashion_mnist_train_200'|missing_dir'|; s|'m0_int8'|'bad'|" q_rgb.yaml >q_nodir.yaml
expect_error "calibration_parameters.cal_data_dir" "$effvit" quantize --config q_nodir.yaml
head -c 100 /dev/zero >cal_bad/short.bin
sed "s|'$models/calibration/fashion_mnist_train_200'|'cal_bad'|; s|'m0_int8'|'bad'|" q_rgb.yaml >q_short.yaml
expect_error "cal_bad/short.bin: 100 bytes, expected" "$effvit" quantize --config q_short.yaml
sed "s|calibration_type: 'max'|calibration_type: 'entropy'|" q_rgb.yaml >q_entropy.yaml
expect_error "q_entropy.yaml: calibration_parameters.calibration_type: 'entropy' is not one of max, kl, mse, default, mix, load" "$effvit" quantize --config q_entropy.yaml
sed "s|calibration_type: 'max'|calibration_type: 'skip'|" q_rgb.yaml >q_skip.yaml
expect_error "q_skip.yaml: calibration_parameters.calibration_type: 'skip' (the RDK toolchain's calibration-free mode, for speed checks) is not taken" \
    "$effvit" quantize --config q_skip.yaml
expect_error "nothere.yaml: file not found" "$effvit" quantize --config nothere.yaml
"$python" -c "
import numpy as np
np.save('cal_bad/hwc.npy', np.zeros((1, 224, 224, 3), np.float32))
"
rm cal_bad/short.bin
expect_error "cal_bad/hwc.npy: calibration sample of shape [1,224,224,3], the model takes [1,3,224,224]" "$effvit" quantize --config q_short.yaml
rm cal_bad/hwc.npy
printf '\377\330\377\340 cut short' >cal_bad/broken.jpg
expect_error "(a calibration sample in cal_data_dir: fix or remove it)" "$effvit" quantize --config q_short.yaml
grep -q "cal_bad/broken.jpg: " err.txt || { echo "FAIL: the broken sample is not named" >&2; cat err.txt >&2; failures=$((failures + 1)); }
rm cal_bad/broken.jpg
# An IDX images file stands for a folder (labels unneeded): 8 training images.
"$python" -c "
import gzip, struct, sys
sys.path.insert(0, '$pydir')
import fashion_mnist as fm
images = fm.read_idx(fm.DATA_DIR + '/train-images-idx3-ubyte.gz')[:8]
with gzip.open('cal8-images-idx3-ubyte.gz', 'wb') as f:
    f.write(struct.pack('>HBB', 0, 8, 3) + b''.join(struct.pack('>I', d) for d in images.shape) + images.tobytes())
"
sed "s|'$models/calibration/fashion_mnist_train_200'|'cal8-images-idx3-ubyte.gz'|; s|'m0_int8'|'m0_idx'|" q_rgb.yaml >q_idx.yaml
"$effvit" quantize --config q_idx.yaml --json >idx.json 2>/dev/null
grep -q '"samples": 8' idx.json || { echo "FAIL: IDX calibration" >&2; cat idx.json >&2; failures=$((failures + 1)); }
# --calibration-samples takes that many, spread over the set; files that are no sample are noted.
cp "$models"/calibration/fashion_mnist_train_200/*/*.png cal_bad/ 2>/dev/null || cp "$models"/calibration/fashion_mnist_train_200/*.png cal_bad/
echo "notes" >cal_bad/readme.txt
"$python" -c "open('cal_bad/gif_like.bin', 'wb').write(b'GIF89a' + bytes(3 * 224 * 224 * 4 - 6))"  # a raw sample, whatever its first bytes
sed "s|'bad'|'capped'|" q_short.yaml >q_capped.yaml
"$effvit" quantize --config q_capped.yaml --calibration-samples 5 --json >capped.json 2>capped.err
grep -q '"samples": 5' capped.json || { echo "FAIL: --calibration-samples 5" >&2; cat capped.json >&2; failures=$((failures + 1)); }
grep -q "cal_bad: skipped 1 file(s) that are no calibration sample (readme.txt)" capped.err ||
    { echo "FAIL: a file that is no sample was not noted" >&2; cat capped.err >&2; failures=$((failures + 1)); }
rm -f out/capped.onnx cal_bad/gif_like.bin
rm -f out/m0_idx.onnx
if [ -e out/bad.onnx ] || ls out | grep -q tmp; then
    echo "FAIL: a failed quantize left a file behind" >&2
    failures=$((failures + 1))
fi
finish
