"""A small int8 model in ONNX's QOperator form, laid out as ONNX Runtime's quantize_static(...,
quant_format=QuantFormat.QOperator) lays one out, and a numpy evaluator of it written from the ONNX
operator definitions (the oracle effvit is checked against, no ONNX Runtime needed):

  x (float32) -> QuantizeLinear -> QLinearConv 3x3 (+ int32 bias) -> QLinearConv 1x1 (+ bias)
    -> QLinearMatMul (per-column b) -> DequantizeLinear -> y (float32)

Weights int8 per output channel (per column for the MatMul) with zero points 0; activations uint8
or int8 (ONNX Runtime's default), each with its own zero point.

  /usr/bin/python3 python/qoperator_model.py OUT.onnx [--int8-activations]
"""

import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SHAPE = (1, 8, 6, 6)


def _zero_points(rng, activation_type):
    """A maker of random activation zero points, 60 codes clear of either end of the type's range."""
    info = np.iinfo(activation_type)
    return lambda: np.array(rng.randint(int(info.min) + 60, int(info.max) - 60), dtype=activation_type)


def build(activation_type=np.uint8, seed=0):
    """Returns (ModelProto, params) where params holds every tensor the evaluator needs."""
    rng = np.random.RandomState(seed)
    zero = _zero_points(rng, activation_type)
    p = {"x_scale": np.float32(0.03), "x_zero": zero(),
         "w1": rng.randint(-127, 128, (16, 8, 3, 3)).astype(np.int8), "w1_scale": rng.uniform(0.002, 0.01, 16).astype(np.float32),
         "y1_scale": np.float32(0.05), "y1_zero": zero(),
         "w2": rng.randint(-127, 128, (16, 16, 1, 1)).astype(np.int8), "w2_scale": rng.uniform(0.002, 0.01, 16).astype(np.float32),
         "y2_scale": np.float32(0.04), "y2_zero": zero(),
         "b": rng.randint(-127, 128, (6, 4)).astype(np.int8), "b_scale": rng.uniform(0.005, 0.02, 4).astype(np.float32),
         "y3_scale": np.float32(0.08), "y3_zero": zero()}
    p["b1"] = np.round(rng.uniform(-1, 1, 16) / (p["x_scale"] * p["w1_scale"])).astype(np.int32)
    p["b2"] = np.round(rng.uniform(-1, 1, 16) / (p["y1_scale"] * p["w2_scale"])).astype(np.int32)
    for k in ("w1", "w2", "b"):
        p[k + "_zero"] = np.zeros(p[k + "_scale"].shape, np.int8)
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in p.items()]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["xq"], name="x_quantize"),
        helper.make_node("QLinearConv", ["xq", "x_scale", "x_zero", "w1", "w1_scale", "w1_zero", "y1_scale", "y1_zero", "b1"], ["y1"],
                         name="conv1", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("QLinearConv", ["y1", "y1_scale", "y1_zero", "w2", "w2_scale", "w2_zero", "y2_scale", "y2_zero", "b2"], ["y2"],
                         name="conv2", kernel_shape=[1, 1]),
        helper.make_node("QLinearMatMul", ["y2", "y2_scale", "y2_zero", "b", "b_scale", "b_zero", "y3_scale", "y3_zero"], ["y3"],
                         name="matmul"),
        helper.make_node("DequantizeLinear", ["y3", "y3_scale", "y3_zero"], ["y"], name="y_dequantize"),
    ]
    graph = helper.make_graph(nodes, "qoperator", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 6, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="qoperator_model.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, p


def _saturate(v, dtype):
    info = np.iinfo(dtype)
    return np.clip(v, info.min, info.max).astype(dtype)


def quantize(x, scale, zero):
    return _saturate(np.round(x.astype(np.float64) / np.float64(scale)) + zero.astype(np.int64), zero.dtype)  # half to even


def requantize(acc, multiplier, zero):
    """An int32 sum scaled to the output grid (QLinearConv / QLinearMatMul: round half to even)."""
    return _saturate(np.round(acc.astype(np.float64) * multiplier) + zero.astype(np.int64), zero.dtype)


def qlinear_conv(xq, xz, w, wz, bias, pad):
    x = xq.astype(np.int64) - xz.astype(np.int64)
    w = w.astype(np.int64) - wz.astype(np.int64).reshape(-1, 1, 1, 1)
    n, c, h, wd = x.shape
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, w.shape[0], h, wd), np.int64)
    for dy in range(k):
        for dx in range(k):
            out += np.einsum("nchw,oc->nohw", xp[:, :, dy:dy + h, dx:dx + wd], w[:, :, dy, dx])
    return out + bias.astype(np.int64).reshape(1, -1, 1, 1)


