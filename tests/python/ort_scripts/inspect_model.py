import sys

import onnxruntime as ort

print("onnxruntime", ort.__version__, ort.get_device(), ort.get_available_providers())
sess = ort.InferenceSession(sys.argv[1])
for i in sess.get_inputs():
    print("input", i.name, i.shape, i.type)
for o in sess.get_outputs():
    print("output", o.name, o.shape, o.type)
meta = sess.get_modelmeta()
print(meta.producer_name, meta.graph_name, meta.domain, meta.version, meta.description)
for key, value in meta.custom_metadata_map.items():
    print(key, value[:40])
assert sess.get_inputs()[0].shape == ["batch", 3, 224, 224]
assert sess.get_outputs()[0].type == "tensor(float)"
assert meta.producer_name == "pytorch" and meta.graph_name == "torch_jit"
assert sess.get_providers() == ["CPUExecutionProvider"]
