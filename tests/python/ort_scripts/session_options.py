import os
import sys
import tempfile

import numpy as np
import onnxruntime as ort

so = ort.SessionOptions()
so.intra_op_num_threads = 2
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
so.log_severity_level = 3
so.add_session_config_entry("session.intra_op.allow_spinning", "0")
optimized = os.path.join(tempfile.mkdtemp(), "optimized.onnx")
so.optimized_model_filepath = optimized
sess = ort.InferenceSession(sys.argv[1], sess_options=so, providers=["CPUExecutionProvider"])
assert os.path.exists(optimized), "no optimized model written"
assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
# The written model loads and gives the same answer.
x = np.random.rand(2, 3, 224, 224).astype(np.float32)
a = sess.run(["logits"], {"input": x})[0]
b = ort.InferenceSession(optimized).run(["logits"], {"input": x})[0]
assert np.allclose(a, b, rtol=1e-5, atol=1e-5)
print("ok", a.shape)
