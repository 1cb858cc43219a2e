#!/usr/bin/python3
"""The RDK board's Python demo flow, unchanged but for the import: a BGR image, resized to the
model's input, made NV12 as the board's demo does (OpenCV's I420, then the U and V planes
interleaved), run with pyeasy_dnn's forward(), softmaxed, top-1 printed.

    PYTHONPATH=build/python examples/pyeasy_dnn_classify.py MODEL_NV12.onnx IMAGE [LABELS.txt]
"""
import sys

import cv2
import numpy as np

from effvit.compat import pyeasy_dnn as dnn  # on the board: from hobot_dnn import pyeasy_dnn as dnn


def bgr2nv12(image):
    height, width = image.shape[0], image.shape[1]
    area = height * width
    yuv420p = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).reshape((area * 3 // 2,))
    y = yuv420p[:area]
    uv_planar = yuv420p[area:].reshape((2, area // 4))
    uv_packed = uv_planar.transpose((1, 0)).reshape((area // 2,))
    nv12 = np.zeros_like(yuv420p)
    nv12[:area] = y
    nv12[area:] = uv_packed
    return nv12


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    models = dnn.load(sys.argv[1])
    props = models[0].inputs[0].properties
    h, w = (props.shape[2], props.shape[3]) if props.layout == "NCHW" else (props.shape[1], props.shape[2])
    image = cv2.imread(sys.argv[2])
    if image is None:
        print("%s: cannot read the image" % sys.argv[2], file=sys.stderr)
        return 1
    resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    outputs = models[0].forward(bgr2nv12(resized))
    logits = outputs[0].buffer.reshape(-1).astype(np.float64)
    prob = np.exp(logits - logits.max())
    prob /= prob.sum()
    top = int(np.argmax(prob))
    labels = open(sys.argv[3]).read().splitlines() if len(sys.argv) > 3 else None
    name = labels[top] if labels else str(top)
    print("top-1: %d %s %.4f" % (top, name, prob[top]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
