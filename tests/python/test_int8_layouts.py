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


def test_quantized_output_of_the_float_fallback_on_every_tier(tmp_path):
    """Without VNNI an integer conv runs as a float conv on dequantized operands and quantizes its
    output itself. oneDNN 2.6's scaling reorder did that quantization wrong at avx512_core for a
    depthwise stride-2 conv (every code at the zero point): each tier this CPU can run gives the
    native tier's bytes, within one step of rounding."""
    import os
    import subprocess
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
    import ort_style_qdq

    rng = np.random.RandomState(3)
    w = rng.standard_normal((64, 1, 3, 3)).astype(np.float32) * 0.3
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], group=64, pads=[1, 1, 1, 1], strides=[2, 2]), helper.make_node("Relu", ["c"], ["y"])],
        "dw_stride2", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 14, 14])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 7, 7])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(rng.standard_normal(64).astype(np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = str(tmp_path / "dw.onnx")
    onnx.save(ort_style_qdq.quantize(model, samples=4, uint8=True), path)
    x = rng.standard_normal((1, 64, 14, 14)).astype(np.float32)
    np.save(str(tmp_path / "x.npy"), x)
    cli = os.environ.get("EFFVIT_CLI", os.path.join(os.path.dirname(__file__), "..", "..", "build", "effvit"))
    outputs = {}
    for tier in ("", "avx512", "avx2"):
        env = dict(os.environ)
        env.pop("EFFVIT_MAX_ISA", None)
        if tier:
            env["EFFVIT_MAX_ISA"] = tier
        out = str(tmp_path / f"y{tier}.npy")
        subprocess.run([cli, "run", path, "--input", str(tmp_path / "x.npy"), "--output", out], check=True, capture_output=True, env=env)
        outputs[tier] = np.load(out)
    step = np.abs(np.diff(np.unique(outputs[""]))).min()
    for tier in ("avx512", "avx2"):
        assert np.abs(outputs[tier] - outputs[""]).max() <= step * 1.01, tier
        assert np.mean(outputs[tier] != outputs[""]) < 0.01, tier
