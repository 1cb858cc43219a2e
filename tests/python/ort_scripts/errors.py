import sys

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument, InvalidProtobuf, NoSuchFile

sess = ort.InferenceSession(sys.argv[1])
x = np.zeros((1, 3, 224, 224), np.float32)
try:
    sess.run(None, {"wrong_name": x})
    raise SystemExit("a missing input was accepted")
except ValueError as e:  # the Python API's own check: required inputs missing
    print("ValueError:", e)
try:
    sess.run(None, {"input": x, "wrong_name": x})
    raise SystemExit("an unknown input name was accepted")
except InvalidArgument as e:
    print("InvalidArgument:", e)
try:
    sess.run(None, {"input": np.zeros((1, 3, 224, 224), np.float64)})
    raise SystemExit("float64 was accepted")
except InvalidArgument as e:
    print("InvalidArgument:", e)
try:
    ort.InferenceSession("does_not_exist.onnx")
    raise SystemExit("a missing file loaded")
except NoSuchFile as e:
    print("NoSuchFile:", e)
try:
    ort.InferenceSession(b"not a model")
    raise SystemExit("garbage loaded")
except (InvalidProtobuf, Fail) as e:
    print(type(e).__name__ + ":", e)
