#!/bin/sh
# `effvit eval` on both data layouts it reads (a small IDX pair and a class-folder tree, both cut
# from the real Fashion-MNIST test set), agreement between them, and its bad inputs.
#
#   cli_eval.sh EFFVIT_BINARY WORKDIR
. "$(dirname "$0")/cli_lib.sh"
rm -rf idx folders empty broken literal loose positional partial mixed literal_first survive
mkdir -p idx empty/Coat broken/Coat m0
[ -f m0/model.onnx ] || "$python" "$pydir/export_onnx.py" --variant m0 --num-classes 10 --seed 7 --output m0/model.onnx \
    --metadata-json "$testdir/../models/fashion_mnist_metadata.json" >/dev/null

# 24 real test images and their labels, as IDX (gzip) and as a mismatched pair.
"$python" -c "
import gzip, struct, sys
sys.path.insert(0, '$pydir')
import fashion_mnist as fm
images, labels = fm.read_idx(fm.DATA_DIR + '/t10k-images-idx3-ubyte.gz'), fm.read_idx(fm.DATA_DIR + '/t10k-labels-idx1-ubyte.gz')
def write(path, array):
    header = struct.pack('>HBB', 0, 8, array.ndim) + b''.join(struct.pack('>I', d) for d in array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + array.tobytes())
write('idx/small-images-idx3-ubyte.gz', images[:24])
write('idx/small-labels-idx1-ubyte.gz', labels[:24])
write('idx/bad-images-idx3-ubyte.gz', images[:24])
write('idx/bad-labels-idx1-ubyte.gz', labels[:23])
write('idx/nolabels-images-idx3-ubyte.gz', images[:4])
"

"$effvit" eval m0/model.onnx --data idx/small-images-idx3-ubyte.gz --json --save-images folders >idx.json
"$effvit" eval m0/model.onnx --data folders --json >folders.json
"$python" - <<'PY'
import json, os
a, b = json.load(open("idx.json")), json.load(open("folders.json"))
for r in (a, b):
    for key in ("top1", "top5", "count"):
        assert key in r, f"eval --json lacks {key}"
    assert 0.0 <= r["top1"] <= r["top5"] <= 1.0, r
assert a["count"] == b["count"] == 24, (a["count"], b["count"])
# The PNGs hold the very pixels of the IDX set, so both layouts must score the same.
assert a["top1"] == b["top1"] and a["top5"] == b["top5"], (a, b)
assert sorted(os.listdir("folders"))[0] == "Ankle_boot", os.listdir("folders")
print("ok", a["top1"], a["top5"])
PY

# The metric must be able to fail: a model whose logits are all equal scores at most chance (ties
# count against the true class), and one that returns NaN is an error naming the image.
"$python" - <<'PY'
import onnx
from onnx import helper, TensorProto
def degenerate(path, bias):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"]), helper.make_node("GlobalAveragePool", ["c"], ["p"]),
             helper.make_node("Flatten", ["p"], ["y"])]
    inits = [helper.make_tensor("w", TensorProto.FLOAT, [10, 3, 1, 1], [0.0] * 30),
             helper.make_tensor("b", TensorProto.FLOAT, [10], [bias] * 10)]
    model = helper.make_model(helper.make_graph(nodes, "degenerate", [x], [y], inits), opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, path)
degenerate("constant.onnx", 0.0)
degenerate("nan.onnx", float("nan"))
PY
"$effvit" eval constant.onnx --data idx/small-images-idx3-ubyte.gz --json >constant.json
"$python" - <<'PY'
import json
r = json.load(open("constant.json"))
assert r["count"] == 24 and r["top1"] == 0.0 and r["top5"] == 0.0, f"a constant model scored {r}"
print("ok: constant model", r["top1"], r["top5"])
PY
expect_error "the model returned a non-finite logit (nan)" "$effvit" eval nan.onnx --data idx/small-images-idx3-ubyte.gz
grep -q "small-images-idx3-ubyte.gz#[0-9]*: " err.txt || { echo "FAIL: the NaN error does not name the image" >&2; failures=$((failures + 1)); }

