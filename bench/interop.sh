#!/bin/sh
# effvit and ONNX Runtime on the same quantized (QDQ) NV12 model and the same NV12 frames: top-1
# agreement and each one's accuracy on the first N Fashion-MNIST test images. The frames are made
# by OpenCV as the board's demo makes them (gray -> RGB, resize to 224, BGR -> I420 -> interleaved
# UV), so both runtimes see identical bytes. ONNX Runtime is an oracle here, installed as in
# compare_ort.sh, never a dependency.
#
#   bench/interop.sh EFFVIT_BINARY INT8_NV12_MODEL [N]
set -eu
effvit=$1 model=$2 n=${3:-1000}
cache=${EFFVIT_ORT_CACHE:-$HOME/.cache/effvit-ort}
[ -d "$cache/node_modules/onnxruntime-node" ] ||
    (mkdir -p "$cache" && cd "$cache" && npm install --silent --ignore-scripts onnxruntime-node@1.30.0 >/dev/null)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" "$n" <<'PY'
import gzip, sys
import cv2
import numpy as np
work, n = sys.argv[1], int(sys.argv[2])
def idx(path):
    data = gzip.open(path).read()
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(data[3])]
    return np.frombuffer(data[4 + 4 * data[3]:], np.uint8).reshape(dims)
root = "/usr/share/datasets/fashion-mnist/"
images, labels = idx(root + "t10k-images-idx3-ubyte.gz")[:n], idx(root + "t10k-labels-idx1-ubyte.gz")[:n]
frames = np.zeros((n, 336, 224, 1), np.uint8)
for i, image in enumerate(images):
    bgr = cv2.resize(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), (224, 224), interpolation=cv2.INTER_LINEAR)
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    uv = np.stack([i420[224:280].reshape(112, 112), i420[280:336].reshape(112, 112)], -1).reshape(112, 224)
    frames[i, :, :, 0] = np.concatenate([i420[:224], uv])
np.save(work + "/nv12.npy", frames)
np.save(work + "/labels.npy", labels.astype(np.int64))
PY
"$effvit" run "$model" --input "$work/nv12.npy" --output "$work/effvit.npy" --threads 2
NODE_PATH="$cache/node_modules" node "$here/ort_run.js" "$model" "$work/nv12.npy" "$work/ort.npy"
/usr/bin/python3 - "$work" <<'PY'
import sys
import numpy as np
w = sys.argv[1]
a, b, labels = np.load(w + "/effvit.npy"), np.load(w + "/ort.npy"), np.load(w + "/labels.npy")
print("%d images: top-1 agreement %.2f%%, top-1 effvit %.2f%%, onnxruntime %.2f%%" % (
    len(labels), 100 * (a.argmax(1) == b.argmax(1)).mean(), 100 * (a.argmax(1) == labels).mean(), 100 * (b.argmax(1) == labels).mean()))
PY
