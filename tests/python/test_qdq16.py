"""16-bit QDQ (ONNX opset 21's int16/uint16 QuantizeLinear and DequantizeLinear, and ONNX Runtime's
com.microsoft Q/DQ it writes for 16 bits below opset 21): such a file runs exactly as the ops define
it, each activation's Q -> DQ pair as one float op on a vector kernel
(effvit.QuantizeDequantize), the 16-bit weights dequantized once at load: no Q/DQ loop per run."""
import json
import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import effvit

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("EFFVIT_CLI", os.path.join(ROOT, "build", "effvit"))


def q16(x, scale, zero):
    info = np.iinfo(zero.dtype)
    v = np.round(x.astype(np.float32) / np.float32(scale))  # numpy rounds half to even
    return np.clip(v + zero.astype(np.float64), info.min, info.max).astype(zero.dtype)


def dq16(q, scale, zero):
    return ((q.astype(np.int64) - zero.astype(np.int64)).astype(np.float32) * np.float32(scale)).astype(np.float32)


def conv2d(x, w, b):
    """3x3, stride 1, pad 1, NCHW, in float64 (the test's tolerance covers summation order)."""
    n, c, h, wd = x.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd))
    for ky in range(3):
        for kx in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, ky:ky + h, kx:kx + wd], w[:, :, ky, kx].astype(np.float64))
    return (out + b.reshape(1, -1, 1, 1)).astype(np.float32)


def build(code_type, microsoft, rng):
    """x -> Q/DQ -> Conv 3x3 (per-channel 16-bit weights behind a DequantizeLinear, float bias) ->
    Q/DQ -> Relu -> Q/DQ -> y."""
    unsigned = code_type == np.uint16
    zero = lambda: np.array(rng.randint(20000, 40000) if unsigned else rng.randint(-500, 500), code_type)  # noqa: E731
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32) * 0.3
    w_scale = (np.abs(w).reshape(6, -1).max(axis=1) / 32767).astype(np.float32)
    p = {"sx": np.float32(1e-4), "zx": zero(), "w16": np.round(w / w_scale.reshape(-1, 1, 1, 1)).astype(np.int16), "sw": w_scale,
         "zw": np.zeros(6, np.int16), "b": rng.standard_normal(6).astype(np.float32), "sc": np.float32(2e-4), "zc": zero(),
         "sr": np.float32(1.5e-4), "zr": zero()}
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in p.items()]
    domain = "com.microsoft" if microsoft else ""
    qdq = lambda n, i, o, s, z, **kw: helper.make_node(n, [i, s, z], [o], domain=domain, **kw)  # noqa: E731
    nodes = [qdq("QuantizeLinear", "x", "xq", "sx", "zx"), qdq("DequantizeLinear", "xq", "xd", "sx", "zx"),
             qdq("DequantizeLinear", "w16", "wd", "sw", "zw", axis=0),
             helper.make_node("Conv", ["xd", "wd", "b"], ["c"], pads=[1, 1, 1, 1]),
             qdq("QuantizeLinear", "c", "cq", "sc", "zc"), qdq("DequantizeLinear", "cq", "cd", "sc", "zc"),
             helper.make_node("Relu", ["cd"], ["r"]),
             qdq("QuantizeLinear", "r", "rq", "sr", "zr"), qdq("DequantizeLinear", "rq", "y", "sr", "zr")]
    graph = helper.make_graph(nodes, "qdq16", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 8, 8])], inits)
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)] if microsoft else [helper.make_opsetid("", 21)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8 if microsoft else 10
    return model, p


def evaluate(p, x):
    xd = dq16(q16(x, p["sx"], p["zx"]), p["sx"], p["zx"])
    w = dq16(p["w16"], p["sw"].reshape(-1, 1, 1, 1), p["zw"].reshape(-1, 1, 1, 1))
    c = dq16(q16(conv2d(xd, w, p["b"]), p["sc"], p["zc"]), p["sc"], p["zc"])
    return dq16(q16(np.maximum(c, 0), p["sr"], p["zr"]), p["sr"], p["zr"])


@pytest.mark.parametrize("code_type", [np.int16, np.uint16])
@pytest.mark.parametrize("microsoft", [False, True])
def test_16bit_qdq_runs_exactly_without_per_run_qdq_loops(tmp_path, code_type, microsoft):
    rng = np.random.RandomState(21)
    model, p = build(code_type, microsoft, rng)
    path = str(tmp_path / "qdq16.onnx")
    onnx.save(model, path)
    session = effvit.InferenceSession(path)
    step = max(float(p["sr"]), 1e-12)
    for scale in (0.5, 2.0, 8.0):  # the last saturates the input's 16-bit grid
        x = (rng.standard_normal((1, 4, 8, 8)) * scale).astype(np.float32)
        got = session.run(None, {"x": x})[0]
        want = evaluate(p, x)
        # Exact up to the conv's float summation order: a value on a rounding tie of the
        # conv's output grid may land one step off there, and so one output step here.
        off = np.abs(got - want) / step
        assert off.max() <= 2.01 and np.mean(off > 0.5) < 0.01, (scale, off.max())
    info = json.loads(subprocess.run([CLI, "info", path, "--kernels", "--json"], check=True, capture_output=True, text=True).stdout)
    ops = [k["op"] for k in info["kernels"]]
    assert "QuantizeLinear" not in ops and "DequantizeLinear" not in ops, ops
    assert ops.count("effvit.QuantizeDequantize") == 3, ops
    assert all(k["implementation"] != "reference" for k in info["kernels"]), info["kernels"]


def test_16bit_tensors_through_data_movement(tmp_path):
    """int16/uint16 tensors (a 16-bit model's codes as inputs or outputs) move through Transpose,
    Slice and Expand element for element: a review found them gathered as 8-byte elements, reading
    and writing past the buffers."""
    for dtype, proto in ((np.int16, TensorProto.INT16), (np.uint16, TensorProto.UINT16)):
        x = (np.arange(2 * 256 * 64) % 60000).astype(dtype).reshape(2, 256, 64)
        starts, ends = numpy_helper.from_array(np.array([1], np.int64), "starts"), numpy_helper.from_array(np.array([200], np.int64), "ends")
        axes, shape = numpy_helper.from_array(np.array([1], np.int64), "axes"), numpy_helper.from_array(np.array([3, 2, 256, 64], np.int64), "shape")
        nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]), helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["s"]),
                 helper.make_node("Expand", ["x", "shape"], ["e"])]
        outs = [helper.make_tensor_value_info(n, proto, s) for n, s in (("t", [2, 64, 256]), ("s", [2, 199, 64]), ("e", [3, 2, 256, 64]))]
        graph = helper.make_graph(nodes, "move16", [helper.make_tensor_value_info("x", proto, [2, 256, 64])], outs, [starts, ends, axes, shape])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        path = str(tmp_path / "move16.onnx")
        onnx.save(model, path)
        t, s, e = effvit.InferenceSession(path).run(None, {"x": x})
        assert t.dtype == dtype and np.array_equal(t, x.transpose(0, 2, 1))
        assert np.array_equal(s, x[:, 1:200]) and np.array_equal(e, np.broadcast_to(x, (3, 2, 256, 64)))


