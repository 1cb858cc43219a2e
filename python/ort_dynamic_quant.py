"""Write a dynamically quantized copy of a float32 ONNX model the way ONNX Runtime's
quantize_dynamic lays one out (QOperator form, its default): every Conv and MatMul with a constant
weight becomes

    x -> DynamicQuantizeLinear -> (x_q uint8, x_scale, x_zero_point)     (once per tensor)
    ConvInteger / MatMulInteger(x_q, w_q, x_zero_point, w_zero_point) -> int32
    -> Cast(float) -> Mul(by x_scale * w_scale) [-> Add(bias)]

with int8 weights, symmetric per tensor (zero point 0, scale max|w| / 127), as quantize_dynamic's
defaults make them. No calibration: the activation ranges are computed per run by the model.

  /usr/bin/python3 python/ort_dynamic_quant.py MODEL.onnx OUT.onnx
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def quantize(model):
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    nodes, quantized, new_inits = [], {}, []
    taken = {n for node in graph.node for n in list(node.input) + list(node.output)} | set(inits)

    def fresh(name):
        k, out = 0, name
        while out in taken:
            k += 1
            out = f"{name}_{k}"
        taken.add(out)
        return out

    def dynamic(x):  # one DynamicQuantizeLinear per tensor, shared by its readers
        if x not in quantized:
            q, s, z = fresh(x + "_quantized"), fresh(x + "_scale"), fresh(x + "_zero_point")
            nodes.append(helper.make_node("DynamicQuantizeLinear", [x], [q, s, z], name=fresh(x + "_QuantizeLinear")))
            quantized[x] = (q, s, z)
        return quantized[x]

    for node in graph.node:
        weight = node.input[1] if len(node.input) > 1 else None
        if node.op_type not in ("Conv", "MatMul") or weight not in inits:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[weight]).astype(np.float32)
        scale = np.float32(np.abs(w).max() / 127) if np.abs(w).max() > 0 else np.float32(1)
        wq = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        names = [fresh(weight + suffix) for suffix in ("_quantized", "_scale", "_zero_point")]
        new_inits += [numpy_helper.from_array(wq, names[0]), numpy_helper.from_array(np.array(scale), names[1]),
                      numpy_helper.from_array(np.array(0, np.int8), names[2])]
        xq, xs, xz = dynamic(node.input[0])
        base = node.name or node.output[0]
        integer, cast, scales = fresh(base + "_output_quantized"), fresh(base + "_output_cast"), fresh(base + "_scales_mul")
        op = helper.make_node("ConvInteger" if node.op_type == "Conv" else "MatMulInteger", [xq, names[0], xz, names[2]], [integer],
                              name=fresh(base + "_quant"))
        if node.op_type == "Conv":
            op.attribute.extend(node.attribute)
        nodes += [op, helper.make_node("Cast", [integer], [cast], to=TensorProto.FLOAT, name=fresh(base + "_cast")),
                  helper.make_node("Mul", [xs, names[1]], [scales], name=fresh(base + "_scales_mul"))]
        has_bias = node.op_type == "Conv" and len(node.input) > 2 and node.input[2]
        scaled = fresh(base + "_output_scaled") if has_bias else node.output[0]
        nodes.append(helper.make_node("Mul", [cast, scales], [scaled], name=fresh(base + "_output_scale_mul")))
        if has_bias:
            bias = numpy_helper.to_array(inits[node.input[2]]).astype(np.float32)
            b = fresh(node.input[2] + "_reshaped")
            new_inits.append(numpy_helper.from_array(bias.reshape(1, -1, 1, 1), b))
            nodes.append(helper.make_node("Add", [scaled, b], [node.output[0]], name=fresh(base + "_bias_add")))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in nodes for i in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("out")
    a = ap.parse_args()
    onnx.save(quantize(onnx.load(a.model)), a.out)


if __name__ == "__main__":
    main()
