"""effvit: EfficientViT-MSRA image classifiers on CPUs, fp32 and int8.

ONNX Runtime's session API, so existing scripts change one import::

    import effvit as ort
    sess = ort.InferenceSession("model.onnx")
    logits, = sess.run(None, {sess.get_inputs()[0].name: x})

``effvit.Model`` gives effvit's own view of a model (summary, metadata, its preprocessing), and
``effvit.compat.pyeasy_dnn`` stands in for the RDK board's ``hobot_dnn.pyeasy_dnn``.
"""
from ._effvit import Error, InferenceSession, Model, ModelMetadata, NodeArg, SessionOptions, quantize

__all__ = ["Error", "InferenceSession", "Model", "ModelMetadata", "NodeArg", "SessionOptions", "get_available_providers", "quantize"]


def get_available_providers():
    """effvit runs on the CPU: ['CPUExecutionProvider'], as ONNX Runtime names it."""
    return ["CPUExecutionProvider"]
