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

# A Conv with an empty weight followed by BatchNormalization passes the ONNX checker; it once killed
# effvit with SIGFPE (a division by the zero channel count while folding the BN).
"$python" - <<'PY'
import onnx
from onnx import helper, TensorProto
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 5])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 0, 5, 5])
inits = [helper.make_tensor("w", TensorProto.FLOAT, [0, 4, 1, 1], [])] + \
        [helper.make_tensor(n, TensorProto.FLOAT, [0], []) for n in ("g", "b", "m", "v")]
nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="empty_conv"),
         helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"], name="bn")]
model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 13)])
onnx.checker.check_model(model)
onnx.save(model, "empty_conv.onnx")
PY
expect_error "Conv node 'empty_conv': weight [0,4,1,1] has an empty dimension" "$effvit" info empty_conv.onnx

"$python" - <<'PY'
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
def save(name, nodes, inits, extra_outputs=()):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    outs = [y] + [helper.make_tensor_value_info(o, TensorProto.INT64, ["n"]) for o in extra_outputs]
    g = helper.make_graph(nodes, "g", [x], outs, initializer=inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), name)
# A Range of 2^61 elements: its size must be refused, not wrapped. Dead, it is never evaluated.
range_nodes = [helper.make_node("Range", ["s", "l", "d"], ["r"], name="huge_range"), helper.make_node("Relu", ["x"], ["y"])]
range_inits = [numpy_helper.from_array(np.array(0, np.int64), "s"), numpy_helper.from_array(np.array(2**61, np.int64), "l"),
               numpy_helper.from_array(np.array(1, np.int64), "d")]
save("range_overflow.onnx", range_nodes, range_inits, extra_outputs=["r"])
save("range_dead.onnx", range_nodes, range_inits)
# A reshape target whose element count wraps around int64.
save("reshape_overflow.onnx",
     [helper.make_node("Reshape", ["x", "t"], ["y"], name="wrap")],
     [numpy_helper.from_array(np.array([2**62 + 1, 4], np.int64), "t")])
# Gemm with integer weights.
save("gemm_uint8.onnx",
     [helper.make_node("Gemm", ["x", "w"], ["y"], name="int_gemm")],
     [numpy_helper.from_array(np.ones((4, 4), np.uint8), "w")])
PY
expect_error "range_overflow.onnx: Range node 'huge_range'" "$effvit" info range_overflow.onnx
"$effvit" info range_dead.onnx >/dev/null
expect_error "reshape_overflow.onnx" "$effvit" info reshape_overflow.onnx
expect_error "Gemm node 'int_gemm': input 1 ('w') must be float32, got uint8" "$effvit" info gemm_uint8.onnx

# Command line.
expect_error "--output is required" "$effvit" run m0/model.onnx
expect_error "run: give one of --input or --image" "$effvit" run m0/model.onnx --output y.npy
expect_error "--threads" "$effvit" run m0/model.onnx --input x.npy --output y.npy --threads 0

# Inputs.
"$python" - <<'PY'
import numpy as np
np.save("small.npy", np.zeros((1, 3, 100, 100), np.float32))
np.save("double.npy", np.zeros((1, 3, 224, 224), np.float64))
np.save("ints.npy", np.zeros((1, 3, 224, 224), np.int64))
np.save("rank3.npy", np.zeros((3, 224, 224), np.float32))
np.save("nhwc.npy", np.zeros((1, 224, 224, 3), np.float32))
np.save("hwc.npy", np.zeros((224, 224, 3), np.float32))
np.save("u8_nhwc.npy", np.zeros((1, 224, 224, 3), np.uint8))
data = open("small.npy", "rb").read()
open("bad_dim.npy", "wb").write(data.replace(b"(1, 3, 100, 100)", b"(1, 3, 1ab, 100)"))
open("huge.npy", "wb").write(data.replace(b"(1, 3, 100, 100)", b"(99999999999, 3)"))
PY
expect_error "bad_dim.npy: bad dimension" "$effvit" run m0/model.onnx --input bad_dim.npy --output o6.npy
expect_error "huge.npy" "$effvit" run m0/model.onnx --input huge.npy --output o7.npy
expect_error "small.npy" "$effvit" run m0/model.onnx --input small.npy --output o1.npy
expect_error "double.npy: unsupported .npy dtype '<f8' (effvit reads float32 and integer arrays; save x.astype(np.float32))" "$effvit" run m0/model.onnx --input double.npy --output o2.npy
expect_error "must be float32, got int64" "$effvit" run m0/model.onnx --input ints.npy --output o3.npy
expect_error "must have shape [1,3,224,224], got [3,224,224]; it has no batch dimension: add one, x[None]" "$effvit" run m0/model.onnx --input rank3.npy --output o4.npy
expect_error "got [1,224,224,3]; it looks channels-last (NHWC) where the model takes NCHW: x.transpose(0, 3, 1, 2)" "$effvit" run m0/model.onnx --input nhwc.npy --output o8.npy
expect_error "must be float32, got uint8; and its shape [1,224,224,3] does not fit [1,3,224,224]; it looks channels-last (NHWC)" "$effvit" run m0/model.onnx --input u8_nhwc.npy --output o10.npy
expect_error "got [224,224,3]; it looks like one channels-last image (HWC) where the model takes a batch of NCHW: x.transpose(2, 0, 1)[None]" "$effvit" run m0/model.onnx --input hwc.npy --output o9.npy
expect_error "nothere.npy: cannot open" "$effvit" run m0/model.onnx --input nothere.npy --output o5.npy
for f in o1.npy o2.npy o3.npy o4.npy o5.npy o6.npy o7.npy; do
    if [ -e "$f" ] || [ -e "$f.tmp" ]; then
        echo "FAIL: $f was written by a failed run" >&2
        failures=$((failures + 1))
    fi
