"""Dynamic quantization as ONNX Runtime's quantize_dynamic writes it (python/ort_dynamic_quant.py):
DynamicQuantizeLinear, ConvInteger and MatMulInteger, then Cast and the scales' Mul. effvit gives
the numpy evaluation of the ops' definitions exactly (integer sums are exact; the float steps are
the same operations in the same order), on the int8 conv kernel where the tier's is exact."""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import effvit

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import ort_dynamic_quant  # noqa: E402

CLI = os.environ.get("EFFVIT_CLI", os.path.join(ROOT, "build", "effvit"))


def float_model(rng):
    """x [1,8,9,9] -> Conv 3x3 s2 (+bias) -> Relu -> Conv 1x1 (+bias) -> Reshape [1, 125] -> MatMul [125, 6]."""
    w1 = rng.standard_normal((10, 8, 3, 3)).astype(np.float32) * 0.2
    w2 = rng.standard_normal((5, 10, 1, 1)).astype(np.float32) * 0.3
    w3 = rng.standard_normal((125, 6)).astype(np.float32) * 0.1
    inits = [numpy_helper.from_array(v, k) for k, v in
             {"w1": w1, "b1": rng.standard_normal(10).astype(np.float32), "w2": w2, "b2": rng.standard_normal(5).astype(np.float32),
              "w3": w3, "flat": np.array([1, 125], np.int64)}.items()]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c1"], ["r1"]), helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"]),
             helper.make_node("Reshape", ["c2", "flat"], ["f"]), helper.make_node("MatMul", ["f", "w3"], ["y"])]
    graph = helper.make_graph(nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def dynamic_quantize(x):
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = np.float32(1.0) if lo == hi else np.float32((np.float32(hi) - np.float32(lo)) / np.float32(255))
    zero = np.float32(np.round(np.clip(np.float32(0) - np.float32(lo) / scale, 0, 255)))
    q = np.clip(np.round(x / scale) + zero, 0, 255)
    return q.astype(np.int64), scale, int(zero)


def conv_integer(xq, xz, wq, stride, pad):
    x = np.pad(xq - xz, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # padding contributes (zero - zero) = 0
    k = wq.shape[2]
    oh = (x.shape[2] - k) // stride + 1
    out = np.zeros((1, wq.shape[0], oh, oh), np.int64)
    for dy in range(k):
        for dx in range(k):
            patch = x[:, :, dy:dy + stride * oh:stride, dx:dx + stride * oh:stride]
            out += np.einsum("nchw,oc->nohw", patch, wq[:, :, dy, dx].astype(np.int64))
    return out


def evaluate(model, x):
    p = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}

    def scaled(acc, xs, name):
        return (acc.astype(np.int32).astype(np.float32) * np.float32(xs * p[name + "_scale"])).astype(np.float32)

    xq, xs, xz = dynamic_quantize(x)
    c1 = scaled(conv_integer(xq, xz, p["w1_quantized"], 2, 1), xs, "w1") + p["b1_reshaped"]
    r1 = np.maximum(c1, 0)
    rq, rs, rz = dynamic_quantize(r1)
    c2 = scaled(conv_integer(rq, rz, p["w2_quantized"], 1, 0), rs, "w2") + p["b2_reshaped"]
    fq, fs, fz = dynamic_quantize(c2.reshape(1, 125))
    return scaled((fq - fz) @ p["w3_quantized"].astype(np.int64), fs, "w3")


def test_dynamic_quantization_matches_the_op_definitions(tmp_path):
    rng = np.random.RandomState(11)
    model = ort_dynamic_quant.quantize(float_model(rng))
    path = str(tmp_path / "dynamic.onnx")
    onnx.save(model, path)
    session = effvit.InferenceSession(path)
    for scale in (1.0, 0.0, 5.0):  # an all-zero input: scale 1 as ONNX Runtime takes it
        x = (rng.standard_normal((1, 8, 9, 9)) * scale).astype(np.float32)
        got = session.run(None, {"x": x})[0]
        want = evaluate(model, x)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    info = json.loads(subprocess.run([CLI, "info", path, "--kernels", "--json"], check=True, capture_output=True, text=True).stdout)
    convs = [k["implementation"] for k in info["kernels"] if k["op"] == "ConvInteger"]
    assert len(convs) == 2, info["kernels"]
    if info["isa"] in ("avx2_vnni", "avx512_vnni", "avx512_bf16", "amx"):
        assert all(c.startswith("int8 conv") for c in convs), convs


def test_full_range_weights_below_vnni_run_exactly_on_int8_convs(tmp_path):
    """quantize_dynamic's weights use the whole int8 range, where oneDNN's int8 conv without VNNI
    saturates its int16 pair sums. Each tier this CPU can run (capped with EFFVIT_MAX_ISA) still runs
    every ConvInteger on an int8 conv, the weights split in two halves within [-64, 64] where the
    tier needs it, and gives the definition's result."""
    rng = np.random.RandomState(12)
    model = ort_dynamic_quant.quantize(float_model(rng))
    weights = [numpy_helper.to_array(t) for t in model.graph.initializer if t.name.endswith("_quantized")]
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in weights) > 64, "the test needs weights beyond [-64, 64]"
    path = str(tmp_path / "dynamic.onnx")
    onnx.save(model, path)
    x = (rng.standard_normal((1, 8, 9, 9)) * 3).astype(np.float32)
    np.save(str(tmp_path / "x.npy"), x)
    want = evaluate(model, x)
    supported = json.loads(subprocess.run([CLI, "info", path, "--json"], check=True, capture_output=True, text=True).stdout)["isa_supported"]
    for tier in [t for t in ("sse41", "avx2", "avx512", "avx512_vnni") if t in supported]:
        env = dict(os.environ, EFFVIT_MAX_ISA=tier)
        info = json.loads(subprocess.run([CLI, "info", path, "--kernels", "--json"], check=True, capture_output=True, text=True, env=env).stdout)
        convs = [k["implementation"] for k in info["kernels"] if k["op"] == "ConvInteger"]
        assert convs and all(c.startswith("int8 conv") for c in convs), (tier, convs)
        assert any("split weights" in c for c in convs) == (tier != "avx512_vnni"), (tier, convs)
        out = str(tmp_path / f"y_{tier}.npy")
        subprocess.run([CLI, "run", path, "--input", str(tmp_path / "x.npy"), "--output", out], check=True, capture_output=True, env=env)
        np.testing.assert_allclose(np.load(out), want, rtol=1e-6, atol=1e-6, err_msg=tier)
