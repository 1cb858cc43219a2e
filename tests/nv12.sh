#!/bin/sh
# NV12 input, bit-exact with OpenCV (python3-opencv is the reference):
#  1. the NV12 -> RGB conversion `effvit quantize` writes into a model (standard int32 ONNX ops)
#     against cv2.COLOR_YUV2RGB_NV12, on random NV12 frames, non-square;
#  2. an image turned into NV12 the way the board's demo does it (BGR -> I420 -> interleaved UV),
#     through `effvit run --image` on the same conversion, against cv2 doing both steps.
#
#   nv12.sh EFFVIT_BINARY WORKDIR
. "$(dirname "$0")/cli_lib.sh"
rm -rf cal_wide cal_square out && mkdir -p cal_wide cal_square out

# An identity model per size: what comes out is what the prepended preprocessing computed.
"$python" - <<'PY'
import json
import cv2
import numpy as np
import onnx
from onnx import helper, TensorProto
rng = np.random.default_rng(11)
# opset 11 too: Clip takes integers only from opset 12, so the conversion must clip as floats there.
for name, h, w, opset in (("wide", 32, 48, 11), ("square", 32, 32, 13)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, h, w])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, h, w])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"], name="id")], name, [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    meta = m.metadata_props.add(); meta.key, meta.value = "effvit.crop", str(h)
    meta = m.metadata_props.add(); meta.key, meta.value = "effvit.resize_shorter", "0"
    onnx.save(m, name + ".onnx")
    np.save("cal_%s/sample.npy" % name, rng.uniform(0, 255, (1, 3, h, w)).astype(np.float32))
    # Random NV12 frames (full 0..255 range, so saturation is exercised) and OpenCV's RGB.
    nv12 = rng.integers(0, 256, (h * 3 // 2, w), dtype=np.uint8)
    np.save(name + "_nv12.npy", nv12.reshape(1, h * 3 // 2, w, 1))
    rgb = cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12)
    np.save(name + "_rgb_expected.npy", rgb.transpose(2, 0, 1)[None].astype(np.float32))
# An image for the demo's path: BGR -> I420 -> NV12 -> RGB, all by OpenCV.
rgb = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
cv2.imwrite("image.png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
i420 = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), cv2.COLOR_BGR2YUV_I420)
y, u, v = i420[:32], i420[32:40].reshape(16, 16), i420[40:48].reshape(16, 16)
uv = np.stack([u, v], axis=-1).reshape(16, 32)
nv12 = np.concatenate([y, uv])
np.save("image_rgb_expected.npy", cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12).transpose(2, 0, 1)[None].astype(np.float32))
PY

for name in wide square; do
    cat >"$name.yaml" <<YAML
model_parameters:
  onnx_model: '$name.onnx'
  working_dir: 'out'
  output_model_file_prefix: '${name}_nv12'
input_parameters:
  input_type_rt: 'nv12'
  input_type_train: 'rgb'
  input_layout_train: 'NCHW'
  norm_type: 'no_preprocess'
calibration_parameters:
  cal_data_dir: 'cal_$name'
  calibration_type: 'max'
YAML
    "$effvit" quantize --config "$name.yaml" >/dev/null 2>quantize.err
done
"$effvit" run out/wide_nv12.onnx --input wide_nv12.npy --output wide_rgb.npy
"$effvit" run out/square_nv12.onnx --input square_nv12.npy --output square_rgb.npy
"$effvit" run out/square_nv12.onnx --image image.png --output image_rgb.npy
"$python" - <<'PY'
import numpy as np
import onnx
for name in ("wide", "square", "image"):
    got, want = np.load(name + "_rgb.npy"), np.load(name + "_rgb_expected.npy")
    assert got.shape == want.shape, (name, got.shape, want.shape)
    bad = int((got != want).sum())
    assert bad == 0, "%s: %d of %d values differ from OpenCV (max %g)" % (name, bad, got.size, np.abs(got - want).max())
    print(name, "bit-exact with OpenCV:", got.size, "values")
for name in ("wide", "square"):
    onnx.checker.check_model(onnx.load("out/%s_nv12.onnx" % name), full_check=True)  # types too
m = onnx.load("out/wide_nv12.onnx")
t = m.graph.input[0].type.tensor_type
assert t.elem_type == onnx.TensorProto.UINT8 and [d.dim_value for d in t.shape.dim][1:] == [48, 48, 1]
PY
finish
