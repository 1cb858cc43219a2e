"""effvit: EfficientViT-MSRA image classifiers on CPUs, fp32 and int8.

ONNX Runtime's session API, so existing scripts change one import::

    import effvit as ort
    sess = ort.InferenceSession("model.onnx")
    logits, = sess.run(None, {sess.get_inputs()[0].name: x})

``effvit.Model`` gives effvit's own view of a model (summary, metadata, its preprocessing), and
``effvit.compat.pyeasy_dnn`` stands in for the RDK board's ``hobot_dnn.pyeasy_dnn``.
"""
import enum

from . import _effvit
from ._effvit import Error, Model, ModelMetadata, NodeArg, SessionOptions, __version__, quantize
from ._ort_values import IOBinding, OrtValue, inputs_of

__all__ = ["Error", "ExecutionMode", "GraphOptimizationLevel", "IOBinding", "InferenceSession", "Model", "ModelMetadata", "NodeArg",
           "OrtValue", "RunOptions", "SessionOptions", "__version__", "get_all_providers", "get_available_providers", "get_device", "quantize",
           "set_default_logger_severity", "set_default_logger_verbosity"]

_logger = {"severity": 2, "verbosity": 0}


class InferenceSession(_effvit.InferenceSession):
    __doc__ = _effvit.InferenceSession.__doc__

    def io_binding(self):
        """Inputs and outputs bound to arrays before run_with_iobinding, as ONNX Runtime's."""
        return IOBinding(self)

    def run(self, output_names, input_feed, run_options=None):
        """Runs the model on {input name: array}; returns the outputs named in output_names (None:
        all), as arrays. A missing input is a ValueError, as in ONNX Runtime."""
        self._check_feed(input_feed)
        return super().run(output_names, input_feed, run_options)

    def _check_feed(self, input_feed):
        """ONNX Runtime's check before a run: a missing input is a ValueError, with its wording."""
        missing = [n for n in self._input_names if n not in input_feed]
        if missing:
            raise ValueError("Required inputs (%s) are missing from input feed (%s)." % (missing, list(input_feed)))

    def run_with_iobinding(self, iobinding, run_options=None):
        iobinding._run()

    def run_with_ort_values(self, output_names, input_dict_of_ort_values, run_options=None):
        """run() over OrtValues: OrtValues in, OrtValues out (sharing the arrays)."""
        return [OrtValue(array) for array in self.run(output_names, inputs_of(input_dict_of_ort_values), run_options)]

    def get_session_options(self):
        return self._options

    def end_profiling(self):
        """ONNX Runtime writes a profile file and returns its name; effvit profiles through
        EFFVIT_PROFILE instead, so there is no file: ''."""
        return ""

    def __init__(self, path_or_bytes, sess_options=None, providers=None, provider_options=None, **kwargs):
        super().__init__(path_or_bytes, sess_options, providers, **kwargs)
        self._options = sess_options if sess_options is not None else SessionOptions()
        self._input_names = [i.name for i in self.get_inputs()]  # once: run() checks the feed against them
        if self._options.optimized_model_filepath:
            _write_model(path_or_bytes, self._options.optimized_model_filepath)


def _write_model(path_or_bytes, target):
    """optimized_model_filepath: the model as loaded (effvit's optimisations live in its own graph
    form), one self-contained file: weights stored as external data are brought inside. Written
    whole or not at all."""
    import os
    import tempfile

    import onnx
    model = onnx.load_model_from_string(path_or_bytes) if isinstance(path_or_bytes, bytes) else onnx.load(os.fspath(path_or_bytes))
    folder = os.path.dirname(os.path.abspath(target))
    fd, partial = tempfile.mkstemp(dir=folder, suffix=".partial")
    os.close(fd)
    try:
        onnx.save(model, partial)
        os.replace(partial, target)
    except BaseException:
        os.remove(partial)
        raise


def get_device():
    """ONNX Runtime's build device: 'CPU'."""
    return "CPU"


def set_default_logger_severity(severity):
    """ONNX Runtime's log level, 0 (verbose) to 4 (fatal); effvit only ever prints warnings."""
    if not isinstance(severity, int) or not 0 <= severity <= 4:
        raise ValueError("severity must be an int from 0 to 4, got %r" % (severity,))
    _logger["severity"] = severity


def set_default_logger_verbosity(verbosity):
    if not isinstance(verbosity, int) or verbosity < 0:
        raise ValueError("verbosity must be a non-negative int, got %r" % (verbosity,))
    _logger["verbosity"] = verbosity


def get_all_providers():
    return ["CPUExecutionProvider"]


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
