"""Where ONNX Runtime scripts import from ``onnxruntime.capi``: its exception classes."""
