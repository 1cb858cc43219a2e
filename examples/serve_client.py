#!/usr/bin/python3
"""Classify image files through `effvit serve` with the v2 protocol: each file is sent as it is (a
BYTES input, binary tensor extension), the server decodes and preprocesses it by the model's own
rules, and the classification extension answers "score:index:label" (the score is the logit).
One request per image, over one connection: any model takes it (a fixed batch of 1 too), the
server batches requests itself, and a bad file costs only its own answer. The server may be given
as host:port alone, as `effvit serve` prints it, or as a port (this machine).

    effvit serve --model m0=models/efficientvit_m0_fashion_mnist.onnx &
    examples/serve_client.py http://127.0.0.1:8080 m0 IMAGE... [--top 3]
"""
import json
import re
import struct
import sys

import requests


def classify(session, url, model, names, path, top):
    """The top classes of one image file, or raises ValueError with the server's reason."""
    blob = open(path, "rb").read()
    data = struct.pack("<I", len(blob)) + blob
    head = json.dumps({"inputs": [{"name": names[0], "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": len(data)}}],
                       "outputs": [{"name": names[1], "parameters": {"classification": top}}]}).encode()
    r = session.post("%s/v2/models/%s/infer" % (url, model), data=head + data,
                     headers={"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
    if r.status_code != 200:
        raise ValueError(reply_error(r))
    try:
        return r.json()["outputs"][0]["data"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ValueError(reply_error(r))


def reply_error(r):
    """"404 <the server's error>", or the start of a reply that is not v2 JSON (a proxy's HTML page,
    a sign-in page answered 200)."""
    try:
        if r.status_code != 200:
            return "%d %s" % (r.status_code, r.json()["error"])
    except (ValueError, KeyError, TypeError):
        pass
    text = " ".join(r.text.split())[:120]
    return "%d %s(not a v2 server's answer: is this the HTTP port?)" % (r.status_code, text + " " if text else "")


def unreachable(url, error):
    """One line for a server that cannot be reached: the OS's reason, not urllib3's retry chain."""
    if "BadStatusLine" in str(error):
        return "%s: answers, but not in HTTP/1.1 (the gRPC port?); give the HTTP port" % url
    reason = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(error))
    return "%s: cannot reach the server (%s)" % (url, reason.group(1).strip() if reason else error)


def main():
    args = sys.argv[1:]
    top = 1
    if "--top" in args:
        top = int(args[args.index("--top") + 1])
        del args[args.index("--top"):args.index("--top") + 2]
    if "-h" in args or "--help" in args:
        print(__doc__.strip())
        return 0
    if len(args) < 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    url, model, paths = args[0].rstrip("/"), args[1], args[2:]
    if url.isdigit():
        url = "127.0.0.1:" + url
    if "://" not in url:
        url = "http://" + url
    session = requests.Session()
    try:
        meta = session.get("%s/v2/models/%s" % (url, model))
    except requests.exceptions.ConnectionError as e:
        raise SystemExit(unreachable(url, e))
    except requests.exceptions.RequestException as e:
        raise SystemExit("%s: %s" % (url, e))
    try:
        names = (meta.json()["inputs"][0]["name"], meta.json()["outputs"][0]["name"]) if meta.status_code == 200 else None
    except (ValueError, KeyError, IndexError, TypeError):
        names = None
    if names is None:
        raise SystemExit("%s: %s" % (url, reply_error(meta)))
    failed = 0
    for path in paths:
        try:
            classes = classify(session, url, model, names, path, top)
        except requests.exceptions.ConnectionError as e:
            raise SystemExit(unreachable(url, e))  # the server went away: every file left would fail the same
        except (OSError, ValueError) as e:
            print("%s: %s" % (path, e), file=sys.stderr)
            failed += 1
            continue
        print(path)
        for c in classes:
            score, index, label = (c.split(":", 2) + [""])[:3]
            print("  %s (%s)  score %s" % (label, index, score))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
