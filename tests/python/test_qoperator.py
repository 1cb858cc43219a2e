"""ONNX's QOperator form (QLinearConv, QLinearMatMul), as ONNX Runtime's quantizer writes it, runs in
effvit through the QDQ form (src/import/qoperator.cpp): checked against a numpy evaluator written
from the operator definitions (python/qoperator_model.py), with uint8 and with int8 activations,
and its convs on int8 kernels wherever the uint8 ones run exactly."""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

import effvit

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import qoperator_model  # noqa: E402

CLI = os.environ.get("EFFVIT_CLI", os.path.join(ROOT, "build", "effvit"))


@pytest.mark.parametrize("activation_type", [np.uint8, np.int8])
def test_qoperator_model_matches_the_operator_definitions(tmp_path, activation_type):
    model, params = qoperator_model.build(activation_type, seed=3)
    path = str(tmp_path / "qop.onnx")
    onnx.save(model, path)
    session = effvit.InferenceSession(path)
    rng = np.random.RandomState(4)
    for scale in (1.0, 4.0):  # the second saturates the input quantisation at both ends
        x = (rng.standard_normal(qoperator_model.SHAPE) * scale).astype(np.float32)
        got = session.run(None, {"x": x})[0]
        want = qoperator_model.evaluate(params, x)
        step = np.float32(params["y3_scale"])
        # The requantisations are float multiplications: a sum that lands on a rounding tie may go
        # either way, one step in one layer; nothing more.
        diff = np.abs(got - want) / step
        assert diff.max() <= 1.01, (activation_type, scale, diff.max())
        assert np.mean(diff > 0.5) < 0.02, (activation_type, scale, np.mean(diff > 0.5))

    # The convs reach the int8 kernels (int8 activations through their uint8 shift) where oneDNN
    # computes the full-range weights exactly (VNNI); the float fallback elsewhere.
    info = json.loads(subprocess.run([CLI, "info", path, "--kernels", "--json"], check=True, capture_output=True, text=True).stdout)
    convs = [k["implementation"] for k in info["kernels"] if k["op"] == "Conv"]
    assert len(convs) == 2, info["kernels"]
    if info["isa"] in ("avx2_vnni", "avx512_vnni", "avx512_bf16", "amx"):
        assert all(c.startswith("int8 conv") for c in convs), convs


def test_qlinear_ops_are_refused_by_name_when_they_cannot_be_expanded(tmp_path):
    """Per-channel weights need DequantizeLinear's axis (opset 13): at opset 11 the op stays as it is
    and is refused as unsupported, one line naming it."""
    model, _ = qoperator_model.build(np.uint8)
    model.opset_import[0].version = 11
    path = str(tmp_path / "qop11.onnx")
    onnx.save(model, path)
    r = subprocess.run([CLI, "info", path], capture_output=True, text=True)
    assert r.returncode != 0 and "unsupported op 'QLinearConv'" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_generated_names_never_collide_and_mixed_weight_parameters_run(tmp_path):
    """Two QLinearConvs sharing a name, a tensor the model already calls like a generated one, and
    a per-channel weight scale with a scalar zero point (the spec allows it, DequantizeLinear not):
    still the operator definitions' numbers."""
    model, params = qoperator_model.build(np.uint8, seed=5)
    g = model.graph
    for n in g.node:
        if n.op_type == "QLinearConv":
            n.name = "conv"
    taken = onnx.helper.make_node("Identity", ["y1"], ["conv/effvit_y"], name="taken")
    g.node.insert(2, taken)  # defined before the second conv, read by nothing
    for init in g.initializer:
        if init.name == "w2_zero":
            init.CopyFrom(onnx.numpy_helper.from_array(np.array(0, np.int8), "w2_zero"))
    path = str(tmp_path / "names.onnx")
    onnx.save(model, path)
    x = np.random.RandomState(6).standard_normal(qoperator_model.SHAPE).astype(np.float32)
    got = effvit.InferenceSession(path).run(None, {"x": x})[0]
    want = qoperator_model.evaluate(params, x)
    assert np.abs(got - want).max() <= 1.01 * params["y3_scale"]


def test_qlinear_type_rules_are_checked(tmp_path):
    """An int8 bias breaks QLinearConv's type rules (ONNX Runtime refuses it): one line naming the
    node, not a run."""
    model, _ = qoperator_model.build(np.uint8)
    for init in model.graph.initializer:
        if init.name == "b1":
            init.CopyFrom(onnx.numpy_helper.from_array(np.zeros(16, np.int8), "b1"))
    path = str(tmp_path / "bias8.onnx")
    onnx.save(model, path)
    r = subprocess.run([CLI, "info", path], capture_output=True, text=True)
    assert r.returncode != 0 and "QLinearConv node 'conv1': the bias must be int32" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("activation_type", [np.uint8, np.int8])
