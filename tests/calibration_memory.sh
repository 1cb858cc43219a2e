#!/bin/sh
# Calibration memory does not grow with the number of calibration images: the bundled model's YAML
# on 40 and on 400 training images (IDX files cut from Fashion-MNIST's training set) peaks at about
# the same resident memory (histograms of fixed size, samples decoded one at a time).
#   calibration_memory.sh EFFVIT_BINARY WORKDIR
. "$(dirname "$0")/cli_lib.sh"
models=$(cd "$testdir/../models" && pwd)
"$python" - <<'PY'
import gzip, struct
with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
    magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
    data = f.read(400 * rows * cols)
for n in (40, 400):
    with open("train%d-images-idx3-ubyte" % n, "wb") as out:
        out.write(struct.pack(">IIII", magic, n, rows, cols) + data[:n * rows * cols])
PY
peak() {  # peak resident KB of quantizing with N images
    sed -e "s|cal_data_dir: .*|cal_data_dir: '$(pwd)/train$1-images-idx3-ubyte'|" \
        -e "s|onnx_model: .*|onnx_model: '$models/efficientvit_m0_fashion_mnist.onnx'|" \
        -e "s|working_dir: .*|working_dir: '$(pwd)/out$1'|" "$models/efficientvit_m0_fashion_mnist.yaml" >cal$1.yaml
    /usr/bin/time -f %M -o rss$1.txt "$effvit" quantize --config cal$1.yaml --json >q$1.json 2>/dev/null
    cat rss$1.txt
}
small=$(peak 40)
large=$(peak 400)
samples=$("$python" -c "import json; print(json.load(open('q400.json'))['samples'])")
echo "peak RSS: 40 images ${small} KB, 400 images ${large} KB ($samples samples)"
[ "$samples" = 400 ] || { echo "FAIL: calibrated on $samples samples, want 400" >&2; failures=$((failures + 1)); }
# 10x the images may cost a few MB (the IDX file itself is read whole: 0.3 MB here), not 10x.
if [ "$large" -gt $((small + small / 10 + 8192)) ]; then
    echo "FAIL: calibration memory grows with the image count" >&2
    failures=$((failures + 1))
fi
finish
