"""ONNX Runtime's exception classes, as ``onnxruntime.capi.onnxruntime_pybind11_state`` names them.

Each is a subclass of ``effvit.Error``: a ported ``except InvalidArgument`` catches what it caught
under ONNX Runtime, and ``except effvit.Error`` still catches everything effvit raises.
"""
from .._effvit import (EngineError, EPFail, Fail, InvalidArgument, InvalidGraph, InvalidProtobuf, ModelLoaded, NoModel, NoSuchFile,
                       NotImplemented, RuntimeException)

__all__ = ["EPFail", "EngineError", "Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "ModelLoaded", "NoModel", "NoSuchFile",
           "NotImplemented", "RuntimeException"]