def test_microsoft_qoperator_ops_match_their_definitions(tmp_path, activation_type):
    """ONNX Runtime's own-domain QOperator ops (QLinearAdd, QLinearLeakyRelu, QLinearMul,
    QLinearGlobalAveragePool, QLinearSigmoid, QLinearConcat, QGemm, QLinearSoftmax) run as
    DequantizeLinear -> op -> QuantizeLinear: the numpy evaluation of each op's definition, step for
    step. QLinearLeakyRelu and QLinearSigmoid become one byte lookup each (effvit.Requantize), no
    float op left in the plan."""
    model, params = qoperator_model.build_microsoft(activation_type, seed=5)
    path = str(tmp_path / "microsoft.onnx")
    onnx.save(model, path)
    session = effvit.InferenceSession(path)
    rng = np.random.RandomState(2)
    mismatched = 0
    for scale in (1.0, 3.0, 9.0):  # the last saturates the input quantisation
        for _ in range(4):
            x = (rng.standard_normal(qoperator_model.SHAPE) * scale).astype(np.float32)
            got = session.run(None, {"x": x})[0]
            want = qoperator_model.evaluate_microsoft(params, x)
            diff = np.abs(got - want) / np.float32(params["sm_scale"])
            # A value on a rounding boundary in one of nine requantisations may land one step off.
            assert diff.max() <= 3.01, (scale, got, want)
            mismatched += int(diff.max() > 0.5)
    assert mismatched <= 2, mismatched
    ops = [k["op"] for k in json.loads(subprocess.run([CLI, "info", path, "--kernels", "--json"], check=True, capture_output=True,
                                                      text=True).stdout)["kernels"]]
    assert "LeakyRelu" not in ops and "Sigmoid" not in ops and ops.count("effvit.Requantize") >= 2, ops


def refused(tmp_path, model, name):
    path = str(tmp_path / name)
    onnx.save(model, path)
    r = subprocess.run([CLI, "info", path], capture_output=True, text=True)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def test_microsoft_qoperator_ops_beyond_their_rewrite_are_refused_by_name(tmp_path):
    """What the rewrite cannot express is one line naming the node and the reason, never a wrong run."""
    def with_attribute(node_name, key, value):
        model, _ = qoperator_model.build_microsoft(np.uint8)
        for n in model.graph.node:
            if n.name == node_name:
                for a in n.attribute:
                    if a.name == key:
                        n.attribute.remove(a)
                        break
                n.attribute.append(onnx.helper.make_attribute(key, value))
        return model

    err = refused(tmp_path, with_attribute("pool", "channels_last", 1), "channels_last.onnx")
    assert "QLinearGlobalAveragePool node 'pool': channels_last = 1 is not supported" in err, err
    err = refused(tmp_path, with_attribute("softmax", "opset", 11), "softmax11.onnx")
    assert "QLinearSoftmax node 'softmax'" in err and "opset 11" in err, err
    err = refused(tmp_path, with_attribute("gemm", "alpha", 2.0), "alpha.onnx")
    assert "QGemm node 'gemm': alpha other than 1" in err, err
    model, _ = qoperator_model.build_microsoft(np.uint8)
    for n in model.graph.node:
        if n.name == "gate":
            n.op_type = "QLinearAveragePool"
    err = refused(tmp_path, model, "average_pool.onnx")
    assert "unsupported op 'com.microsoft::QLinearAveragePool'" in err, err


def test_microsoft_qoperator_edge_cases(tmp_path):
    """A QLinearSoftmax of opset 11 without an axis uses its own default (-1), not an opset-11
    Softmax's (1); QGemm's per-column bias may be [1, N]; extra inputs are refused as ONNX Runtime
    refuses them."""
    ms = "com.microsoft"
    p = {"s": np.float32(0.05), "z": np.uint8(100), "ys": np.float32(1 / 256), "yz": np.uint8(0)}
    inits = [onnx.numpy_helper.from_array(np.array(v), k) for k, v in p.items()]
    nodes = [onnx.helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             onnx.helper.make_node("QLinearSoftmax", ["xq", "s", "z", "ys", "yz"], ["yq"], domain=ms, opset=11),
             onnx.helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    graph = onnx.helper.make_graph(nodes, "softmax11", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3, 4])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3, 4])], inits)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 11), onnx.helper.make_opsetid(ms, 1)])
    model.ir_version = 7
    path = str(tmp_path / "softmax11.onnx")
    onnx.save(model, path)
    x = np.random.RandomState(1).standard_normal((2, 3, 4)).astype(np.float32) * 2
    xd = (np.clip(np.round(x / p["s"]) + 100, 0, 255) - 100).astype(np.float32) * p["s"]
    e = np.exp(xd - xd.max(axis=-1, keepdims=True))
    want = np.clip(np.round(e / e.sum(axis=-1, keepdims=True) / p["ys"]), 0, 255).astype(np.float32) * p["ys"]
    got = effvit.InferenceSession(path).run(None, {"x": x})[0]
    assert np.abs(got - want).max() <= 1.01 * p["ys"], (got, want)

    model, params = qoperator_model.build_microsoft(np.uint8, seed=5)
    for init in model.graph.initializer:
        if init.name == "gemm_bias":
            init.CopyFrom(onnx.numpy_helper.from_array(params["gemm_bias"].reshape(1, 5), "gemm_bias"))
    path = str(tmp_path / "bias_1xn.onnx")
    onnx.save(model, path)
    x = np.random.RandomState(2).standard_normal(qoperator_model.SHAPE).astype(np.float32)
    got = effvit.InferenceSession(path).run(None, {"x": x})[0]
    assert np.abs(got - qoperator_model.evaluate_microsoft(params, x)).max() <= 3.01 * params["sm_scale"]

    model, _ = qoperator_model.build_microsoft(np.uint8)
    for n in model.graph.node:
        if n.name == "add":
            n.input.append("a_zero")
    err = refused(tmp_path, model, "extra.onnx")
    assert "QLinearAdd node 'add': expects 7 to 8 inputs, has 9" in err, err
