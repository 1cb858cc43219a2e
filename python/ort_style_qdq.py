"""Write an int8 QDQ model of a float32 ONNX export the way ONNX Runtime's quantize_static lays one
out (QuantFormat.QDQ, per_channel=True), so effvit can be measured on files other tools write:

  * every Conv/MatMul weight an int8 initializer behind DequantizeLinear (per output channel for a
    Conv, axis 0; per tensor for a MatMul), zero point 0, symmetric (scale = max|w| / 127);
  * every Conv bias an int32 initializer at x_scale * w_scale behind DequantizeLinear;
  * every activation a Conv/MatMul reads or writes behind one QuantizeLinear -> DequantizeLinear
    pair after its producer, per tensor, asymmetric over its calibrated min/max (always including
    0): int8 with a zero point (ONNX Runtime's default activation type) or uint8 (--uint8).

Calibration runs the float32 model in effvit on random N(0,1) inputs, each tensor to calibrate
flattened into an extra graph output. Relus stay (ONNX Runtime's quantizer may remove one after a
Conv and start the Conv's range at 0; not done here). --fold-batchnorm folds BatchNormalization into the Conv
first (as ONNX Runtime's pre-processing does); otherwise it stays after the quantized Conv's Q/DQ.

  PYTHONPATH=build/python /usr/bin/python3 python/ort_style_qdq.py M5.onnx OUT.onnx [--uint8] [--fold-batchnorm]
"""

import argparse
import os
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper

import effvit


def fold_batchnorm(model):
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    for bn in [n for n in g.node if n.op_type == "BatchNormalization"]:
        conv = producers.get(bn.input[0])
        if conv is None or conv.op_type != "Conv" or len(readers.get(bn.input[0], [])) != 1 or conv.input[1] not in inits:
            continue
        scale, bias, mean, var = (numpy_helper.to_array(inits[i]).astype(np.float64) for i in bn.input[1:5])
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        a = scale / np.sqrt(var + eps)
        w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64)
        has_bias = len(conv.input) > 2 and conv.input[2]
        b = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64) if has_bias else np.zeros(w.shape[0])
        inits[conv.input[1]].CopyFrom(numpy_helper.from_array((w * a.reshape(-1, 1, 1, 1)).astype(np.float32), conv.input[1]))
        b_name = conv.output[0] + "_folded_bias"
        g.initializer.append(numpy_helper.from_array(((b - mean) * a + bias).astype(np.float32), b_name))
        if has_bias:
            conv.input[2] = b_name
        else:
            conv.input.append(b_name)
        conv.output[0] = bn.output[0]
        g.node.remove(bn)


