#!/usr/bin/python3
"""An ONNX Runtime script with one line changed: shapes from get_inputs(), run(None, ...).

    PYTHONPATH=build/python examples/ort_style.py MODEL.onnx [--threads N]
"""
import sys

import numpy as np

import effvit as ort  # was: import onnxruntime as ort


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    options = ort.SessionOptions()
    if "--threads" in sys.argv:
        options.intra_op_num_threads = int(sys.argv[sys.argv.index("--threads") + 1])
    sess = ort.InferenceSession(sys.argv[1], sess_options=options, providers=["CPUExecutionProvider"])
    feed = {}
    for arg in sess.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in arg.shape]
        dtype = np.uint8 if arg.type == "tensor(uint8)" else np.float32
        rng = np.random.default_rng(0)
        feed[arg.name] = (rng.integers(0, 256, shape) if dtype == np.uint8 else rng.standard_normal(shape)).astype(dtype)
    outputs = sess.run(None, feed)
    for arg, out in zip(sess.get_outputs(), outputs):
        print("%s %s %s argmax %d" % (arg.name, arg.type, list(out.shape), int(np.argmax(out.reshape(out.shape[0], -1)[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
