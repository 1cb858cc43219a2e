#!/usr/bin/python3
"""Classify image files through `effvit serve` with the v2 protocol: each file is sent as it is (a
BYTES input, binary tensor extension), the server decodes and preprocesses it by the model's own
rules, and the classification extension answers "score:index:label".

    effvit serve --model m0=models/efficientvit_m0_fashion_mnist.onnx &
    examples/serve_client.py http://127.0.0.1:8080 m0 IMAGE... [--top 3]
"""
import json
import struct
import sys

import requests


def classify(url, model, paths, top):
    blobs = [open(p, "rb").read() for p in paths]
    data = b"".join(struct.pack("<I", len(b)) + b for b in blobs)
    header = {"inputs": [{"name": "input", "shape": [len(blobs)], "datatype": "BYTES", "parameters": {"binary_data_size": len(data)}}],
              "outputs": [{"name": "logits", "parameters": {"classification": top}}]}
    meta = requests.get("%s/v2/models/%s" % (url, model))
    meta.raise_for_status()
    header["inputs"][0]["name"] = meta.json()["inputs"][0]["name"]
    header["outputs"][0]["name"] = meta.json()["outputs"][0]["name"]
    head = json.dumps(header).encode()
    r = requests.post("%s/v2/models/%s/infer" % (url, model), data=head + data,
                      headers={"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
    if r.status_code != 200:
        raise SystemExit("%s: %d %s" % (url, r.status_code, r.json().get("error", r.text)))
    out = r.json()["outputs"][0]["data"]
    return [out[i * top:(i + 1) * top] for i in range(len(blobs))]


def main():
    args = sys.argv[1:]
    top = 1
    if "--top" in args:
        top = int(args[args.index("--top") + 1])
        del args[args.index("--top"):args.index("--top") + 2]
    if len(args) < 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    url, model, paths = args[0].rstrip("/"), args[1], args[2:]
    for path, classes in zip(paths, classify(url, model, paths, top)):
        print(path)
        for c in classes:
            score, index, label = (c.split(":", 2) + [""])[:3]
            print("  %s (%s)  score %s" % (label, index, score))
    return 0


if __name__ == "__main__":
    sys.exit(main())
