"""effvit: EfficientViT-MSRA image classifiers on CPUs, fp32 and int8.

ONNX Runtime's session API, so existing scripts change one import::

    import effvit as ort
    sess = ort.InferenceSession("model.onnx")
    logits, = sess.run(None, {sess.get_inputs()[0].name: x})

``effvit.Model`` gives effvit's own view of a model (summary, metadata, its preprocessing), and
``effvit.compat.pyeasy_dnn`` stands in for the RDK board's ``hobot_dnn.pyeasy_dnn``.
"""
import enum

from ._effvit import Error, InferenceSession, Model, ModelMetadata, NodeArg, SessionOptions, quantize

__all__ = ["Error", "ExecutionMode", "GraphOptimizationLevel", "InferenceSession", "Model", "ModelMetadata", "NodeArg", "RunOptions",
           "SessionOptions", "get_available_providers", "quantize"]


class GraphOptimizationLevel(enum.IntEnum):
    """ONNX Runtime's levels, accepted by SessionOptions.graph_optimization_level; effvit always
    applies all of its optimisations."""
    ORT_DISABLE_ALL = 0
    ORT_ENABLE_BASIC = 1
    ORT_ENABLE_EXTENDED = 2
    ORT_ENABLE_ALL = 99


class ExecutionMode(enum.IntEnum):
    """ONNX Runtime's modes, accepted by SessionOptions.execution_mode; effvit runs nodes in order."""
    ORT_SEQUENTIAL = 0
    ORT_PARALLEL = 1


class RunOptions:
    """Accepted by InferenceSession.run as ONNX Runtime's run options; effvit reads none of them."""

    def __init__(self):
        self.log_severity_level = 2
        self.log_verbosity_level = 0
        self.logid = ""
        self.terminate = False


def get_available_providers():
    """effvit runs on the CPU: ['CPUExecutionProvider'], as ONNX Runtime names it."""
    return ["CPUExecutionProvider"]