def evaluate(p, x):
    xq = quantize(x, p["x_scale"], p["x_zero"])
    acc1 = qlinear_conv(xq, p["x_zero"], p["w1"], p["w1_zero"], p["b1"], 1)
    y1 = requantize(acc1, (np.float64(p["x_scale"]) * p["w1_scale"].astype(np.float64) / np.float64(p["y1_scale"])).reshape(1, -1, 1, 1),
                    p["y1_zero"])
    acc2 = qlinear_conv(y1, p["y1_zero"], p["w2"], p["w2_zero"], p["b2"], 0)
    y2 = requantize(acc2, (np.float64(p["y1_scale"]) * p["w2_scale"].astype(np.float64) / np.float64(p["y2_scale"])).reshape(1, -1, 1, 1),
                    p["y2_zero"])
    acc3 = np.matmul(y2.astype(np.int64) - p["y2_zero"].astype(np.int64), p["b"].astype(np.int64))
    y3 = requantize(acc3, np.float64(p["y2_scale"]) * p["b_scale"].astype(np.float64) / np.float64(p["y3_scale"]), p["y3_zero"])
    return ((y3.astype(np.int64) - p["y3_zero"].astype(np.int64)) * np.float32(p["y3_scale"])).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--int8-activations", action="store_true")
    a = ap.parse_args()
    model, _ = build(np.int8 if a.int8_activations else np.uint8)
    onnx.save(model, a.out)


if __name__ == "__main__":
    main()


LEAKY_ALPHA = 0.1


def build_microsoft(activation_type=np.uint8, seed=0):
    """The com.microsoft QOperator ops ONNX Runtime writes besides QLinearConv and QLinearMatMul,
    in a squeeze-excite-like block and a classifier head:

      x -> Q -> QLinearConv 3x3 -> QLinearAdd (+ the quantized input) -> QLinearLeakyRelu
        -> QLinearGlobalAveragePool -> QLinearSigmoid -> QLinearMul (the block by its gate) -> QLinearConcat (with the block)
        -> QLinearGlobalAveragePool -> Flatten -> QGemm (per-column b, int32 bias, transB)
        -> QLinearSoftmax -> DequantizeLinear -> y [1, 5]

    Returns (ModelProto, params)."""
    rng = np.random.RandomState(seed)
    zero = _zero_points(rng, activation_type)
    lo = np.iinfo(activation_type).min
    p = {"x_scale": np.float32(0.03), "x_zero": zero(),
         "w1": rng.randint(-127, 128, (8, 8, 3, 3)).astype(np.int8), "w1_scale": rng.uniform(0.001, 0.004, 8).astype(np.float32),
         "y1_scale": np.float32(0.03), "y1_zero": zero(), "a_scale": np.float32(0.04), "a_zero": zero(),
         "l_scale": np.float32(0.035), "l_zero": zero(),
         "g_scale": np.float32(0.02), "g_zero": zero(), "s_scale": np.float32(1 / 255), "s_zero": np.array(lo, activation_type),
         "m_scale": np.float32(0.03), "m_zero": zero(), "c_scale": np.float32(0.04), "c_zero": zero(),
         "cg_scale": np.float32(0.02), "cg_zero": zero(),
         "b": rng.randint(-127, 128, (5, 16)).astype(np.int8), "b_scale": rng.uniform(0.005, 0.02, 5).astype(np.float32),
         "q_scale": np.float32(0.05), "q_zero": zero(), "sm_scale": np.float32(1 / 256), "sm_zero": np.array(lo, activation_type)}
    p["b1"] = np.round(rng.uniform(-0.5, 0.5, 8) / (p["x_scale"] * p["w1_scale"])).astype(np.int32)
    p["gemm_bias"] = np.round(rng.uniform(-0.5, 0.5, 5) / (p["cg_scale"] * p["b_scale"])).astype(np.int32)
    for k in ("w1", "b"):
        p[k + "_zero"] = np.zeros(p[k + "_scale"].shape, np.int8)
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in p.items()]
    ms = "com.microsoft"

    def q(*names):  # a quantized tensor's (value, scale, zero point) inputs
        return [s for n in names for s in (n, n + "_scale", n + "_zero")]

    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["xq"], name="x_quantize"),
        helper.make_node("QLinearConv", ["xq", "x_scale", "x_zero", "w1", "w1_scale", "w1_zero", "y1_scale", "y1_zero", "b1"], ["y1"],
                         name="conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("QLinearAdd", ["y1", "y1_scale", "y1_zero", "xq", "x_scale", "x_zero", "a_scale", "a_zero"], ["a"], name="add", domain=ms),
        helper.make_node("QLinearLeakyRelu", q("a") + ["l_scale", "l_zero"], ["l"], name="leaky", domain=ms, alpha=LEAKY_ALPHA),
        helper.make_node("QLinearGlobalAveragePool", q("l") + ["g_scale", "g_zero"], ["g"], name="pool", domain=ms, channels_last=0),
        helper.make_node("QLinearSigmoid", q("g") + ["s_scale", "s_zero"], ["s"], name="gate", domain=ms),
        helper.make_node("QLinearMul", q("l", "s") + ["m_scale", "m_zero"], ["m"], name="mul", domain=ms),
        helper.make_node("QLinearConcat", ["c_scale", "c_zero"] + q("m", "l"), ["c"], name="concat", domain=ms, axis=1),
        helper.make_node("QLinearGlobalAveragePool", q("c") + ["cg_scale", "cg_zero"], ["cg"], name="pool2", domain=ms, channels_last=0),
        helper.make_node("Flatten", ["cg"], ["f"], name="flatten", axis=1),
        helper.make_node("QGemm", ["f", "cg_scale", "cg_zero", "b", "b_scale", "b_zero", "gemm_bias", "q_scale", "q_zero"], ["qg"], name="gemm",
                         domain=ms, transB=1, alpha=1.0),
        helper.make_node("QLinearSoftmax", ["qg", "q_scale", "q_zero", "sm_scale", "sm_zero"], ["sm"], name="softmax", domain=ms,
                         axis=-1, opset=13),
        helper.make_node("DequantizeLinear", ["sm", "sm_scale", "sm_zero"], ["y"], name="y_dequantize"),
    ]
    graph = helper.make_graph(nodes, "qoperator_microsoft", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(ms, 1)],
                              producer_name="qoperator_model.py")
    model.ir_version = 8
    return model, p


