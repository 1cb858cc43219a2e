import json
import sys

import numpy as np
import onnxruntime as ort

# The preprocessing a user writes by hand for an ImageNet-style export: resize, normalise, NCHW.
sess = ort.InferenceSession(sys.argv[1])
meta = sess.get_modelmeta().custom_metadata_map
labels = json.loads(meta["effvit.classes"]) if "effvit.classes" in meta else [str(i) for i in range(10)]
image = (np.arange(224 * 224 * 3) % 256).reshape(224, 224, 3).astype(np.float32) / 255.0
mean = np.array([0.485, 0.456, 0.406], np.float32)
std = np.array([0.229, 0.224, 0.225], np.float32)
x = ((image - mean) / std).transpose(2, 0, 1)[None]
scores = sess.run(None, {sess.get_inputs()[0].name: x})[0][0]
top = np.argsort(-scores)[:3]
print([labels[i] for i in top])
assert len(labels) == 10
