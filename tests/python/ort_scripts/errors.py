import sys

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument, InvalidProtobuf, NoSuchFile

sess = ort.InferenceSession(sys.argv[1])
try:
    sess.run(None, {"wrong_name": np.zeros((1, 3, 224, 224), np.float32)})
    raise SystemExit("a wrong input name was accepted")
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
