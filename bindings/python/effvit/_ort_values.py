"""ONNX Runtime's OrtValue and IOBinding over NumPy arrays: effvit runs on the CPU, so a value is
an array in host memory and binding it costs nothing."""
import numpy as np

from ._effvit import Error, InvalidArgument

# ONNX Runtime's type strings, and the ONNX TensorProto element type numbers its
# OrtValue.element_type() returns.
_TYPES = {np.dtype(np.float32): ("tensor(float)", 1), np.dtype(np.uint8): ("tensor(uint8)", 2), np.dtype(np.int8): ("tensor(int8)", 3),
          np.dtype(np.uint16): ("tensor(uint16)", 4), np.dtype(np.int16): ("tensor(int16)", 5), np.dtype(np.int32): ("tensor(int32)", 6),
          np.dtype(np.int64): ("tensor(int64)", 7), np.dtype(np.bool_): ("tensor(bool)", 9), np.dtype(np.float16): ("tensor(float16)", 10),
          np.dtype(np.float64): ("tensor(double)", 11)}


def _check_cpu(device_type):
    if str(device_type).lower() != "cpu":
        raise InvalidArgument("effvit runs on the CPU; device_type '%s' is not available" % device_type)


class OrtValue:
    """A tensor in host memory, as ONNX Runtime's OrtValue: made from a NumPy array (shared, not
    copied) or from a shape and type."""

    def __init__(self, array):
        self._array = array

    @staticmethod
    def ortvalue_from_numpy(numpy_obj, device_type="cpu", device_id=0):
        _check_cpu(device_type)
        # C order without losing a 0-d array's shape (np.ascontiguousarray would make it 1-d).
        return OrtValue(np.require(numpy_obj, requirements="C"))

    @staticmethod
    def ortvalue_from_shape_and_type(shape=None, element_type=None, device_type="cpu", device_id=0):
        _check_cpu(device_type)
        return OrtValue(np.empty(shape, dtype=element_type))

    def numpy(self):
        """A copy, as ONNX Runtime's: the value itself may be a bound output the next run rewrites."""
        return np.array(self._array)

    def shape(self):
        return list(self._array.shape)

    def data_type(self):
        return _TYPES.get(self._array.dtype, ("tensor(%s)" % self._array.dtype, 0))[0]

    def element_type(self):
        """The ONNX TensorProto element type number (1 for float), as ONNX Runtime returns it."""
        return _TYPES.get(self._array.dtype, ("", 0))[1]

    def device_name(self):
        return "cpu"

    def is_tensor(self):
        return True

    def has_value(self):
        return True

    def data_ptr(self):
        return self._array.ctypes.data

    def __repr__(self):
        return "OrtValue(%s, shape=%s)" % (self.data_type(), self.shape())


def _array_at(buffer_ptr, element_type, shape):
    """The memory at an address as an array (no copy): what ONNX Runtime's binding by
    buffer_ptr means for host memory."""
    dtype = np.dtype(element_type)
    count = int(np.prod(shape)) if len(shape) else 1
    buffer = (np.ctypeslib.ctypes.c_byte * (count * dtype.itemsize)).from_address(buffer_ptr)
    return np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape)


def _as_array(value):
    return value._array if isinstance(value, OrtValue) else value


class IOBinding:
    """ONNX Runtime's IOBinding: inputs and outputs bound to arrays before the run. An output bound
    to an array is written in place: when every output is bound, the engine writes straight into
    them (no copy)."""

    def __init__(self, session):
        self._session = session
        self._inputs = {}
        self._outputs = {}      # name -> array to fill, or None: effvit allocates it
        self._results = None

    def bind_cpu_input(self, name, arr_on_cpu):
        self._inputs[name] = arr_on_cpu

    def bind_input(self, name, device_type, device_id, element_type, shape, buffer_ptr):
        """Binds an input in memory given by address (a NumPy array's ctypes.data, an OrtValue's
        data_ptr()). The memory must stay valid until the run."""
        _check_cpu(device_type)
        self._inputs[name] = _array_at(buffer_ptr, element_type, shape)

    def bind_ortvalue_input(self, name, ortvalue):
        self._inputs[name] = ortvalue._array

    def bind_output(self, name, device_type="cpu", device_id=0, element_type=None, shape=None, buffer_ptr=None):
        _check_cpu(device_type)
        self._check_output(name)
        if buffer_ptr is None:
            self._outputs[name] = None
            return
        if element_type is None or shape is None:
            raise InvalidArgument("bind_output with buffer_ptr needs element_type and shape")
        self._outputs[name] = _array_at(buffer_ptr, element_type, shape)

    def bind_ortvalue_output(self, name, ortvalue):
        self._check_output(name)
        self._outputs[name] = ortvalue._array

    def _check_output(self, name):
        names = [o.name for o in self._session.get_outputs()]
        if name not in names:
            raise InvalidArgument("the model has no output named '%s' (its outputs: %s)" % (name, ", ".join(names)))

    def clear_binding_inputs(self):
        self._inputs = {}

    def clear_binding_outputs(self):
        self._outputs = {}

    def synchronize_inputs(self):
        pass

    def synchronize_outputs(self):
        pass

    def _run(self):
        bound = {name: array for name, array in self._outputs.items() if array is not None}
        self._session._check_feed(self._inputs)
        outputs = self._session._run_bound(self._inputs, bound)
        names = [o.name for o in self._session.get_outputs()]
        wanted = list(self._outputs) or names
        by_name = dict(zip(names, outputs))
        self._results = [by_name[name] for name in wanted]

    def get_outputs(self):
        """The bound outputs of the last run, as OrtValues (sharing the arrays)."""
        if self._results is None:
            raise Error("IOBinding.get_outputs: run_with_iobinding has not run yet")
        return [OrtValue(array) for array in self._results]

    def copy_outputs_to_cpu(self):
        """Copies of the bound outputs of the last run, as arrays (the next run may overwrite the
        bound ones)."""
        if self._results is None:
            raise Error("IOBinding.copy_outputs_to_cpu: run_with_iobinding has not run yet")
        return [np.array(array) for array in self._results]


def inputs_of(feed):
    return {name: _as_array(value) for name, value in feed.items()}
