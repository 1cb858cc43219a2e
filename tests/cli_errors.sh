#!/bin/sh
# Every bad input to the CLI must end in exactly one line on stderr that names the file or object at
# fault, a non-zero exit status that is not a crash, and no half-written output file.
#
#   cli_errors.sh EFFVIT_BINARY WORKDIR
. "$(dirname "$0")/cli_lib.sh"
[ -f m0/model.onnx ] || "$python" "$pydir/make_fixture.py" --variant m0 --outdir m0 --seed 11 >/dev/null

# Models.
expect_error "missing.onnx: file not found" "$effvit" info missing.onnx
echo "this is not a model" >notes.onnx
expect_error "notes.onnx: not an ONNX model" "$effvit" info notes.onnx
head -c 1000000 m0/model.onnx >truncated.onnx
expect_error "truncated.onnx" "$effvit" info truncated.onnx
: >empty.onnx
expect_error "empty.onnx: empty file" "$effvit" info empty.onnx
"$python" - <<'PY'
import onnx
from onnx import helper, TensorProto
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
node = helper.make_node("Celu", ["x"], ["y"], name="my_celu")
model = helper.make_model(helper.make_graph([node], "g", [x], [y]), opset_imports=[helper.make_opsetid("", 13)])
onnx.save(model, "unsupported.onnx")
PY
expect_error "unsupported op 'Celu' (node 'my_celu')" "$effvit" info unsupported.onnx

# Inputs.
"$python" - <<'PY'
import numpy as np
np.save("small.npy", np.zeros((1, 3, 100, 100), np.float32))
np.save("double.npy", np.zeros((1, 3, 224, 224), np.float64))
np.save("ints.npy", np.zeros((1, 3, 224, 224), np.int64))
np.save("rank3.npy", np.zeros((3, 224, 224), np.float32))
PY
expect_error "small.npy" "$effvit" run m0/model.onnx --input small.npy --output o1.npy
expect_error "double.npy: unsupported .npy dtype" "$effvit" run m0/model.onnx --input double.npy --output o2.npy
expect_error "must be float32, got int64" "$effvit" run m0/model.onnx --input ints.npy --output o3.npy
expect_error "must have shape [1,3,224,224]" "$effvit" run m0/model.onnx --input rank3.npy --output o4.npy
expect_error "nothere.npy: cannot open" "$effvit" run m0/model.onnx --input nothere.npy --output o5.npy
for f in o1.npy o2.npy o3.npy o4.npy o5.npy; do
    if [ -e "$f" ] || [ -e "$f.tmp" ]; then
        echo "FAIL: $f was written by a failed run" >&2
        failures=$((failures + 1))
    fi
done

# Images.
echo "not an image" >fake.jpg
expect_error "fake.jpg: not a JPEG or PNG image" "$effvit" classify m0/model.onnx fake.jpg
expect_error "gone.png" "$effvit" classify m0/model.onnx gone.png
printf '\211PNG\r\n\032\n\000\000' >cut.png
expect_error "cut.png" "$effvit" classify m0/model.onnx cut.png

# Labels.
printf 'a\nb\n' >two_labels.txt
expect_error "two_labels.txt: has 2 labels, model has 1000 classes" "$effvit" classify m0/model.onnx fake.jpg --labels two_labels.txt

finish