done

# Images.
echo "not an image" >fake.jpg
expect_error "fake.jpg: not a JPEG, PNG, WebP or BMP image" "$effvit" classify m0/model.onnx fake.jpg
expect_error "gone.png" "$effvit" classify m0/model.onnx gone.png
printf '\211PNG\r\n\032\n\000\000' >cut.png
expect_error "cut.png" "$effvit" classify m0/model.onnx cut.png

# One bad file among good ones costs only itself (text and JSON), unless --fail-fast.
"$python" -c "
import numpy as np, zlib, struct
def png(path, pixels):
    h, w = pixels.shape[:2]
    raw = b''.join(b'\\0' + pixels[y].tobytes() for y in range(h))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    open(path, 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) +
                           chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
png('good.png', np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8))
"
# Folders are listed by content: a PNG without an extension is an image, a text file named .jpg and
# a GIF are not (noted, with what they are), hidden files are passed over in silence.
mkdir -p batch/inner batch/.cache no_images && cp good.png batch/a.png && cp good.png batch/inner/b.png && cp fake.jpg batch/c.jpg
cp good.png batch/IMG_0001 && cp good.png batch/.hidden.png && cp fake.jpg batch/.cache/x.jpg && printf 'GIF89a\001\000\001\000' >batch/d.gif
echo x >no_images/readme.txt
set +e
"$effvit" classify m0/model.onnx good.png fake.jpg batch no_images --topk 1 >batch.txt 2>batch.err; text_status=$?
"$effvit" classify m0/model.onnx good.png fake.jpg batch no_images --topk 1 --json >batch.json 2>/dev/null; json_status=$?
set -e
"$python" - "$text_status" "$json_status" <<'PY'
import json, sys
assert sys.argv[1:] == ["1", "1"], f"exit statuses {sys.argv[1:]}, expected 1 and 1"
r = json.load(open("batch.json"))
assert [e["image"] for e in r] == ["good.png", "fake.jpg", "batch/IMG_0001", "batch/a.png", "batch/inner/b.png", "no_images"], r
assert [("error" in e) for e in r] == [False, True, False, False, False, True], r
assert r[1] == {"image": "fake.jpg", "file": "fake.jpg", "error": "fake.jpg: not a JPEG, PNG, WebP or BMP image"}, r[1]
assert r[0]["top"] == r[2]["top"] == r[3]["top"] == r[4]["top"], r
text, err = open("batch.txt").read(), open("batch.err").read().splitlines()
assert text.count("good.png") == 1 and "batch/inner/b.png" in text and "failed" not in text, text
assert err == ["effvit: note: batch: skipped 2 files that are not a JPEG, PNG, WebP or BMP image (c.jpg, d.gif (GIF))",
               "effvit: fake.jpg: not a JPEG, PNG, WebP or BMP image",
               "effvit: no_images: a folder with no JPEG, PNG, WebP or BMP images; it holds readme.txt", "effvit: 2 of 6 images failed"], err
print("ok: classify goes on past bad files")
PY
expect_error "fake.jpg: not a JPEG, PNG, WebP or BMP image" "$effvit" classify m0/model.onnx fake.jpg good.png --fail-fast
expect_error "no_images: a folder with no JPEG, PNG, WebP or BMP images; it holds readme.txt" "$effvit" classify m0/model.onnx no_images
expect_error "batch/d.gif: a GIF image; effvit reads JPEG, PNG, WebP and BMP" "$effvit" classify m0/model.onnx batch/d.gif
expect_error "sheet.jpg: --render writes a PNG; name it .png" "$effvit" classify m0/model.onnx good.png --render sheet.jpg
[ ! -e sheet.jpg ] || { echo "FAIL: a refused --render wrote its file" >&2; failures=$((failures + 1)); }

# The version, and usage errors that point at the verb's own help.
version=$("$effvit" --version)
[ "$version" = "effvit $(sed -n 's/^project(effvit VERSION \([0-9.]*\).*/\1/p' "$testdir/../CMakeLists.txt")" ] ||
    { echo "FAIL: effvit --version said '$version'" >&2; failures=$((failures + 1)); }
expect_error "MODEL is required (see effvit classify --help)" "$effvit" classify
expect_error "--data is required (see effvit eval --help)" "$effvit" eval m0/model.onnx
expect_error "unknown verb 'frobnicate' (see effvit --help)" "$effvit" frobnicate
expect_error "unknown verb 'clasify' (did you mean 'classify'?) (see effvit --help)" "$effvit" clasify m0/model.onnx good.png
expect_error "effvit: EFFVIT_MAX_ISA: unknown tier 'pentium'" env EFFVIT_MAX_ISA=pentium "$effvit" info m0/model.onnx

# Labels.
printf 'a\nb\n' >two_labels.txt
expect_error "two_labels.txt: has 2 labels, model has 1000 classes" "$effvit" classify m0/model.onnx fake.jpg --labels two_labels.txt

finish
