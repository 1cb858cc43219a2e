"""An int8 conv's quantized output read both by another int8 conv and by a DequantizeLinear (a
residual Add in another tool's QDQ file): the conv writes NHWC uint8 for its conv reader, and the
DequantizeLinear reads it through a NHWC -> NCHW conversion of uint8 bytes (passes/nhwc_layout.cpp).
That conversion once reinterpreted the bytes as float32 and scrambled them; checked here against a
numpy evaluation of the ops (no ONNX Runtime needed)."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import effvit

C, HW = 32, 14


def quantize(v, s, z):
    return np.clip(np.rint(v / np.float32(s)) + z, 0, 255)


def dequantize(v, s, z):
    return ((v - z) * np.float32(s)).astype(np.float32)


def build(path, rng):
    params = [("s0", np.float32(0.05)), ("z0", np.uint8(128)), ("s1", np.float32(0.04)), ("z1", np.uint8(100)),
              ("s2", np.float32(0.03)), ("z2", np.uint8(90))]
    inits = [numpy_helper.from_array(np.array(v), n) for n, v in params]
    w1 = rng.randint(-127, 128, (C, C, 1, 1)).astype(np.int8)
    w2 = rng.randint(-127, 128, (C, 1, 3, 3)).astype(np.int8)
    for name, w, s in (("w1", w1, 0.01), ("w2", w2, 0.02)):
        inits += [numpy_helper.from_array(w, name), numpy_helper.from_array(np.full(C, s, np.float32), "s" + name),
                  numpy_helper.from_array(np.zeros(C, np.int8), "z" + name)]

    def dq(inp, s, z, out, **attrs):
        return helper.make_node("DequantizeLinear", [inp, s, z], [out], **attrs)

    nodes = [helper.make_node("QuantizeLinear", ["x", "s0", "z0"], ["xq"]), dq("xq", "s0", "z0", "xd"),
             dq("w1", "sw1", "zw1", "w1d", axis=0), helper.make_node("Conv", ["xd", "w1d"], ["c1"]),
             helper.make_node("QuantizeLinear", ["c1", "s1", "z1"], ["c1q"]), dq("c1q", "s1", "z1", "c1d"),
             dq("w2", "sw2", "zw2", "w2d", axis=0),
             helper.make_node("Conv", ["c1d", "w2d"], ["c2"], group=C, pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["c2", "s2", "z2"], ["c2q"]), dq("c2q", "s2", "z2", "c2d"),
             helper.make_node("Add", ["c1d", "c2d"], ["y"])]
    graph = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, HW, HW])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, C, HW, HW])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return w1.astype(np.float32) * np.float32(0.01), w2.astype(np.float32) * np.float32(0.02)


def test_uint8_read_through_a_layout_conversion(tmp_path):
    rng = np.random.RandomState(0)
    w1, w2 = build(str(tmp_path / "m.onnx"), rng)
    x = rng.standard_normal((1, C, HW, HW)).astype(np.float32)
    got = effvit.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x})[0]

    c1 = np.einsum("oi,nihw->nohw", w1[:, :, 0, 0], dequantize(quantize(x, 0.05, 128), 0.05, 128))
    c1d = dequantize(quantize(c1, 0.04, 100), 0.04, 100)
    padded = np.pad(c1d, ((0, 0), (0, 0), (1, 1), (1, 1)))
    c2 = sum(w2[:, 0, dy, dx][None, :, None, None] * padded[:, :, dy:dy + HW, dx:dx + HW] for dy in range(3) for dx in range(3))
    want = c1d + dequantize(quantize(c2, 0.03, 90), 0.03, 90)
    # Requantizing in the conv may move a value that sits on a rounding boundary by one step, and
    # the depthwise conv can carry that on; a scrambled tensor is off by whole units everywhere.
    assert np.mean(np.abs(got - want) <= 0.0301 + 1e-6) > 0.99
    cosine = float(np.sum(got * want) / np.linalg.norm(got) / np.linalg.norm(want))
    assert cosine > 0.9999, cosine
