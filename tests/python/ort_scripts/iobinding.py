import sys

import numpy as np
import onnxruntime as ort

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = np.random.rand(1, 3, 224, 224).astype(np.float32)
expected = session.run(None, {"input": x})[0]

# Inputs bound from NumPy, outputs allocated by the runtime.
io_binding = session.io_binding()
io_binding.bind_cpu_input("input", x)
io_binding.bind_output("logits")
session.run_with_iobinding(io_binding)
y = io_binding.copy_outputs_to_cpu()[0]
assert np.array_equal(y, expected)

# Both bound to preallocated buffers by address, as the docs show for device memory.
x_ortvalue = ort.OrtValue.ortvalue_from_numpy(x, "cpu", 0)
y_buffer = np.empty((1, 10), dtype=np.float32)
io_binding = session.io_binding()
io_binding.bind_input(name="input", device_type=x_ortvalue.device_name(), device_id=0, element_type=np.float32,
                      shape=x_ortvalue.shape(), buffer_ptr=x_ortvalue.data_ptr())
io_binding.bind_output(name="logits", device_type="cpu", device_id=0, element_type=np.float32, shape=[1, 10],
                       buffer_ptr=y_buffer.ctypes.data)
session.run_with_iobinding(io_binding)
assert np.array_equal(y_buffer, expected)
print("ok", io_binding.get_outputs()[0].shape())
