#!/usr/bin/python3
"""`effvit serve`'s fault targets at full size (issue #11), outside `make test`:

    bench/serve_faults.py build/effvit MODEL [REQUESTS]

1. REQUESTS requests (default 10,000) from 8 clients, a third killed mid-body, a third killed before
   the answer, a third completed: every completed answer must be 200 or 503, the server's threads
   must come back to where they started, and its RSS must not grow between a third of the way and
   the end (the heaps keep some freed memory for the next requests; a leak keeps growing).
2. Overload at 4x capacity: 4x as many concurrent clients as instances x max batch, each with a
   timeout: every answer 200 or 503, none later than its timeout (+ a margin for the transfer),
   and RSS flat from the first round to the last.
3. Over gRPC (issue #21): REQUESTS ModelInfer calls from 8 client threads, a third cancelled
   mid-way: no status but OK, CANCELLED and UNAVAILABLE (nothing INTERNAL or UNKNOWN), the server's
   threads and RSS flat between a third of the way and the end, and a clean exit on SIGTERM.
Prints one line per check with the CPU and tier; exits 1 when a check fails.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import requests


def rss_kb(pid):
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/%d/status" % pid).read()).group(1))


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def start(cli, model, *args):
    proc = subprocess.Popen([cli, "serve", "--model", "m=" + model, "--host", "127.0.0.1", "--http-port", "0", "--metrics-port", "0", "--grpc-port", "0"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while True:
        line = proc.stdout.readline()
        m = re.search(r"HTTP on [^:]+:(\d+)", line)
        if m:
            http_port = int(m.group(1))
        m = re.search(r"gRPC on [^:]+:(\d+)", line)
        if m:
            proc.grpc_port = int(m.group(1))
            return proc, http_port
        if not line:
            raise SystemExit("effvit serve did not start")


def body(model_cli, model):
    info = json.loads(subprocess.run([model_cli, "info", model, "--json"], check=True, capture_output=True, text=True).stdout)
    inp = info["inputs"][0]
    shape = [d if d > 0 else 1 for d in inp["shape"]]
    u8 = inp["dtype"] == "uint8"
    x = (np.random.default_rng(0).integers(0, 256, shape) if u8 else np.random.default_rng(0).standard_normal(shape)).astype(np.uint8 if u8 else np.float32)
    head = json.dumps({"inputs": [{"name": inp["name"], "shape": shape, "datatype": "UINT8" if u8 else "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    return head, x.tobytes(), info


def main():
    cli, model = sys.argv[1], sys.argv[2]
    total = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    head, data, info = body(cli, model)
    print("cpu %s, tier %s" % (info["cpu"], info["isa"]))
    ok = True

    proc, port = start(cli, model, "--instances", "2", "--max-queue-size", "16")
    http = ("POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            "Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(head), len(head) + len(data))).encode() + head + data
    requests.post("http://127.0.0.1:%d/v2/models/m/infer" % port, data=head + data, headers={"Inference-Header-Content-Length": str(len(head))})
    base_threads, base_rss = threads(proc.pid), rss_kb(proc.pid)
    codes, lock, next_k = {}, threading.Lock(), [0]

    def client():
        while True:
            with lock:
                k = next_k[0]
                next_k[0] += 1
            if k >= total:
                return
            c = socket.create_connection(("127.0.0.1", port))
            try:
                if k % 3 == 0:
                    c.sendall(http[: len(http) // 2])
                elif k % 3 == 1:
                    c.sendall(http)
                else:
                    c.sendall(http)
                    status = c.recv(16)[9:12].decode()
                    with lock:
                        codes[status] = codes.get(status, 0) + 1
            finally:
                c.close()

    t0 = time.time()
    third_rss = []

    def watch():
        while next_k[0] < total // 3:
            time.sleep(0.05)
        third_rss.append(rss_kb(proc.pid))

    watcher = threading.Thread(target=watch)
    watcher.start()
    pool = [threading.Thread(target=client) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    watcher.join()
    time.sleep(1)
    after_threads, after_rss = threads(proc.pid), rss_kb(proc.pid)
    proc.terminate()
    proc.wait(timeout=60)
    bad = {c: n for c, n in codes.items() if c not in ("200", "503")}
    good = not bad and after_threads <= base_threads and after_rss < third_rss[0] + 10 * 1024
    ok &= good
    print("%d requests, two thirds killed mid-way, in %.0f s: completed answers %s; threads %d -> %d; RSS %.1f MB at start, %.1f MB a third"
          " of the way, %.1f MB at the end: %s" % (total, time.time() - t0, codes, base_threads, after_threads, base_rss / 1024,
                                                   third_rss[0] / 1024, after_rss / 1024, "ok" if good else "FAILED"))

    instances, max_batch = 2, 4
    proc, port = start(cli, model, "--instances", str(instances), "--max-batch-size", str(max_batch), "--max-queue-delay-us", "1000",
                       "--max-queue-size", "8")
    url = "http://127.0.0.1:%d/v2/models/m/infer" % port
    timeout_us = 200_000
    h = json.loads(head)
    h["parameters"] = {"timeout": timeout_us}
    h2 = json.dumps(h).encode()
    rss, slowest, statuses = [], [], {}
    # hey (Go) as the load: a Python client's own GIL waits would show up as server latency.
    body_file = "/tmp/serve_faults_body_%d.bin" % os.getpid()
    open(body_file, "wb").write(h2 + data)
    try:
        for _ in range(3):
            out = subprocess.run(["hey", "-n", str(25 * 4 * instances * max_batch), "-c", str(4 * instances * max_batch), "-m", "POST",
                                  "-H", "Inference-Header-Content-Length: %d" % len(h2), "-T", "application/octet-stream",
                                  "-D", body_file, url], check=True, capture_output=True, text=True).stdout
            slowest.append(float(re.search(r"Slowest:\s+([\d.]+) secs", out).group(1)))
            for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out):
                statuses[int(code)] = statuses.get(int(code), 0) + int(n)
            rss.append(rss_kb(proc.pid) / 1024)
    finally:
        os.remove(body_file)
    late = [t for t in slowest if t > timeout_us / 1e6 + 0.25]
    proc.terminate()
    proc.wait(timeout=60)
    good = set(statuses) <= {200, 503} and not late and rss[-1] < rss[0] + 20
    ok &= good
    print("overload, %d clients on %d instances x batch %d, timeout %d ms: answers %s, slowest per round %s s, RSS per round %s MB: %s" %
          (4 * instances * max_batch, instances, max_batch, timeout_us // 1000, statuses, slowest, [round(r, 1) for r in rss],
           "ok" if good else "FAILED"))
    ok &= grpc_faults(cli, model, info, data, total)
    sys.exit(0 if ok else 1)


def grpc_faults(cli, model, info, data, total):
    import tempfile
    import grpc
    stubs = tempfile.mkdtemp(prefix="effvit_grpc_stubs_")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["protoc", "--proto_path=" + os.path.join(root, "proto"), "--python_out=" + stubs, "--grpc_out=" + stubs,
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", "grpc_service.proto"], check=True)
    sys.path.insert(0, stubs)
    import grpc_service_pb2 as pb
    import grpc_service_pb2_grpc as pb_grpc
    inp = info["inputs"][0]
    shape = [d if d > 0 else 1 for d in inp["shape"]]
    request = pb.ModelInferRequest(model_name="m", inputs=[pb.ModelInferRequest.InferInputTensor(
        name=inp["name"], datatype="UINT8" if inp["dtype"] == "uint8" else "FP32", shape=shape)], raw_input_contents=[data])
    proc, _ = start(cli, model, "--instances", "2", "--max-queue-size", "16")
    channel = grpc.insecure_channel("127.0.0.1:%d" % proc.grpc_port)
    client = pb_grpc.GRPCInferenceServiceStub(channel)
    client.ModelInfer(request)
    base_threads = threads(proc.pid)
    codes, lock, next_k, third = {}, threading.Lock(), [0], []

    def worker():
        while True:
            with lock:
                k = next_k[0]
                next_k[0] += 1
                if k == total // 3:
                    third.append((threads(proc.pid), rss_kb(proc.pid)))
            if k >= total:
                return
            call = client.ModelInfer.future(request)
            if k % 3 == 0:
                time.sleep(0.0005)
                call.cancel()
            try:
                call.result(timeout=60)
                code = "OK"
            except grpc.FutureCancelledError:
                code = "CANCELLED"
            except grpc.RpcError as e:
                code = e.code().name
            with lock:
                codes[code] = codes.get(code, 0) + 1

    t0 = time.time()
    pool = [threading.Thread(target=worker) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    time.sleep(1)
    after_threads, after_rss = threads(proc.pid), rss_kb(proc.pid)
    channel.close()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    bad = {c: n for c, n in codes.items() if c not in ("OK", "CANCELLED", "UNAVAILABLE")}
    good = not bad and code == 0 and after_threads <= max(base_threads, third[0][0]) and after_rss < third[0][1] + 10 * 1024
    print("gRPC: %d calls from 8 threads, a third cancelled, in %.0f s: statuses %s; threads %d at start, %d a third of the way, %d at"
          " the end; RSS %.1f MB a third of the way, %.1f MB at the end; exit code %d on SIGTERM: %s" %
          (total, time.time() - t0, codes, base_threads, third[0][0], after_threads, third[0][1] / 1024, after_rss / 1024, code,
           "ok" if good else "FAILED"))
    return good


if __name__ == "__main__":
    main()
