import sys

import numpy as np
import onnxruntime

x = np.random.rand(3, 3, 224, 224).astype(np.float32)
x_ortvalue = onnxruntime.OrtValue.ortvalue_from_numpy(x)
assert x_ortvalue.device_name() == "cpu"
assert x_ortvalue.element_type() == 1  # onnx.TensorProto.FLOAT
assert x_ortvalue.shape() == [3, 3, 224, 224]
assert x_ortvalue.data_type() == "tensor(float)"
assert x_ortvalue.is_tensor()
assert np.array_equal(x_ortvalue.numpy(), x)

session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
results = session.run_with_ort_values(["logits"], {"input": x_ortvalue})
assert results[0].shape() == [3, 10]
assert np.array_equal(results[0].numpy(), session.run(["logits"], {"input": x})[0])

io_binding = session.io_binding()
io_binding.bind_ortvalue_input("input", x_ortvalue)
y_ortvalue = onnxruntime.OrtValue.ortvalue_from_shape_and_type([3, 10], np.float32, "cpu", 0)
io_binding.bind_ortvalue_output("logits", y_ortvalue)
session.run_with_iobinding(io_binding)
assert np.array_equal(y_ortvalue.numpy(), results[0].numpy())

# Results collected across runs on one binding stay each run's own (numpy() copies).
collected = []
for k in range(3):
    io_binding.bind_cpu_input("input", x * (k + 1))
    session.run_with_iobinding(io_binding)
    collected.append(io_binding.get_outputs()[0].numpy())
for k in range(3):
    assert np.array_equal(collected[k], session.run(["logits"], {"input": x * (k + 1)})[0]), k
assert onnxruntime.OrtValue.ortvalue_from_numpy(np.float32(3)).shape() == []
print("ok")
