import sys

import numpy as np
import onnxruntime as ort

sess = ort.InferenceSession(sys.argv[1])
run_options = ort.RunOptions()
run_options.log_severity_level = 3
run_options.logid = "batch-of-four"
x = np.random.rand(4, 3, 224, 224).astype(np.float32)
(logits,) = sess.run([sess.get_outputs()[0].name], {sess.get_inputs()[0].name: x}, run_options)
assert logits.shape == (4, 10)
probs = np.exp(logits - logits.max(axis=1, keepdims=True))
probs /= probs.sum(axis=1, keepdims=True)
print(probs.argmax(axis=1))