# Class folders: class names as they are (spaces and all), or spelt loosely (case, ' ', '_', '-',
# '/'), map by name; folders named otherwise, one per class, map by sorted position, and the mapping
# is printed before the run; fewer such folders than classes, or a mixed tree, is an error naming them.
rm -rf literal loose positional partial mixed
for c in "Ankle boot" "T-shirt_top" "Pullover"; do mkdir -p "literal/$c"; done
cp folders/Ankle_boot/* "literal/Ankle boot/"
cp folders/Pullover/* literal/Pullover/
cp folders/T-shirt_top/* literal/T-shirt_top/ 2>/dev/null || true
"$effvit" eval m0/model.onnx --data literal --json >literal.json 2>literal.err
if grep -q "sorted position" literal.err; then echo "FAIL: literal class names mapped by position" >&2; failures=$((failures + 1)); fi
mkdir -p loose/ankle-boot loose/pullover
cp folders/Ankle_boot/* loose/ankle-boot/
cp folders/Pullover/* loose/pullover/
echo "not a picture" >loose/pullover/readme.txt
mkdir -p loose/.ipynb_checkpoints  # hidden: no class folder
"$effvit" eval "$testdir/../models/efficientvit_m0_fashion_mnist.onnx" --data loose --json >loose.json 2>loose.err
if grep -q "sorted position" loose.err; then echo "FAIL: class names in another case mapped by position" >&2; failures=$((failures + 1)); fi
grep -qxF "effvit: note: loose/pullover: skipped 1 file that is not a JPEG, PNG, WebP or BMP image (readme.txt)" loose.err ||
    { echo "FAIL: a file that is not an image was not noted" >&2; cat loose.err >&2; failures=$((failures + 1)); }
"$python" -c "
import json
r = json.load(open('loose.json'))
assert r['count'] > 0 and r['top1'] >= 0.5, r  # 0.0 with the folders mapped by position (0 T-shirt/top, 1 Trouser)
assert r['skipped'] == ['loose/pullover/readme.txt'], r['skipped']
" || failures=$((failures + 1))
for k in 0 1 2 3 4 5 6 7 8 9; do mkdir -p "positional/c$k"; done
cp folders/Ankle_boot/* positional/c0/
cp folders/Trouser/* positional/c1/ 2>/dev/null || true
"$effvit" eval m0/model.onnx --data positional --json >positional.json 2>positional.err
grep -qF "positional: class folders are not named after the model's classes; they map by sorted position: c0 -> 0 T-shirt/top, c1 -> 1 Trouser, c2 -> 2 Pullover" positional.err     || { echo "FAIL: the positional mapping was not printed" >&2; cat positional.err >&2; failures=$((failures + 1)); }
mkdir -p partial/boots partial/pants
cp folders/Ankle_boot/* partial/boots/
expect_error "partial: its 2 class folders are not named after the model's 10 classes ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'), and sorted position maps folders to classes only when there is one folder per class; name the folders after the classes or number them 0..9" \
    "$effvit" eval m0/model.onnx --data partial
mkdir -p mixed/Coat mixed/boots
cp folders/Ankle_boot/* mixed/boots/
cp folders/Ankle_boot/* mixed/Coat/
expect_error "mixed: 1 class folders are named after the model's classes, but 1 is not ('boots'); rename or remove them (the model's classes: 'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')" \
    "$effvit" eval m0/model.onnx --data mixed
# A literal class name wins over another class's '_' form: folder x_y is class 9 "x_y", not class 3
# "x y". Every image in it is an ankle boot, class 9 of the bundled model: mapped to class 3, none would score.
rm -rf literal_first && mkdir -p literal_first/x_y
cp folders/Ankle_boot/* literal_first/x_y/
printf 'a\nb\nc\nx y\nd\ne\nf\ng\nh\nx_y\n' >xy_labels.txt
"$effvit" eval "$testdir/../models/efficientvit_m0_fashion_mnist.onnx" --data literal_first --labels xy_labels.txt --json >literal_first.json
"$python" -c "
import json
r = json.load(open('literal_first.json'))
assert r['top1'] >= 0.5, r  # 0.0 with the folder mapped to class 3
"

expect_error "nolabels-labels-idx1-ubyte.gz: labels file not found" "$effvit" eval m0/model.onnx --data idx/nolabels-images-idx3-ubyte.gz
expect_error "has 23 labels for 24 images" "$effvit" eval m0/model.onnx --data idx/bad-images-idx3-ubyte.gz
expect_error "empty: no JPEG, PNG, WebP or BMP images" "$effvit" eval m0/model.onnx --data empty
expect_error "idx/small-labels-idx1-ubyte.gz: this is the labels file; pass the images file, idx/small-images-idx3-ubyte.gz" \
    "$effvit" eval m0/model.onnx --data idx/small-labels-idx1-ubyte.gz
printf '\211PNG\r\n\032\nnot a picture' >broken/Coat/0.png
expect_error "broken/Coat/0.png: corrupt PNG" "$effvit" eval m0/model.onnx --data broken --fail-fast
# Without --fail-fast one bad file costs only itself: every other image is scored, the bad one is
# listed (text and JSON), and the exit status says something failed.
rm -rf survive && cp -r folders survive
head -c 100 "$(ls survive/Ankle_boot/* | head -1)" >survive/Ankle_boot/truncated.png
set +e
"$effvit" eval m0/model.onnx --data survive >survive.txt 2>/dev/null; text_status=$?
"$effvit" eval m0/model.onnx --data survive --json >survive.json 2>/dev/null; json_status=$?
set -e
"$python" - "$text_status" "$json_status" <<'PY'
import json, sys
assert sys.argv[1:] == ["1", "1"], f"exit statuses {sys.argv[1:]}, expected 1 and 1"
r, full = json.load(open("survive.json")), json.load(open("folders.json"))
assert r["count"] == 24 and r["top1"] == full["top1"], (r, full)
assert [f["file"] for f in r["failed"]] == ["survive/Ankle_boot/truncated.png"] and "corrupt PNG" in r["failed"][0]["error"], r["failed"]
text = open("survive.txt").read()
assert "failed: survive/Ankle_boot/truncated.png: corrupt PNG" in text and "1 of 25 images failed" in text, text
print("ok: a truncated PNG is listed and the other 24 images scored")
PY
expect_error "nowhere: not found" "$effvit" eval m0/model.onnx --data nowhere
expect_error "$(ls survive/Ankle_boot/*.png | head -1): one image has no label to score; --data takes a ROOT/<class>/<image> folder tree" \
    "$effvit" eval m0/model.onnx --data "$(ls survive/Ankle_boot/*.png | head -1)"
finish
