import sys

import numpy as np
import onnxruntime as ort

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
x = np.random.rand(1, 3, 224, 224).astype(np.float32)
outputs = session.run(None, {input_name: x})
print(outputs[0].shape, int(np.argmax(outputs[0])))
assert outputs[0].shape == (1, 10)
