"""QDQ files laid out as ONNX Runtime's quantize_static writes them (python/ort_style_qdq.py), on the
bundled trained model: int8 activations with zero points (ONNX Runtime's default) give the uint8
file's logits bit for bit (passes/shift_int8_activations.cpp) on the same kernels, their convs run
on int8 kernels on every tier (below VNNI on split weights), and int8 stays close to float32."""
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
import ort_style_qdq  # noqa: E402

CLI = os.environ.get("EFFVIT_CLI", os.path.join(ROOT, "build", "effvit"))
FP32 = os.path.join(ROOT, "models", "efficientvit_m0_fashion_mnist.onnx")


def write(tmp_path, name, uint8, fold):
    model = onnx.load(FP32)
    if fold:
        ort_style_qdq.fold_batchnorm(model)
    path = str(tmp_path / name)
    onnx.save(ort_style_qdq.quantize(model, samples=4, uint8=uint8), path)
    return path


def kernels(path):
    out = subprocess.run([CLI, "info", path, "--kernels", "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_int8_activations_run_as_their_uint8_twins(tmp_path):
    s8, u8 = write(tmp_path, "s8.onnx", False, True), write(tmp_path, "u8.onnx", True, True)
    x = np.random.RandomState(7).standard_normal((2, 3, 224, 224)).astype(np.float32)
    got = effvit.InferenceSession(s8).run(None, {"input": x})[0]
    want = effvit.InferenceSession(u8).run(None, {"input": x})[0]
    assert np.array_equal(got, want)
    ks, ku = kernels(s8), kernels(u8)
    assert [k["implementation"] for k in ks["kernels"]] == [k["implementation"] for k in ku["kernels"]]
    if ks["isa"] in ("avx2_vnni", "avx512_vnni", "avx512_bf16", "amx"):
        convs = [k["implementation"] for k in ks["kernels"] if k["op"] == "Conv"]
        assert convs and all(c.startswith("int8 conv") for c in convs), convs
    fp32 = effvit.InferenceSession(FP32).run(None, {"input": x})[0]
    cosine = np.sum(got * fp32, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cosine.min() > 0.99, cosine


def test_uint8_file_runs_int8_convs_on_every_tier(tmp_path):
    """ONNX Runtime's symmetric weights use the whole int8 range, which oneDNN's int8 conv sums
    exactly only with VNNI. Capped below it (each tier this CPU runs), every conv of the uint8 file
    still runs on an int8 kernel, the weights split in two halves within [-64, 64], and the logits
    stay those of the native tier: the sums are the same integers, only the float32 rounding of
    the two halves' scaled sums may move a value on a quantization tie by one step."""
    u8 = write(tmp_path, "u8.onnx", True, True)
    x = np.random.RandomState(8).standard_normal((1, 3, 224, 224)).astype(np.float32)
    np.save(str(tmp_path / "x.npy"), x)
    native = effvit.InferenceSession(u8).run(None, {"input": x})[0]
    supported = kernels(u8)["isa_supported"]
    for tier in [t for t in ("sse41", "avx2", "avx512") if t in supported]:
        env = dict(os.environ, EFFVIT_MAX_ISA=tier)
        info = json.loads(subprocess.run([CLI, "info", u8, "--kernels", "--json"], check=True, capture_output=True, text=True, env=env).stdout)
        convs = [k["implementation"] for k in info["kernels"] if k["op"] == "Conv"]
        assert convs and all(c.startswith("int8 conv (split weights)") for c in convs), (tier, convs)
        out = str(tmp_path / f"y_{tier}.npy")
        subprocess.run([CLI, "run", u8, "--input", str(tmp_path / "x.npy"), "--output", out], check=True, capture_output=True, env=env)
        got = np.load(out)
        cosine = float(np.sum(got * native) / np.linalg.norm(got) / np.linalg.norm(native))
        assert cosine > 0.999 and got.argmax() == native.argmax(), (tier, cosine)


def test_qoperator_form_of_the_file_gives_the_same_logits(tmp_path):
    """The same quantization in ONNX Runtime's QOperator form (python/ort_qoperator.py: QLinearConv,
    QLinearMatMul, com.microsoft QLinearAdd) imports into the same graph: logits bit for bit those
    of the QDQ file, every conv on an int8 kernel."""
    import ort_qoperator

    u8 = write(tmp_path, "u8.onnx", True, True)
    qop = str(tmp_path / "qop.onnx")
    model = ort_qoperator.convert(onnx.load(u8))
    ops = [n.op_type for n in model.graph.node]
    assert "Conv" not in ops and ops.count("QLinearConv") > 0 and "QLinearAdd" in ops, sorted(set(ops))
    onnx.save(model, qop)
    x = np.random.RandomState(9).standard_normal((2, 3, 224, 224)).astype(np.float32)
    want = effvit.InferenceSession(u8).run(None, {"input": x})[0]
    got = effvit.InferenceSession(qop).run(None, {"input": x})[0]
    assert np.array_equal(got, want)
    convs = [k["implementation"] for k in kernels(qop)["kernels"] if k["op"] == "Conv"]
    assert convs and all(c.startswith("int8 conv") for c in convs), convs
