"""Hostile-input check for effvit: mutate an ONNX model many ways (attribute values, initializer
contents and sizes, zero and negative dimensions, node wiring, raw bytes) and require that `effvit run` either succeeds or fails
with exit status 1 and one line on stderr - never a crash, a hang or another status.

  /usr/bin/python3 python/mutate_onnx.py EFFVIT MODEL INPUT.npy WORKDIR [--count N] [--seed S]
"""

import argparse
import os
import random
import subprocess
import sys

import onnx
from onnx import numpy_helper

EXTREMES = [0, -1, 1, 2, 3, -5, 7, 1000, 2**31, -2**40, 2**62]


def mutate_structure(model, rng):
    g = model.graph
    for _ in range(rng.choice([1, 2, 3])):
        kind = rng.random()
        if kind < 0.5:
            node = rng.choice([n for n in g.node if n.attribute])
            attr = rng.choice(node.attribute)
            if attr.type == onnx.AttributeProto.INT:
                attr.i = rng.choice(EXTREMES)
            elif attr.type == onnx.AttributeProto.INTS and len(attr.ints):
                attr.ints[rng.randrange(len(attr.ints))] = rng.choice(EXTREMES)
        elif kind < 0.7:
            init = rng.choice(list(g.initializer))
            t = numpy_helper.to_array(init).copy()
            if t.dtype.kind == "i" and t.size:
                t.flat[rng.randrange(t.size)] = rng.choice(EXTREMES)
            elif t.size > 1:
                t = t.reshape(-1)[: rng.randrange(1, t.size)]
            init.CopyFrom(numpy_helper.from_array(t, init.name))
        elif kind < 0.8:
            # An empty or negative dimension: on a weight (its data emptied to match, as a checker-valid
            # model would have it) or on a graph input or output's declared shape.
            if rng.random() < 0.5 and len(g.initializer):
                init = rng.choice(list(g.initializer))
                if init.dims:
                    init.dims[rng.randrange(len(init.dims))] = 0
                    init.ClearField("raw_data")
                    del init.float_data[:]
                    del init.int64_data[:]
            else:
                value = rng.choice(list(g.input) + list(g.output))
                dims = value.type.tensor_type.shape.dim
                if len(dims):
                    dims[rng.randrange(len(dims))].dim_value = rng.choice([0, -1, -7])
        else:
            node = rng.choice(list(g.node))
            if node.input:
                node.input[rng.randrange(len(node.input))] = rng.choice(list(g.node)).output[0]
    return model.SerializeToString()


def mutate_bytes(data, rng):
    b = bytearray(data)
    for _ in range(rng.choice([1, 4, 16])):
        # The graph structure sits before the weights; aim there most of the time.
        limit = len(b) // 8 if rng.random() < 0.7 else len(b)
        b[rng.randrange(limit)] = rng.randrange(256)
    return bytes(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("effvit")
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("workdir")
    ap.add_argument("--count", type=int, default=40, help="mutants to try (default 40)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    base = onnx.load(args.model)
    raw = open(args.model, "rb").read()
    os.makedirs(args.workdir, exist_ok=True)
    path = os.path.join(args.workdir, "mutant.onnx")
    bad = 0
    for i in range(args.count):
        if i % 2:
            data = mutate_bytes(raw, rng)
        else:
            m = onnx.ModelProto()
            m.CopyFrom(base)
            data = mutate_structure(m, rng)
        with open(path, "wb") as f:
            f.write(data)
        try:
            r = subprocess.run([args.effvit, "run", path, "--input", args.input, "--output",
                                os.path.join(args.workdir, "out.npy")], capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            print(f"mutant {i}: timed out", file=sys.stderr)
            bad += 1
            continue
        err = r.stderr.decode(errors="replace").strip()
        if r.returncode not in (0, 1) or (r.returncode == 1 and len(err.split("\n")) != 1):
            keep = os.path.join(args.workdir, f"failing_mutant_{i}.onnx")
            os.replace(path, keep)
            print(f"mutant {i} ({keep}): status {r.returncode}: {err[-400:]}", file=sys.stderr)
            bad += 1
    print(f"{args.count} mutants, {bad} bad")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