def test_16bit_codes_beside_an_int8_chain(tmp_path):
    """A 16-bit QuantizeLinear between two int8 convs whose codes are also a model output stays a
    QuantizeLinear (plain layout: only 8-bit Q/DQ join the convs' channels-last chain) and gives the
    definition's codes; a review found such a model refused at load."""
    rng = np.random.RandomState(0)
    w1, w2 = rng.randint(-60, 60, (8, 4, 1, 1)).astype(np.int8), rng.randint(-60, 60, (8, 8, 1, 1)).astype(np.int8)
    p = {"sx": np.float32(0.02), "zx": np.uint8(128), "w1": w1, "sw": np.float32(0.01), "zw": np.int8(0), "w2": w2,
         "s16": np.float32(1e-3), "z16": np.int16(0), "sb": np.float32(0.05), "zb": np.uint8(128)}
    n = helper.make_node
    nodes = [n("QuantizeLinear", ["x", "sx", "zx"], ["xq"]), n("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
             n("DequantizeLinear", ["w1", "sw", "zw"], ["w1d"]), n("Conv", ["xd", "w1d"], ["c"]),
             n("QuantizeLinear", ["c", "s16", "z16"], ["c16"]), n("DequantizeLinear", ["c16", "s16", "z16"], ["d"]),
             n("QuantizeLinear", ["d", "sb", "zb"], ["dq"]), n("DequantizeLinear", ["dq", "sb", "zb"], ["dd"]),
             n("DequantizeLinear", ["w2", "sw", "zw"], ["w2d"]), n("Conv", ["dd", "w2d"], ["y"])]
    graph = helper.make_graph(nodes, "chain16", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 5, 7]),
                               helper.make_tensor_value_info("c16", TensorProto.INT16, [1, 8, 5, 7])],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in p.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    path = str(tmp_path / "chain16.onnx")
    onnx.save(model, path)
    x = rng.standard_normal((1, 4, 5, 7)).astype(np.float32)
    _, c16 = effvit.InferenceSession(path).run(None, {"x": x})
    xd = dq16(q16(x, p["sx"], np.asarray(p["zx"])), p["sx"], np.asarray(p["zx"]))
    c = np.einsum("nchw,oc->nohw", xd.astype(np.float64), (w1[:, :, 0, 0] * p["sw"]).astype(np.float64)).astype(np.float32)
    want = q16(c, p["s16"], np.asarray(p["z16"]))
    assert c16.dtype == np.int16 and np.abs(c16.astype(np.int32) - want.astype(np.int32)).max() <= 1
