#!/bin/sh
# Int8 files written the way other tools write them (issue #20), each against ONNX Runtime on the
# same file:
#   speed:     one float export (default: an untrained M5 from python/make_fixture.py) quantized
#              each way, `compare_ort.sh` per file (effvit at its tier, ONNX Runtime int8);
#   agreement: the bundled trained M0 quantized each way, both runtimes on the first N
#              Fashion-MNIST test images: top-1 agreement, and each one's logits cosine to float32.
# Ways: ONNX Runtime's QDQ with int8 activations (BatchNorm folded, and left in), with uint8
# activations, its QOperator form, dynamic quantization; effvit's own file for reference.
#
#   bench/int8_files.sh EFFVIT_BINARY [EXPORT.onnx] [ROUNDS] [ITERS] [N]
set -eu
effvit=$1 export=${2:-} rounds=${3:-5} iters=${4:-50} n=${5:-1000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
py=/usr/bin/python3
pythonpath="$(cd "$(dirname "$effvit")" && pwd)/python"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$export" ]; then
    PYTHONPATH="$pythonpath" "$py" "$root/python/make_fixture.py" --variant m5 --outdir "$work/m5" >/dev/null
    export=$work/m5/model.onnx
fi

# write_files FLOAT DIR: every way, DIR/<way>.onnx
write_files() {
    PYTHONPATH="$pythonpath" "$py" "$root/python/ort_style_qdq.py" "$1" "$2/qdq_int8_bn_folded.onnx" --fold-batchnorm >/dev/null
    PYTHONPATH="$pythonpath" "$py" "$root/python/ort_style_qdq.py" "$1" "$2/qdq_int8_bn_left.onnx" >/dev/null
    PYTHONPATH="$pythonpath" "$py" "$root/python/ort_style_qdq.py" "$1" "$2/qdq_uint8.onnx" --fold-batchnorm --uint8 >/dev/null
    "$py" "$root/python/ort_qoperator.py" "$2/qdq_uint8.onnx" "$2/qoperator.onnx"
    "$py" "$root/python/ort_dynamic_quant.py" "$1" "$2/dynamic.onnx" >/dev/null
}
ways="qdq_int8_bn_folded qdq_int8_bn_left qdq_uint8 qoperator dynamic"

echo "== speed: $export, one thread, against ONNX Runtime int8 on the same file"
mkdir -p "$work/speed"
write_files "$export" "$work/speed"
for way in $ways; do
    printf '%-20s ' "$way"
    "$here/compare_ort.sh" "$effvit" "$work/speed/$way.onnx" "$rounds" "$iters" 2>/dev/null | sed 's|^effvit [^ ]* ([a-z0-9]*): ||'
done

echo "== agreement: bundled M0, first $n Fashion-MNIST test images"
mkdir -p "$work/agree"
write_files "$root/models/efficientvit_m0_fashion_mnist.onnx" "$work/agree"
cache=${EFFVIT_ORT_CACHE:-$HOME/.cache/effvit-ort}
PYTHONPATH="$pythonpath" "$py" - "$work/agree" "$n" "$root" "$effvit" "$cache" "$here" $ways <<'PY'
import gzip, os, subprocess, sys
import numpy as np
import effvit
work, n, root, cli, cache, here, ways = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7:]
fp32_path = os.path.join(root, "models", "efficientvit_m0_fashion_mnist.onnx")
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
model = effvit.Model(fp32_path)
batch = np.concatenate([model.preprocess(np.repeat(img[:, :, None], 3, axis=2)) for img in images])
chunks = [batch[i:i + 100] for i in range(0, len(batch), 100)]
for i, c in enumerate(chunks):
    np.save(f"{work}/x{i}.npy", c)
def effvit_logits(path):
    s = effvit.InferenceSession(path)
    return np.concatenate([s.run(None, {"input": c})[0] for c in chunks]).astype(np.float64)
def ort_logits(path):
    out = []
    for i in range(len(chunks)):
        subprocess.run(["node", f"{here}/ort_run.js", path, f"{work}/x{i}.npy", f"{work}/y.npy"], check=True, capture_output=True,
                       env=dict(os.environ, NODE_PATH=f"{cache}/node_modules"))
        out.append(np.load(f"{work}/y.npy"))
    return np.concatenate(out).astype(np.float64)
def cosine(a, b):
    return float(np.median((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))
fp32 = effvit_logits(fp32_path)
print(f"{'file':20s} {'top-1 agreement':>16s} {'cosine to fp32 (median): effvit':>32s} {'ORT':>7s}")
for way in ways:
    path = f"{work}/{way}.onnx"
    e, o = effvit_logits(path), ort_logits(path)
    print(f"{way:20s} {100 * (e.argmax(1) == o.argmax(1)).mean():15.2f}% {cosine(e, fp32):32.5f} {cosine(o, fp32):7.5f}")
PY
