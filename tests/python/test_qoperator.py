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
