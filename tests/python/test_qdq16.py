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
