"""Turn a QDQ model written by python/ort_style_qdq.py into ONNX Runtime's QOperator form, as
quantize_static(..., quant_format=QuantFormat.QOperator) lays one out:

  * DequantizeLinear(x) -> Conv(DequantizeLinear(w), DequantizeLinear(b)) -> QuantizeLinear(y)
      ==> QLinearConv(x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero, b)
  * DequantizeLinear(a) -> MatMul(DequantizeLinear(b)) -> QuantizeLinear(y) ==> QLinearMatMul
  * DequantizeLinear(a), DequantizeLinear(b) -> Add -> QuantizeLinear(y)
      ==> com.microsoft QLinearAdd(a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero)

Each rewrite needs the DequantizeLinear inputs and the QuantizeLinear output to be per tensor (the
weights per channel) and the float tensor in between to have no other reader; everything else keeps
its Q/DQ nodes, as ONNX Runtime leaves ops it has no QOperator kernel for.

  /usr/bin/python3 python/ort_qoperator.py QDQ.onnx OUT.onnx
"""

import argparse

import onnx
from onnx import helper


def convert(model):
    g = model.graph
    # One list of the nodes, kept alive: the rewrites below key on id(), which protobuf's wrappers
    # keep only while referenced.
    all_nodes = list(g.node)
    producer = {o: n for n in all_nodes for o in n.output}
    readers = {}
    for n in all_nodes:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    outputs = {o.name for o in g.output}
    drop, added = set(), {}

    def dq(name):
        n = producer.get(name)
        return n if n is not None and n.op_type == "DequantizeLinear" and len(n.input) == 3 else None

    def sole_q(name):
        r = readers.get(name, [])
        return r[0] if len(r) == 1 and r[0].op_type == "QuantizeLinear" and len(r[0].input) == 3 and name not in outputs else None

    for n in all_nodes:
        q = sole_q(n.output[0]) if n.op_type in ("Conv", "MatMul", "Add") else None
        if q is None:
            continue
        ins = [dq(i) if i else None for i in n.input]
        if any(d is None for d in ins):
            continue
        if n.op_type == "Conv":
            x, w = ins[0], ins[1]
            new_in = list(x.input) + list(w.input) + list(q.input[1:])
            if len(ins) > 2:
                new_in.append(ins[2].input[0])
            new = helper.make_node("QLinearConv", new_in, [q.output[0]], name=n.name + "_quant",
                                   **{a.name: helper.get_attribute_value(a) for a in n.attribute})
        elif n.op_type == "MatMul":
            new = helper.make_node("QLinearMatMul", list(ins[0].input) + list(ins[1].input) + list(q.input[1:]), [q.output[0]],
                                   name=n.name + "_quant")
        else:
            new = helper.make_node("QLinearAdd", list(ins[0].input) + list(ins[1].input) + list(q.input[1:]), [q.output[0]],
                                   name=n.name + "_quant", domain="com.microsoft")
        added[id(n)] = new
        drop.add(id(q))
    nodes = [added.get(id(n), n) for n in all_nodes if id(n) not in drop]
    # DequantizeLinears nobody reads any more (those the rewrites absorbed) go.
    read = {i for n in nodes for i in n.input} | {o.name for o in g.output}
    nodes = [n for n in nodes if n.op_type != "DequantizeLinear" or n.output[0] in read]
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes]  # copies: the originals go below
    del g.node[:]
    g.node.extend(nodes)
    # Initializers only the absorbed DequantizeLinears read (the int32 biases' scales and zero points).
    used = {i for n in nodes for i in n.input}
    kept = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("out")
    args = ap.parse_args()
    onnx.save(convert(onnx.load(args.model)), args.out)


if __name__ == "__main__":
    main()
