#!/usr/bin/python3
"""What the Python module costs over the C++ library, and what two Python threads buy.

    PYTHONPATH=build/python bench/python_overhead.py build/effvit MODEL.onnx [ROUNDS] [ITERS]

Alternates rounds of `effvit bench --json` (the C++ Session::run median) and InferenceSession.run
from Python on the same random input, and prints the medians side by side, then the throughput of
two Python threads (sharing one session, and on two sessions of the same file) against one thread,
best of three, beside `effvit bench --streams 2`. Targets (issues #10, #18): Python <= C++ + 0.05 ms
on M0 batch 1; two threads >= 1.8x one.
"""
import json
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

import effvit


def python_median(sess, feed, iters):
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def throughput(sessions, feed, seconds=3.0):
    """Images per second with one Python thread per session in `sessions` (a session may repeat)."""
    done = [0] * len(sessions)
    stop = time.perf_counter() + seconds

    def work(k):
        while time.perf_counter() < stop:
            sessions[k].run(None, feed)
            done[k] += 1

    pool = [threading.Thread(target=work, args=(k,)) for k in range(len(sessions))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / seconds


def main():
    cli, model = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    iters = int(sys.argv[4]) if len(sys.argv) > 4 else 300
    sess = effvit.InferenceSession(model)
    arg = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in arg.shape]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, shape).astype(np.uint8) if arg.type == "tensor(uint8)" else rng.standard_normal(shape).astype(np.float32)
    feed = {arg.name: x}
    python_median(sess, feed, 50)
    cpp, py = [], []
    for _ in range(rounds):
        out = subprocess.run([cli, "bench", model, "--iters", str(iters), "--json"], check=True, capture_output=True, text=True).stdout
        cpp.append(json.loads(out)["latency_ms"]["median"])
        py.append(python_median(sess, feed, iters))
    c, p = statistics.median(cpp), statistics.median(py)
    summary = effvit.Model(model).summary
    print("cpu %s, tier %s" % (summary["cpu"], summary["isa"]))
    print("C++ Session::run median %.3f ms; Python InferenceSession.run median %.3f ms; overhead %+.3f ms (target <= +0.05)" % (c, p, p - c))
    other = effvit.InferenceSession(model)
    python_median(other, feed, 50)
    out = subprocess.run([cli, "bench", model, "--streams", "2", "--iters", str(iters), "--json"], check=True, capture_output=True,
                         text=True).stdout
    streams = json.loads(out)
    # Best of three, each ratio against the single thread measured next to it.
    shared, separate = [], []
    for _ in range(3):
        one = throughput([sess], feed)
        shared.append(throughput([sess, sess], feed) / one)
        separate.append(throughput([sess, other], feed) / one)
    print("two Python threads, best of 3: on one session %.2fx, on two sessions %.2fx one thread's img/s (target >= 1.8x); "
          "bench --streams 2: %.2fx" % (max(shared), max(separate), streams["fps"] * streams["latency_ms"]["median"] / 1000))


if __name__ == "__main__":
    main()
