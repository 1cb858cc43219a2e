import sys

import numpy as np
import onnxruntime as ort

with open(sys.argv[1], "rb") as f:
    model_bytes = f.read()
sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
x = np.random.rand(1, 3, 224, 224).astype(np.float32)
from_file = ort.InferenceSession(sys.argv[1]).run(None, {"input": x})[0]
assert np.array_equal(sess.run(None, {"input": x})[0], from_file)
print("ok")
