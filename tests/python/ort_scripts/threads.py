import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort

sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
inputs = [np.random.rand(1, 3, 224, 224).astype(np.float32) for _ in range(8)]
expected = [sess.run(None, {"input": x})[0] for x in inputs]
with ThreadPoolExecutor(max_workers=4) as pool:
    got = list(pool.map(lambda x: sess.run(None, {"input": x})[0], inputs))
assert all(np.array_equal(a, b) for a, b in zip(got, expected))
print("ok")