def _dq(v, scale, zero):
    return ((v.astype(np.int64) - zero.astype(np.int64)).astype(np.float32) * np.float32(scale)).astype(np.float32)


def _q(v, scale, zero):
    return _saturate(np.round(v.astype(np.float32) / np.float32(scale)).astype(np.int64) + zero.astype(np.int64), zero.dtype)


def evaluate_microsoft(p, x):
    """Each com.microsoft op by its definition: DequantizeLinear, the float op, QuantizeLinear."""
    xq = _q(x, p["x_scale"], p["x_zero"])
    acc = qlinear_conv(xq, p["x_zero"], p["w1"], p["w1_zero"], p["b1"], 1)
    y1 = requantize(acc, (np.float64(p["x_scale"]) * p["w1_scale"].astype(np.float64) / np.float64(p["y1_scale"])).reshape(1, -1, 1, 1),
                    p["y1_zero"])
    a = _q(_dq(y1, p["y1_scale"], p["y1_zero"]) + _dq(xq, p["x_scale"], p["x_zero"]), p["a_scale"], p["a_zero"])
    leaky = _dq(a, p["a_scale"], p["a_zero"])
    leaky = np.where(leaky < 0, np.float32(LEAKY_ALPHA) * leaky, leaky)
    af = _dq(_q(leaky, p["l_scale"], p["l_zero"]), p["l_scale"], p["l_zero"])
    g = _q(af.mean(axis=(2, 3), keepdims=True, dtype=np.float64).astype(np.float32), p["g_scale"], p["g_zero"])
    s = _q(1 / (1 + np.exp(-_dq(g, p["g_scale"], p["g_zero"]))), p["s_scale"], p["s_zero"])
    m = _q(af * _dq(s, p["s_scale"], p["s_zero"]), p["m_scale"], p["m_zero"])
    c = _q(np.concatenate([_dq(m, p["m_scale"], p["m_zero"]), af], axis=1), p["c_scale"], p["c_zero"])
    cf = _dq(c, p["c_scale"], p["c_zero"])
    cg = _q(cf.mean(axis=(2, 3), dtype=np.float64).astype(np.float32), p["cg_scale"], p["cg_zero"])
    b = p["b"].astype(np.float32) * p["b_scale"][:, None]
    logits = _dq(cg, p["cg_scale"], p["cg_zero"]) @ b.T + p["gemm_bias"].astype(np.float32) * (p["cg_scale"] * p["b_scale"])
    qg = _q(logits, p["q_scale"], p["q_zero"])
    z = _dq(qg, p["q_scale"], p["q_zero"])
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    sm = _q(e / e.sum(axis=-1, keepdims=True), p["sm_scale"], p["sm_zero"])
    return _dq(sm, p["sm_scale"], p["sm_zero"])