def activation_ranges(model, names, samples, rng):
    """min/max (with 0) of each named tensor over `samples` random inputs, run in effvit."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    g = probe.graph
    inputs = {i.name for i in g.input}
    g.initializer.append(numpy_helper.from_array(np.array([1, -1], np.int64), "calibration_flat"))
    flat = {}
    for name in names:
        if name in inputs:
            continue
        flat[name] = name + "_calibration"
        g.node.append(helper.make_node("Reshape", [name, "calibration_flat"], [flat[name]]))
        g.output.append(helper.make_tensor_value_info(flat[name], onnx.TensorProto.FLOAT, [1, "n"]))
    lo = {n: 0.0 for n in names}
    hi = {n: 0.0 for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.onnx")
        onnx.save(probe, path)
        session = effvit.InferenceSession(path)
        inp = session.get_inputs()[0]
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        outs = [o.name for o in session.get_outputs()]
        for _ in range(samples):
            x = rng.standard_normal(shape).astype(np.float32)
            values = dict(zip(outs, session.run(None, {inp.name: x})))
            for n in names:
                v = x if n in inputs else values[flat[n]]
                lo[n] = min(lo[n], float(v.min()))
                hi[n] = max(hi[n], float(v.max()))
    return lo, hi


def quantize(model, samples=8, uint8=False, seed=0):
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    targets = [n for n in g.node if n.op_type in ("Conv", "MatMul")]
    activations = []
    for n in targets:
        for t in list(n.input[:1] if n.op_type == "Conv" else n.input[:2]) + [n.output[0]]:
            if t not in inits and t not in activations:
                activations.append(t)
    lo, hi = activation_ranges(model, activations, samples, np.random.RandomState(seed))
    qmin, qmax, qtype = (0, 255, np.uint8) if uint8 else (-128, 127, np.int8)
    new_inits, inserted, renamed, x_scale = [], [], {}, {}
    for t in activations:
        scale = max(hi[t] - lo[t], 1e-8) / (qmax - qmin)
        zero = int(np.clip(round(qmin - lo[t] / scale), qmin, qmax))
        x_scale[t] = np.float32(scale)
        s_name, z_name = t + "_scale", t + "_zero_point"
        new_inits += [numpy_helper.from_array(np.array(scale, np.float32), s_name), numpy_helper.from_array(np.array(zero, qtype), z_name)]
        renamed[t] = t + "_DequantizeLinear_Output"
        inserted.append((t, [helper.make_node("QuantizeLinear", [t, s_name, z_name], [t + "_QuantizeLinear_Output"], name=t + "_QuantizeLinear"),
                             helper.make_node("DequantizeLinear", [t + "_QuantizeLinear_Output", s_name, z_name], [renamed[t]],
                                              name=t + "_DequantizeLinear")]))
    for n in targets:
        if n.input[1] not in inits:
            continue
        w = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
        per_channel = n.op_type == "Conv"
        amax = np.abs(w).reshape(w.shape[0], -1).max(axis=1) if per_channel else np.array(np.abs(w).max())
        # An all-zero channel (pruned, or a BatchNorm fold with gamma 0) gets scale 1, as ONNX
        # Runtime's quantizer gives a zero range; a tiny scale would overflow the int32 bias.
        w_scale = np.where(amax > 0, amax / 127, 1.0).astype(np.float32)
        shaped = w_scale.reshape((-1,) + (1,) * (w.ndim - 1)) if per_channel else w_scale
        q_name = n.input[1] + "_quantized"
        new_inits += [numpy_helper.from_array(np.clip(np.round(w / shaped), -127, 127).astype(np.int8), q_name),
                      numpy_helper.from_array(w_scale, q_name + "_scale"), numpy_helper.from_array(np.zeros(w_scale.shape, np.int8), q_name + "_zero_point")]
        n.input[1] = q_name + "_DequantizeLinear_Output"
        inserted.append((None, [helper.make_node("DequantizeLinear", [q_name, q_name + "_scale", q_name + "_zero_point"], [n.input[1]],
                                                 name=q_name + "_DequantizeLinear", **({"axis": 0} if per_channel else {}))]))
        if n.op_type == "Conv" and len(n.input) > 2 and n.input[2] in inits:
            b = numpy_helper.to_array(inits[n.input[2]]).astype(np.float64)
            b_scale = (np.float64(x_scale[n.input[0]]) * w_scale.astype(np.float64)).astype(np.float32)
            b_name = n.input[2] + "_quantized"
            bq = np.clip(np.round(b / b_scale), -2**31, 2**31 - 1).astype(np.int32)
            new_inits += [numpy_helper.from_array(bq, b_name), numpy_helper.from_array(b_scale, b_name + "_scale"),
                          numpy_helper.from_array(np.zeros(b_scale.shape, np.int32), b_name + "_zero_point")]
            n.input[2] = b_name + "_DequantizeLinear_Output"
            inserted.append((None, [helper.make_node("DequantizeLinear", [b_name, b_name + "_scale", b_name + "_zero_point"], [n.input[2]],
                                                     name=b_name + "_DequantizeLinear", axis=0)]))
    # Every reader of a quantized activation reads its DequantizeLinear (graph outputs keep the float).
    for n in g.node:
        for k, i in enumerate(n.input):
            if i in renamed:
                n.input[k] = renamed[i]
    producers = {o: idx for idx, n in enumerate(g.node) for o in n.output}
    after = {}
    for t, nodes in inserted:
        after.setdefault(producers.get(t, -1) if t is not None else -1, []).extend(nodes)
    ordered = list(after.get(-1, []))
    for idx, n in enumerate(g.node):
        ordered.append(n)
        ordered.extend(after.get(idx, []))
    g.ClearField("node")
    g.node.extend(ordered)
    g.initializer.extend(new_inits)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    g.ClearField("initializer")
    g.initializer.extend(keep)
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--uint8", action="store_true", help="uint8 activations (default: int8 with zero points, ONNX Runtime's default)")
    ap.add_argument("--fold-batchnorm", action="store_true")
    ap.add_argument("--samples", type=int, default=8)
    a = ap.parse_args()
    model = onnx.load(a.model)
    if a.fold_batchnorm:
        fold_batchnorm(model)
    onnx.save(quantize(model, a.samples, a.uint8), a.out)


if __name__ == "__main__":
    main()
