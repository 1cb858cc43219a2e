#!/bin/sh
# `effvit quantize --init-config MODEL.onnx`: for every variant (M0-M5) in both export layouts, the
# starter YAML quantizes unchanged once cal_data_dir is filled in: its node_info names exactly the
# model's Softmax nodes (quantize refuses a name the model lacks, and notes each int16 entry), and
# the model it writes runs. Also the input-type choices and their errors.
#   init_config.sh EFFVIT_BINARY WORKDIR
. "$(dirname "$0")/cli_lib.sh"
mkdir -p cal
[ -f cal/s1.npy ] || "$python" -c "
import numpy as np
rng = np.random.default_rng(0)
for i in range(2):
    np.save('cal/s%d.npy' % i, rng.uniform(0, 255, (1, 3, 224, 224)).astype(np.float32))
"
for variant in m0 m1 m2 m3 m4 m5; do
    for layout in timm cream; do
        dir=${variant}_$layout
        [ -f "$dir/model.onnx" ] || "$python" "$pydir/make_fixture.py" --variant "$variant" --layout "$layout" --opset 13 \
            --seed 31 --outdir "$dir" >/dev/null
        rm -rf "$dir/cfg" && mkdir -p "$dir/cfg"
        "$effvit" quantize --init-config "$dir/model.onnx" -o "$dir/cfg/starter.yaml" 2>/dev/null
        # The only edit a user makes: point cal_data_dir at the data (relative to the YAML).
        sed -i "s|cal_data_dir: './calibration_data'|cal_data_dir: '../../cal'|" "$dir/cfg/starter.yaml"
        if ! "$effvit" quantize --config "$dir/cfg/starter.yaml" --json >"$dir/q.json" 2>"$dir/q.err"; then
            echo "FAIL: $dir: the starter config does not quantize:" >&2
            cat "$dir/q.err" >&2
            failures=$((failures + 1))
            continue
        fi
        "$python" - "$dir" <<'PY'
import json, sys
import onnx
d = sys.argv[1]
softmax = [n.name for n in onnx.load(d + "/model.onnx").graph.node if n.op_type == "Softmax"]
# One note counts the pinned Softmax nodes (the starter YAML pins every one).
notes = [l for l in open(d + "/q.err") if "asked int16" in l]
r = json.load(open(d + "/q.json"))
assert len(softmax) > 0 and len(notes) == 1 and "%d node(s) asked int16 (Softmax x%d)" % (len(softmax), len(softmax)) in notes[0], \
    (d, len(softmax), notes)
assert r["output"].endswith("model_224x224_nv12.onnx") and r["scheme"] == "portable", r["output"]
print("ok: %s: %d Softmax nodes pinned, %d convs quantized" % (d, len(softmax), r["quantized_nodes"]))
PY
    done
done

# Softmax names YAML would misread (a quote, a backslash, a colon, a newline and a tab) and an unnamed one (quantize
# names it by its output), and a featuremap input: the starter config still quantizes as is.
"$python" - <<'PY'
import onnx
m = onnx.load("m0_timm/model.onnx")
sm = [n for n in m.graph.node if n.op_type == "Softmax"]
sm[0].name = 'attn"quoted\'single'
sm[1].name = 'back\\slash\\b'
sm[2].name = 'colon: #hash'
sm[3].name = ''
sm[4].name = 'new\nline\ttab'
onnx.save(m, "hostile.onnx")
PY
for input in nv12 featuremap; do
    rm -rf "hostile_$input" && mkdir -p "hostile_$input"
    "$effvit" quantize --init-config hostile.onnx --input-type "$input" -o "hostile_$input/starter.yaml" 2>/dev/null
    sed -i "s|cal_data_dir: './calibration_data'|cal_data_dir: '../cal'|" "hostile_$input/starter.yaml"
    if "$effvit" quantize --config "hostile_$input/starter.yaml" >/dev/null 2>"hostile_$input/err.txt" &&
        grep -q "24 node(s) asked int16 (Softmax x24)" "hostile_$input/err.txt"; then
        echo "ok: hostile names, $input input: quantized, 24 Softmax nodes pinned"
    else
        echo "FAIL: hostile names, $input input:" >&2
        cat "hostile_$input/err.txt" >&2
        failures=$((failures + 1))
    fi
done

# On stdout the model is named by absolute path; other input types; wrong ones are one-line errors.
"$effvit" quantize --init-config m0_timm/model.onnx --input-type rgb >stdout.yaml
grep -q "onnx_model: '$(pwd)/m0_timm/model.onnx'" stdout.yaml || { echo "FAIL: stdout YAML path" >&2; failures=$((failures + 1)); }
grep -q "input_type_rt: 'rgb'" stdout.yaml || { echo "FAIL: --input-type rgb" >&2; failures=$((failures + 1)); }
# Written to a file: relative to it when the model is in or under its folder, else absolute (no '../').
rm -rf beside.yaml deep
"$effvit" quantize --init-config m0_timm/model.onnx -o beside.yaml 2>/dev/null
grep -q "onnx_model: 'm0_timm/model.onnx'" beside.yaml || { echo "FAIL: a model below the YAML is not named relatively" >&2; failures=$((failures + 1)); }
mkdir -p deep/er
"$effvit" quantize --init-config m0_timm/model.onnx -o deep/er/elsewhere.yaml 2>/dev/null
grep -q "onnx_model: '$(pwd)/m0_timm/model.onnx'" deep/er/elsewhere.yaml || { echo "FAIL: a model above the YAML is not named by absolute path" >&2; failures=$((failures + 1)); }
expect_error "not one of nv12, rgb, bgr, gray, featuremap" "$effvit" quantize --init-config m0_timm/model.onnx --input-type yuv
expect_error "cannot take gray input" "$effvit" quantize --init-config m0_timm/model.onnx --input-type gray
expect_error "missing.onnx: cannot open the model" "$effvit" quantize --init-config missing.onnx
expect_error "--config" "$effvit" quantize
# An existing config is not overwritten unasked (it may hold edits); --force does.
echo "# my edits" >>beside.yaml
expect_error "beside.yaml: already exists; --init-config does not overwrite a config" "$effvit" quantize --init-config m0_timm/model.onnx -o beside.yaml
grep -q "# my edits" beside.yaml || { echo "FAIL: the edited config was overwritten" >&2; failures=$((failures + 1)); }
"$effvit" quantize --init-config m0_timm/model.onnx -o beside.yaml --force 2>/dev/null
if grep -q "# my edits" beside.yaml; then echo "FAIL: --force did not overwrite" >&2; failures=$((failures + 1)); fi
finish
