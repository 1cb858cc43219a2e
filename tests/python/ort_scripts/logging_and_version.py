import sys

import onnxruntime as ort

ort.set_default_logger_severity(3)
print("version", ort.__version__)
print("device", ort.get_device())
print("providers", ort.get_available_providers())
assert "CPUExecutionProvider" in ort.get_available_providers()
assert ort.get_device() == "CPU"
options = ort.SessionOptions()
options.log_severity_level = 3
options.enable_profiling = False
sess = ort.InferenceSession(sys.argv[1], options)
print(sess.get_inputs()[0].name)
