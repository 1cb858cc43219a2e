"""A drop-in for the RDK board's ``hobot_dnn.pyeasy_dnn``, so a script written for the board runs on
a CPU with the ONNX file ``effvit quantize`` wrote (or any float export)::

    from effvit.compat import pyeasy_dnn as dnn
    models = dnn.load("efficientvit_m5_224x224_nv12.onnx")
    h, w = models[0].inputs[0].properties.shape[2:4]
    outputs = models[0].forward(nv12_bytes)
    logits = outputs[0].buffer

As on the board, an NV12 model's input is described as NCHW (1, 3, H, W) with tensor_type "NV12";
the model itself takes the frame as (1, H*3/2, W, 1). forward() takes, per input:

* an array of the model's own shape (``properties.model_shape``), passed through unchanged;
* flat bytes or a 1-D array of the same size, read in the model's own layout
  (``properties.layout``: NCHW unless the model was quantized with ``input_layout_rt: 'NHWC'``);
* for NV12, the frame as an (H*3/2, W) or (1, H*3/2, W) array, as OpenCV and cameras give it.

Any other shape is an error naming both shapes, never a silent reshape: (1, 224, 224, 3) pixels for
an NCHW model hold the right number of bytes in the wrong order.
"""
import numpy as np

from .. import Error, InferenceSession
from .._effvit import InvalidArgument

__all__ = ["load", "Model", "pyDNNTensor", "TensorProperties", "Error"]

_NUMPY = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
          "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}


class TensorProperties:
    """shape, layout ("NCHW"/"NHWC"), dtype (a NumPy dtype name) and tensor_type ("NV12", "RGB",
    "BGR", "GRAY", "F32", ...)."""

    def __init__(self, shape, layout, dtype, tensor_type, model_shape, dynamic=()):
        self.shape = tuple(shape)
        self.layout = layout
        self.dtype = dtype
        self.tensor_type = tensor_type
        self.model_shape = tuple(model_shape)  # what the ONNX model itself takes (dynamic dimensions as 1)
        self.dynamic = tuple(dynamic)  # per dimension of model_shape: any size is taken

    def __repr__(self):
        return "TensorProperties(shape=%r, layout=%r, dtype=%r, tensor_type=%r)" % (
            self.shape, self.layout, self.dtype, self.tensor_type)


class pyDNNTensor:
    """One input or output: name, properties and, for outputs, buffer (a NumPy array)."""

    def __init__(self, name, properties, buffer=None):
        self.name = name
        self.properties = properties
        self.buffer = buffer


def _properties(arg, meta, is_input):
    shape = [d if isinstance(d, int) else 1 for d in arg.shape]
    dynamic = [not isinstance(d, int) for d in arg.shape]
    dtype = np.dtype(_NUMPY.get(arg.type, np.float32)).name
    kind = meta.get("effvit.input_type_rt", "") if is_input else ""
    layout = meta.get("effvit.input_layout", "NCHW") if is_input and kind else "NCHW"
    if kind == "nv12" and len(shape) == 4:
        n, rows, w = shape[0], shape[1], shape[2]
        return TensorProperties((n, 3, rows * 2 // 3, w), "NCHW", dtype, "NV12", shape, dynamic)
    tensor_type = {"rgb": "RGB", "bgr": "BGR", "gray": "GRAY"}.get(kind, "F32" if dtype == "float32" else dtype.upper())
    return TensorProperties(shape, layout, dtype, tensor_type, shape, dynamic)


class Model:
    """A loaded model: name, inputs and outputs (pyDNNTensor), and forward()."""

    def __init__(self, path):
        self._session = InferenceSession(path)
        meta = self._session.get_modelmeta().custom_metadata_map
        self.name = path
        self.inputs = [pyDNNTensor(a.name, _properties(a, meta, True)) for a in self._session.get_inputs()]
        self.outputs = [pyDNNTensor(a.name, _properties(a, meta, False)) for a in self._session.get_outputs()]

    def forward(self, args):
        """Runs on one array (or a list, one per input); returns the outputs, each with .buffer."""
        arrays = list(args) if isinstance(args, (list, tuple)) else [args]
        if len(arrays) != len(self.inputs):
            raise InvalidArgument("%s: forward() got %d input(s), the model takes %d" % (self.name, len(arrays), len(self.inputs)))
        feed = {}
        for tensor, array in zip(self.inputs, arrays):
            if isinstance(array, (bytes, bytearray, memoryview)):
                # A frame's or tensor's bytes, as board scripts pass them: read as the input's own type.
                array = np.frombuffer(array, np.dtype(tensor.properties.dtype))
            feed[tensor.name] = self._as_model_input(tensor, np.asarray(array))
        results = self._session.run(None, feed)
        return [pyDNNTensor(t.name, t.properties, r) for t, r in zip(self.outputs, results)]


    def _as_model_input(self, tensor, array):
        props = tensor.properties
        want = props.model_shape
        # The model's own shape, any size on its dynamic dimensions (a batch of frames, say).
        if array.ndim == len(want) and all(d or a == w for a, w, d in zip(array.shape, want, props.dynamic or [False] * len(want))):
            return array
        accepted = array.ndim == 1
        if props.tensor_type == "NV12" and len(want) == 4:
            accepted = accepted or array.shape in ((want[1], want[2]), (1, want[1], want[2]))
        if accepted and array.size == int(np.prod(want)):
            return array.reshape(want)
        if props.tensor_type == "NV12":
            raise InvalidArgument("%s: forward(): input '%s' got an array of shape %s; the model takes an NV12 frame of (H*3/2, W) = %s, "
                                  "or its bytes flat" % (self.name, tensor.name, tuple(array.shape), (want[1], want[2])))
        raise InvalidArgument("%s: forward(): input '%s' got an array of shape %s; the model takes %s %s (or the same %s data flat)" % (
            self.name, tensor.name, tuple(array.shape), tuple(want), props.layout, props.dtype))


def load(path):
    """Loads one model file; returns a list of models, as the board's load() does."""
    return [Model(path)]
