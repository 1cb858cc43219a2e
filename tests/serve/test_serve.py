"""`effvit serve` against the KServe v2 protocol, with the cases Triton's own HTTP tests check:
JSON (nested and flat) and binary tensors, raw binary bodies, the classification extension, encoded
images as BYTES, shape overflow, negative dimensions, duplicate outputs, JSON depth, unknown models,
a full queue (503 at once), request timeouts, dynamic batching and SIGTERM under load.

Run by `make test` as /usr/bin/python3 -m pytest tests/serve, with EFFVIT_CLI and EFFVIT_WORKDIR.
"""
import contextlib
import errno
import gzip
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import cv2
import numpy as np
import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("EFFVIT_CLI", os.path.join(ROOT, "build", "effvit"))
WORK = os.environ.get("EFFVIT_WORKDIR", "/tmp/effvit_serve_tests")
M0 = os.path.join(ROOT, "models", "efficientvit_m0_fashion_mnist.onnx")


class Server:
    def __init__(self, *args, run_delay_ms=0, env=None):
        """run_delay_ms: every model run first sleeps this long (EFFVIT_TEST_RUN_DELAY_MS), for tests
        that need work to outlast a deadline or keep an instance busy whatever the CPU's speed."""
        env = dict(env or os.environ, EFFVIT_TEST_RUN_DELAY_MS=str(run_delay_ms))
        self.startup = []  # what it printed before it listened
        self.proc = subprocess.Popen([CLI, "serve", "--http-port", "0", "--metrics-port", "0", "--grpc-port", "0", "--host", "127.0.0.1"] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for _ in range(200):
            line = self.proc.stdout.readline()
            self.startup.append(line)
            m = re.search(r"HTTP on [^:]+:(\d+), metrics on [^:]+:(\d+)", line)
            if m:
                self.url = "http://127.0.0.1:%s" % m.group(1)
                self.metrics = "http://127.0.0.1:%s/metrics" % m.group(2)
            m = re.search(r"gRPC on [^:]+:(\d+)", line)
            if m:
                self.grpc = "127.0.0.1:%s" % m.group(1)
                return
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError("effvit serve did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        return self.proc.returncode, self.proc.stdout.read()


@contextlib.contextmanager
def serving(*args, run_delay_ms=0, env=None):
    """A Server for the block; it must then stop cleanly on SIGTERM (exit code 0)."""
    s = Server(*args, run_delay_ms=run_delay_ms, env=env)
    try:
        yield s
    finally:
        code, _ = s.stop()
    assert code == 0


@pytest.fixture(scope="module")
def server():
    with serving("--model", "m0=" + M0, "--max-batch-size", "4", "--max-queue-delay-us", "2000", "--instances", "2") as s:
        yield s


def metric(text, name, model="m0"):
    """One counter of a Prometheus /metrics page, for `model` version 1."""
    return int(re.search(r'^%s\{model="%s",version="1"\} (\d+)' % (name, model), text, re.M).group(1))


def run_threads(target, count, with_index=False):
    """`count` threads running `target` (given its index when asked), all joined."""
    pool = [threading.Thread(target=target, args=(k,) if with_index else ()) for k in range(count)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def start_busy_request(port, rows=1):
    """Sends a request on a raw socket and returns the socket once the server has its body; its
    answer is read later. It keeps an instance busy for the server's run_delay_ms."""
    big = np.zeros((rows, 3, 224, 224), np.float32)
    head = json.dumps({"inputs": [{"name": "input", "shape": list(big.shape), "datatype": "FP32",
                                   "parameters": {"binary_data_size": big.nbytes}}]}).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /v2/models/m0/infer HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
                 b"Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(head), len(head) + big.nbytes) +
                 head + big.tobytes())
    time.sleep(0.05)
    return sock


def cli_run(x, name):
    os.makedirs(WORK, exist_ok=True)
    src, dst = os.path.join(WORK, name + "_in.npy"), os.path.join(WORK, name + "_out.npy")
    np.save(src, x)
    subprocess.run([CLI, "run", M0, "--input", src, "--output", dst], check=True, stdout=subprocess.DEVNULL)
    return np.load(dst)


def image(k=0):
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        data = f.read(16 + 28 * 28 * (k + 1))
    pixels = np.frombuffer(data, np.uint8)[16 + 28 * 28 * k:].reshape(28, 28)
    return cv2.imencode(".png", cv2.resize(pixels, (224, 224), interpolation=cv2.INTER_CUBIC))[1].tobytes()


def binary_request(url, x, outputs_binary=True, extra=None):
    header = {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32", "parameters": {"binary_data_size": x.nbytes}}],
              "outputs": [{"name": "logits", "parameters": {"binary_data": outputs_binary}}]}
    if extra:
        header.update(extra)
    head = json.dumps(header).encode()
    return requests.post(url, data=head + x.tobytes(), headers={"Inference-Header-Content-Length": str(len(head)),
                                                                "Content-Type": "application/octet-stream"})


def logits_of(response):
    length = response.headers.get("Inference-Header-Content-Length")
    if length is None:
        out = response.json()["outputs"][0]
        return np.array(out["data"], np.float32).reshape(out["shape"])
    head = json.loads(response.content[:int(length)])
    out = head["outputs"][0]
    return np.frombuffer(response.content[int(length):], np.float32).reshape(out["shape"])


def test_health_metadata_and_unknown_models(server):
    assert requests.get(server.url + "/v2/health/live").status_code == 200
    assert requests.get(server.url + "/v2/health/ready").status_code == 200
    assert {"binary_tensor_data", "classification"} <= set(requests.get(server.url + "/v2").json()["extensions"])
    meta = requests.get(server.url + "/v2/models/m0").json()
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]}]
    assert meta["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]
    assert requests.get(server.url + "/v2/models/m0/versions/1").status_code == 200
    assert requests.get(server.url + "/v2/models/m0/versions/1/ready").status_code == 200
    for path in ("/v2/models/nope", "/v2/models/m0/versions/7", "/v2/models/nope/ready"):
        r = requests.get(server.url + path)
        assert r.status_code == 404 and "error" in r.json(), path
    r = requests.post(server.url + "/v2/models/nope/infer", json={"inputs": []})
    assert r.status_code == 404 and "no model named 'nope'" in r.json()["error"]


def test_json_nested_flat_binary_and_raw_are_the_cli_run(server):
    x = np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype(np.float32)
    want = cli_run(x, "serve_b2")
    url = server.url + "/v2/models/m0/infer"
    flat = requests.post(url, json={"id": "a1", "inputs": [{"name": "input", "shape": [2, 3, 224, 224], "datatype": "FP32",
                                                          "data": x.ravel().tolist()}]})
    nested = requests.post(url, json={"inputs": [{"name": "input", "shape": [2, 3, 224, 224], "datatype": "FP32", "data": x.tolist()}]})
    assert flat.status_code == 200 and flat.json()["id"] == "a1" and flat.json()["model_name"] == "m0"
    binary = binary_request(url, x)
    assert binary.status_code == 200 and binary.headers["Content-Type"] == "application/octet-stream"
    for r in (flat, nested, binary):
        assert np.array_equal(logits_of(r), want)
    # Against a batch-1 run: oneDNN may pick another kernel for another batch size (it does on AVX2),
    # so rows of a batch-2 run need not be bit-identical to a batch-1 run of the same row.
    one = x[:1].copy()
    raw = requests.post(url, data=one.tobytes(), headers={"Inference-Header-Content-Length": "0"})
    assert raw.status_code == 200 and np.array_equal(logits_of(raw), cli_run(one, "serve_b1"))


def test_classification_and_images_as_bytes(server):
    png = image(0)  # an ankle boot
    body = {"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 4 + len(png)}}],
            "outputs": [{"name": "logits", "parameters": {"classification": 3}}]}
    head = json.dumps(body).encode()
    r = requests.post(server.url + "/v2/models/m0/infer", data=head + struct.pack("<I", len(png)) + png,
                      headers={"Inference-Header-Content-Length": str(len(head))})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert out["datatype"] == "BYTES" and out["shape"] == [1, 3]
    assert out["data"][0].split(":")[1:] == ["9", "Ankle boot"], out["data"]
    scores = [float(s.split(":")[0]) for s in out["data"]]
    assert scores == sorted(scores, reverse=True)
    # The same file through the CLI's image path gives the same logits.
    path = os.path.join(WORK, "boot.png")
    open(path, "wb").write(png)
    dst = os.path.join(WORK, "boot_out.npy")
    subprocess.run([CLI, "run", M0, "--image", path, "--output", dst], check=True, stdout=subprocess.DEVNULL)
    assert abs(scores[0] - float(np.load(dst)[0][9])) < 1e-5
    import base64
    j = requests.post(server.url + "/v2/models/m0/infer", json={
        "inputs": [{"name": "input", "shape": [2], "datatype": "BYTES", "data": [base64.b64encode(png).decode(), base64.b64encode(image(1)).decode()]}],
        "outputs": [{"name": "logits", "parameters": {"classification": 1}}]})
    assert j.status_code == 200 and j.json()["outputs"][0]["shape"] == [2, 1], j.text


@pytest.mark.parametrize("body,needle", [
    ({"inputs": [{"name": "input", "shape": [1 << 40, 1 << 40, 3, 224], "datatype": "FP32", "data": [1]}]}, "too many elements"),
    ({"inputs": [{"name": "input", "shape": [-1, 3, 224, 224], "datatype": "FP32", "data": [1]}]}, "negative dimension"),
    ({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": [1, 2]}]}, "2 values for shape"),
    ({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "UINT8", "data": [1]}]}, "the model takes FP32"),
    ({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP64", "data": [1]}]},
     "input 'input' is FP64, which effvit does not take; the model takes FP32"),
    ({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "QUUX", "data": [1]}]}, "is QUUX, which effvit does not take"),
    ({"inputs": [{"name": "input", "shape": [1, 3, 100, 224], "datatype": "FP32", "data": [1]}]}, "does not fit the model's"),
    ({"inputs": [{"name": "input", "shape": [1, 224, 224, 3], "datatype": "FP32", "data": [1]}]},
     "does not fit the model's [-1,3,224,224]; it looks channels-last (NHWC) where the model takes NCHW: x.transpose(0, 3, 1, 2)"),
    ({"inputs": [{"name": "other", "shape": [1], "datatype": "FP32", "data": [1]}]}, "no input named 'other'"),
    ({"inputs": []}, "input 'input' is missing"),
    ({"inputs": [{"name": "input", "shape": [400000, 3, 224, 224], "datatype": "FP32", "data": []}]}, "0 values for shape"),
    ({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": [1e39] * (3 * 224 * 224)}]}, "does not fit in float32"),
    ({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": [0.0] * (3 * 224 * 224)}],
      "parameters": {"timeout": 1e30}}, "parameter 'timeout' must be"),
    ({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": [0.0] * (3 * 224 * 224)}],
      "outputs": [{"name": "logits", "parameters": {"classification": 2147483648}}]}, "'classification' must be a count"),
    ({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": [0.0] * (3 * 224 * 224)}],
      "outputs": [{"name": "logits", "parameters": {"binary_data": "yes"}}]}, "'binary_data' must be true or false"),
    ({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": [0.0] * (3 * 224 * 224)}],
      "outputs": [{"name": "logits"}, {"name": "logits"}]}, "requested twice"),
    ({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": [0.0] * (3 * 224 * 224)}],
      "outputs": [{"name": "nope"}]}, "no output named 'nope'"),
])
def test_bad_requests_are_400(server, body, needle):
    r = requests.post(server.url + "/v2/models/m0/infer", json=body)
    assert r.status_code == 400 and needle in r.json()["error"], (r.status_code, r.text)


def test_images_for_a_fixed_batch_model_are_counted_as_sent(tmp_path):
    import onnx
    m = onnx.load(M0)
    for value in (m.graph.input[0], m.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = 1  # the batch fixed at 1
    fixed = str(tmp_path / "fixed_batch.onnx")
    onnx.save(m, fixed)
    png = cv2.imencode(".png", np.zeros((40, 50, 3), np.uint8))[1].tobytes()
    with serving("--model", "m=" + fixed) as s:
        import base64
        data = [base64.b64encode(png).decode()] * 2
        r = requests.post(s.url + "/v2/models/m/infer", json={"inputs": [{"name": "input", "shape": [2], "datatype": "BYTES", "data": data}]})
        assert r.status_code == 400 and r.json()["error"] == (
            "input 'input': 2 images in one request, but the model's batch is fixed at 1 ([1,3,224,224]): send 1 per request"), r.text
        r = requests.post(s.url + "/v2/models/m/infer", json={"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": data[:1]}]})
        assert r.status_code == 200, r.text


def test_a_bare_model_path_is_served_under_its_file_name():
    with serving("--model", M0) as s:
        assert "model 'efficientvit_m0_fashion_mnist' version 1" in "".join(s.startup), s.startup
        assert requests.get(s.url + "/v2/models/efficientvit_m0_fashion_mnist/ready").status_code == 200


def bytes_request(url, encoded):
    """An infer request of one image file as a binary BYTES input."""
    head = json.dumps({"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 4 + len(encoded)}}]}).encode()
    return requests.post(url, data=head + struct.pack("<I", len(encoded)) + encoded, headers={"Inference-Header-Content-Length": str(len(head))})


def test_max_image_pixels_bounds_images_sent_as_bytes():
    png = cv2.imencode(".png", np.zeros((40, 50, 3), np.uint8))[1].tobytes()
    for limit, ok in (("1999", False), ("2000", True)):
        with serving("--model", "m0=" + M0, "--max-image-pixels", limit) as s:
            r = bytes_request(s.url + "/v2/models/m0/infer", png)
            assert (r.status_code == 200) == ok, (limit, r.text)
            if not ok:
                assert "image too large (50x40, at most 1999 pixels); raise it with --max-image-pixels" in r.json()["error"], r.text


@pytest.mark.parametrize("options", [["--resize", "letterbox"], ["--no-exif-rotate"]])
def test_images_sent_as_bytes_follow_the_clis_image_options(tmp_path, options):
    from PIL import Image
    boot = cv2.imdecode(np.frombuffer(image(0), np.uint8), cv2.IMREAD_COLOR)
    # Wide and turned by its EXIF orientation (6: shown rotated a quarter turn), so that each option
    # changes the pixels the model sees.
    exif = Image.Exif()
    exif[0x0112] = 6
    path = str(tmp_path / "boot.jpg")
    Image.fromarray(cv2.resize(boot, (336, 160))).save(path, quality=95, exif=exif.tobytes())

    def cli(*args):
        dst = str(tmp_path / "out.npy")
        subprocess.run([CLI, "run", M0, "--image", path, "--output", dst] + list(args), check=True, stdout=subprocess.DEVNULL)
        return np.load(dst)

    want = cli(*options)
    assert not np.allclose(want, cli(), atol=1e-3)  # the option matters for this image
    with serving("--model", "m0=" + M0, *options) as s:
        r = bytes_request(s.url + "/v2/models/m0/infer", open(path, "rb").read())
        assert r.status_code == 200, r.text
        assert np.array_equal(logits_of(r), want)
        # Said at start, so a client comparing with `effvit classify` knows which rule the server uses.
        said = [l for l in s.startup if "images sent as BYTES" in l]
        assert len(said) == 1 and ("letterbox resize" in said[0]) == ("letterbox" in options), said
        assert ("EXIF orientation ignored" in said[0]) == ("--no-exif-rotate" in options), said


def test_hostile_sizes_cost_the_server_nothing(server):
    metrics = requests.get(server.metrics).text
    backend = re.search(r'reason="BACKEND"\} (\d+)', metrics).group(1)
    big = b'{"inputs": [{"name": "input", "shape": [1], "datatype": "FP32", "data": [' + b"0," * (9 << 20) + b'0]}]}'
    r = requests.post(server.url + "/v2/models/m0/infer", data=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "binary tensor extension" in r.json()["error"], r.text[:200]
    bomb = cv2.imencode(".png", np.zeros((9000, 9000), np.uint8))[1].tobytes()  # 81 Mpx: over the 64 Mpx default
    head = json.dumps({"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 4 + len(bomb)}}]}).encode()
    r = requests.post(server.url + "/v2/models/m0/infer", data=head + struct.pack("<I", len(bomb)) + bomb,
                      headers={"Inference-Header-Content-Length": str(len(head))})
    assert r.status_code == 400 and "image too large (9000x9000, at most 67108864 pixels); raise it with --max-image-pixels" in r.json()["error"], r.text
    # None of the hostile requests counted as the engine failing.
    assert re.search(r'reason="BACKEND"\} (\d+)', requests.get(server.metrics).text).group(1) == backend


def test_json_depth_and_binary_sizes_are_400(server):
    deep = "[" * 100 + "]" * 100
    r = requests.post(server.url + "/v2/models/m0/infer", data='{"inputs": [{"name": "input", "data": %s}]}' % deep)
    assert r.status_code == 400 and "deeper than" in r.json()["error"]
    x = np.zeros((1, 3, 224, 224), np.float32)
    head = json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    for data, length in ((head + x.tobytes()[:-4], len(head)), (head + x.tobytes() + b"xx", len(head)), (head, len(head) + 10)):
        r = requests.post(server.url + "/v2/models/m0/infer", data=data, headers={"Inference-Header-Content-Length": str(length)})
        assert r.status_code == 400, r.text
    r = requests.post(server.url + "/v2/models/m0/infer", data=b"\0" * 12, headers={"Inference-Header-Content-Length": "0"})
    assert r.status_code == 400 and "raw binary body is 12 bytes" in r.json()["error"]


def test_dynamic_batching_keeps_each_request_its_own_rows():
    # One instance, kept busy by a request while eight single requests arrive: they queue, and the
    # instance takes them in batches (a free session would have run each at once).
    with serving("--model", "m0=" + M0, "--max-batch-size", "4", "--max-queue-delay-us", "300000", "--instances", "1",
                 run_delay_ms=500) as s:
        xs = [np.random.default_rng(20 + k).standard_normal((1, 3, 224, 224)).astype(np.float32) for k in range(8)]
        want = [cli_run(np.concatenate(xs), "serve_batch")[k:k + 1] for k in range(8)]
        got = [None] * 8

        def send(k):
            got[k] = logits_of(binary_request(s.url + "/v2/models/m0/infer", xs[k]))

        port = int(s.url.rsplit(":", 1)[1])
        with start_busy_request(port) as busy:
            run_threads(send, 8, with_index=True)
            busy.settimeout(30)
            assert read_response(busy)[0].split()[1] == "200"
        # Batched rows come out as a batch-8 run computes them; each request gets its own.
        for k in range(8):
            assert np.allclose(got[k], want[k], rtol=1e-4, atol=1e-5), k
        metrics = requests.get(s.metrics).text
        for name in ("nv_inference_request_success", "nv_inference_count", "nv_inference_exec_count", "nv_inference_pending_request_count",
                     "nv_inference_request_duration_us", "nv_inference_queue_duration_us", "nv_inference_compute_infer_duration_us"):
            assert re.search(r'^%s\{model="m0",version="1"\} \d+' % name, metrics, re.M), name
        count, execs = metric(metrics, "nv_inference_count"), metric(metrics, "nv_inference_exec_count")
        assert count == 9 and execs - 1 < 8, (execs, count)


def test_a_nan_request_fails_alone_not_its_batch_mates():
    # Four requests queue behind a busy instance and would run as one batch; one holds a NaN. It is
    # refused by itself (400, naming its own element), and the other three are answered.
    with serving("--model", "m0=" + M0, "--max-batch-size", "4", "--max-queue-delay-us", "300000", "--instances", "1",
                 run_delay_ms=400) as s:
        xs = [np.random.default_rng(30 + k).standard_normal((1, 3, 224, 224)).astype(np.float32) for k in range(4)]
        xs[1][0, 0, 3, 5] = np.nan
        codes = [None] * 4

        def send(k):
            r = binary_request(s.url + "/v2/models/m0/infer", xs[k])
            codes[k] = (r.status_code, r.json().get("error", "") if r.status_code != 200 else "")

        with start_busy_request(int(s.url.rsplit(":", 1)[1])) as busy:
            run_threads(send, 4, with_index=True)
            busy.settimeout(30)
            assert read_response(busy)[0].split()[1] == "200"
        assert [c for c, _ in codes] == [200, 400, 200, 200], codes
        assert "holds NaN at [0,0,3,5] (element %d)" % (3 * 224 + 5) in codes[1][1], codes[1]


def test_an_idle_instance_means_no_batching_delay():
    # Two instances and a 2 s batching delay: one client's requests each find an instance idle, so
    # none waits for batch-mates (waiting would batch nothing and add the delay to each).
    with serving("--model", "m0=" + M0, "--max-batch-size", "4", "--max-queue-delay-us", "2000000", "--instances", "2") as s:
        x = np.random.default_rng(21).standard_normal((1, 3, 224, 224)).astype(np.float32)
        for _ in range(3):
            start = time.monotonic()
            assert binary_request(s.url + "/v2/models/m0/infer", x).status_code == 200
            assert time.monotonic() - start < 1.0


def test_full_queue_and_timeouts_are_503_at_once():
    # Each run takes 0.2 s at least, so twelve clients surely find the one-place queue full.
    with serving("--model", "m0=" + M0, "--max-queue-size", "1", "--instances", "1", run_delay_ms=200) as s:
        x = np.random.default_rng(3).standard_normal((8, 3, 224, 224)).astype(np.float32)
        statuses = []
        run_threads(lambda: statuses.append(binary_request(s.url + "/v2/models/m0/infer", x).status_code), 12)
        assert set(statuses) <= {200, 503} and 503 in statuses and 200 in statuses, statuses
        r = binary_request(s.url + "/v2/models/m0/infer", x, extra={"parameters": {"timeout": 1}})
        assert r.status_code == 503 and "timed out" in r.json()["error"], r.text
        metrics = requests.get(s.metrics).text
        assert re.search(r'nv_inference_request_failure\{model="m0",version="1",reason="REJECTED"\} [1-9]', metrics)


def test_sigterm_under_load_loses_no_accepted_request():
    s = Server("--model", "m0=" + M0, "--instances", "1", "--max-queue-size", "64")
    x = np.random.default_rng(4).standard_normal((1, 3, 224, 224)).astype(np.float32)
    want = cli_run(x, "serve_sigterm")
    results = []

    def client(keep_alive):
        session = requests.Session() if keep_alive else requests
        for _ in range(20):
            try:
                r = session.post(s.url + "/v2/models/m0/infer", data=head + x.tobytes(),
                                 headers={"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
            except requests.ConnectionError as e:
                # Refused: after the server stopped listening, never accepted. Anything else (a
                # connection dropped with the request on it) is a lost request.
                refused = isinstance(e.args[0], Exception) and "Connection refused" in str(e.args[0])
                results.append("refused" if refused else "lost: %r" % e)
                continue
            results.append(r.status_code if r.status_code != 200 else ("ok" if np.array_equal(logits_of(r), want) else "wrong"))

    head = json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}],
                       "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}).encode()
    pool = [threading.Thread(target=client, args=(k % 2 == 0,)) for k in range(4)]
    for t in pool:
        t.start()
    time.sleep(0.3)
    s.proc.send_signal(signal.SIGTERM)
    for t in pool:
        t.join()
    code, log = s.stop()
    assert code == 0 and "stopped (0 request(s) still in flight)" in log, log
    assert "wrong" not in results and set(results) <= {"ok", 503, "refused"} and "ok" in results, results


def test_bodies_over_the_limit_and_unknown_paths_get_error_bodies():
    with serving("--model", "m0=" + M0, "--http-max-input-size", "100000") as s:
        x = np.zeros((1, 3, 224, 224), np.float32)
        r = binary_request(s.url + "/v2/models/m0/infer", x)
        assert r.status_code == 413 and "--http-max-input-size (100000 bytes)" in r.json()["error"], r.text
        r = requests.post(s.url + "/v2/models/m0/infer", data=b"x" * 200000, headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413 and "--http-max-input-size (100000 bytes)" in r.json()["error"], r.text
        r = requests.get(s.url + "/v2/nothing/here")
        assert r.status_code == 404 and "no such endpoint" in r.json()["error"]
        # The library's own 8 KB cap on form bodies meets only paths that are not endpoints.
        r = requests.post(s.url + "/v2/nothing/here", data=b"x" * 20000, headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 404 and "no such endpoint: POST /v2/nothing/here" in r.json()["error"], r.text


def test_a_body_is_read_whatever_its_content_type_says(server):
    # curl --data-binary labels its body application/x-www-form-urlencoded unless told otherwise;
    # Triton reads it all the same.
    x = np.random.default_rng(7).standard_normal((1, 3, 224, 224)).astype(np.float32)
    want = logits_of(binary_request(server.url + "/v2/models/m0/infer", x))
    body = json.dumps({"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]})
    for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
        headers = {"Content-Type": content_type} if content_type else {}
        r = requests.post(server.url + "/v2/models/m0/infer", data=body.encode(), headers=headers)
        assert r.status_code == 200 and np.array_equal(logits_of(r), want), (content_type, r.text[:300])


def test_a_body_that_is_not_json_is_the_raw_input(server):
    # As a client posting a tensor file with curl --data-binary sends it: no header, no JSON.
    x = np.random.default_rng(9).standard_normal((1, 3, 224, 224)).astype(np.float32)
    want = logits_of(binary_request(server.url + "/v2/models/m0/infer", x))
    r = requests.post(server.url + "/v2/models/m0/infer", data=x.tobytes())
    assert r.status_code == 200 and np.array_equal(logits_of(r), want), r.text[:300]
    r = requests.post(server.url + "/v2/models/m0/infer", data=b"xxxx")
    assert r.status_code == 400 and "is read as the raw input" in r.json()["error"], r.text
    r = requests.post(server.url + "/v2/models/m0/infer", data=image(0))
    assert r.status_code == 400 and "the body is an image file; send it as a BYTES input" in r.json()["error"], r.text
    r = requests.post(server.url + "/v2/models/m0/infer", data=b"xxxx", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"], r.text


def test_binary_data_after_any_json_length_gives_the_same_answer(server):
    # The binary part starts wherever the JSON ends: at any byte offset the server reads it alike
    # (a view of the body where it is aligned, which a pooled body always makes it).
    x = np.random.default_rng(8).standard_normal((1, 3, 224, 224)).astype(np.float32)
    want = logits_of(binary_request(server.url + "/v2/models/m0/infer", x))
    for pad in range(4):
        r = binary_request(server.url + "/v2/models/m0/infer", x, extra={"id": "p" * pad})
        assert r.status_code == 200 and np.array_equal(logits_of(r), want), r.text[:300]


def raw_exchange(port, data, wait=0.5):
    """Sends bytes on one connection and returns all that comes back until the server closes it or goes quiet."""
    from test_faults import answer_then_eof
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(data)
        return answer_then_eof(c, wait)[0]


def test_empty_and_multipart_bodies_are_named(server):
    url = server.url + "/v2/models/m0/infer"
    r = requests.post(url, data=b"")
    assert r.status_code == 400 and "body is empty" in r.json()["error"], r.text
    r = requests.post(url, files={"input": ("x.bin", b"1234")})
    assert r.status_code == 400 and "multipart/form-data" in r.json()["error"], r.text
    # A POST with neither Content-Length nor chunks has an empty body (HTTP/1.1): answered as soon
    # as a bodiless GET on the same server, not after the 5 s per-read timeout. The bound is the
    # GET's measured time plus 2 s, whatever the machine's speed.
    port = int(server.url.rsplit(":", 1)[1])
    start = time.monotonic()
    raw_exchange(port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    reference = time.monotonic() - start
    start = time.monotonic()
    got = raw_exchange(port, b"POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"400 Bad Request" in got and b"body is empty" in got and time.monotonic() - start < reference + 2, (got, reference)


def test_requests_refused_after_their_body_keep_the_connection(server):
    # Each refused request is followed on the same connection by a pipelined GET: its answer must
    # come too (the refused body was read, not left to be taken for the next request).
    port = int(server.url.rsplit(":", 1)[1])
    live = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"x" * 300000
    for extra in (b"Inference-Header-Content-Length: abc\r\n", b"Inference-Header-Content-Length: 10\r\n", b""):
        head = b"POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body)
        got = raw_exchange(port, head + body + live)
        assert got.count(b"HTTP/1.1 400") == 1 and got.count(b"HTTP/1.1 200") == 1, (extra, got[:400])


def test_a_chunked_body_over_the_limit_gets_413():
    with serving("--model", "m0=" + M0, "--http-max-input-size", "100000") as s:
        chunks = (b"x" * 50000 for _ in range(4))
        r = requests.post(s.url + "/v2/models/m0/infer", data=chunks)
        assert r.status_code == 413 and "--http-max-input-size (100000 bytes)" in r.json()["error"], r.text


def test_a_model_repository_serves_each_models_highest_version_and_names_an_empty_folder(tmp_path):
    for version in ("1", "3", "12"):
        os.makedirs(tmp_path / "m0" / version)
    for version in ("1", "3"):  # 12 holds no model.onnx: not a version
        os.symlink(M0, tmp_path / "m0" / version / "model.onnx")
    os.makedirs(tmp_path / ".git")
    with serving("--model-repository", str(tmp_path)) as s:
        assert "model 'm0' version 3" in "".join(s.startup), s.startup
        assert requests.get(s.url + "/v2/models/m0/versions/3/ready").status_code == 200
        assert requests.get(s.url + "/v2/models/m0/versions/1/ready").status_code == 404
    os.makedirs(tmp_path / "empty_model")
    r = subprocess.run([CLI, "serve", "--model-repository", str(tmp_path), "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        "effvit: %s: a model folder with no VERSION/model.onnx (expected %s)" % (tmp_path / "empty_model", tmp_path / "empty_model" / "1" / "model.onnx")], r.stderr


def test_the_example_client_classifies_image_files(server):
    paths = []
    for k in (0, 1):
        path = os.path.join(WORK, "client_%d.png" % k)
        open(path, "wb").write(image(k))
        paths.append(path)
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "examples", "serve_client.py"), server.url, "m0"] + paths + ["--top", "2"],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    # Fashion-MNIST test images 0 and 1: an ankle boot and a pullover.
    assert out[0].endswith("client_0.png") and out[1].startswith("  Ankle boot (9)"), out
    assert out[3].endswith("client_1.png") and out[4].startswith("  Pullover (2)"), out
    # A bad file costs only its own answer; the exit status says something failed.
    bad = os.path.join(WORK, "client_notes.png")
    open(bad, "wb").write(b"not an image")
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "examples", "serve_client.py"), server.url, "m0", paths[0], bad, paths[1]],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stdout.splitlines()[0].endswith("client_0.png") and r.stdout.splitlines()[2].endswith("client_1.png"), r
    assert r.stderr.startswith(bad + ": 400 ") and len(r.stderr.splitlines()) == 1, r.stderr


def test_the_example_client_takes_host_port_and_names_a_server_it_cannot_reach(server):
    path = os.path.join(WORK, "client_0.png")
    open(path, "wb").write(image(0))
    client = ["/usr/bin/python3", os.path.join(ROOT, "examples", "serve_client.py")]
    host_port = server.url[len("http://"):]
    out = subprocess.run(client + [host_port, "m0", path], check=True, capture_output=True, text=True).stdout.splitlines()
    assert out[1].startswith("  Ankle boot (9)"), out
    # A port bound but not listening refuses connections, and no other process can take it meanwhile.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        r = subprocess.run(client + ["127.0.0.1:%d" % port, "m0", path], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.splitlines() == [
        "http://127.0.0.1:%d: cannot reach the server (Connection refused)" % port], r.stderr
    # A bare port is this machine's; a port that answers but is no v2 server (the metrics one) is one line.
    out = subprocess.run(client + [host_port.rsplit(":", 1)[1], "m0", path], check=True, capture_output=True, text=True).stdout.splitlines()
    assert out[1].startswith("  Ankle boot (9)"), out
    metrics = server.metrics[len("http://"):-len("/metrics")]
    r = subprocess.run(client + [metrics, "m0", path], capture_output=True, text=True)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "(not a v2 server's answer: is this the HTTP port?)" in r.stderr, r.stderr
    # The gRPC port answers in HTTP/2; a sign-in page answers 200 in HTML: one line each.
    r = subprocess.run(client + [server.grpc, "m0", path], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr == "http://%s: answers, but not in HTTP/1.1 (the gRPC port?); give the HTTP port\n" % server.grpc, r.stderr
    import http.server
    import threading

    class SignIn(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body>Please sign in</body></html>")

        def log_message(self, *args):
            pass

    page = http.server.HTTPServer(("127.0.0.1", 0), SignIn)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    try:
        r = subprocess.run(client + ["127.0.0.1:%d" % page.server_address[1], "m0", path], capture_output=True, text=True, timeout=60)
    finally:
        page.shutdown()
    assert r.returncode == 1 and r.stderr.splitlines() == [
        "http://127.0.0.1:%d: 200 <html><body>Please sign in</body></html> (not a v2 server's answer: is this the HTTP port?)" %
        page.server_address[1]], r.stderr


def test_each_model_runs_at_its_own_precision():
    """--precision for every model, --model-precision for one: the startup lines say what each runs,
    and the bf16 model answers close to the fp32 one (same class). bf16 runs natively at tiers
    avx512_bf16 and amx, emulated on the other AVX-512 tiers (EFFVIT_TEST_FORCE_BF16, tests only)."""
    tier = json.loads(subprocess.run([CLI, "info", M0, "--json"], check=True, capture_output=True, text=True).stdout)["isa"]
    env = dict(os.environ)
    if tier in ("avx512", "avx512_vnni"):
        env["EFFVIT_TEST_FORCE_BF16"] = "1"
    elif tier not in ("avx512_bf16", "amx"):
        refused = subprocess.run([CLI, "serve", "--model", "m0=" + M0, "--model-precision", "m0=bf16", "--http-port", "0", "--grpc-port", "0"],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "serve: model 'm0':" in refused.stderr and "needs native bf16" in refused.stderr
        pytest.skip(f"no bf16 at tier {tier}: refused, as it must be")
    with serving("--model", "exact=" + M0, "--model", "fast=" + M0, "--model-precision", "fast=bf16", env=env) as s:
        said = "".join(s.startup)
        assert re.search(r"model 'exact' .*\(fp32\)", said) and re.search(r"model 'fast' .*\(bf16\)", said), said
        x = np.random.default_rng(3).standard_normal((1, 3, 224, 224)).astype(np.float32)
        exact = logits_of(binary_request(s.url + "/v2/models/exact/infer", x)).ravel().astype(np.float64)
        fast = logits_of(binary_request(s.url + "/v2/models/fast/infer", x)).ravel().astype(np.float64)
        assert exact.argmax() == fast.argmax()
        assert exact @ fast / np.linalg.norm(exact) / np.linalg.norm(fast) > 0.999
        assert not np.array_equal(exact, fast)
    bad = subprocess.run([CLI, "serve", "--model", "m0=" + M0, "--model-precision", "other=bf16", "--http-port", "0", "--grpc-port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--model-precision names 'other', which is not among the models served" in bad.stderr


def read_response(sock, pending=b""):
    """One HTTP/1.1 response read off a raw socket: (status line, headers, body, bytes after it)."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        pending += chunk
    head, rest = pending.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int(headers["Content-Length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        rest += chunk
    return lines[0], headers, rest[:length], rest[length:]


def test_one_connection_carries_many_and_pipelined_requests(server):
    # The server reads a connection through its own buffer: requests sent back to back in one write
    # must each get their answer, and keep-alive must not end the connection every few requests
    # (the library's default closes it after 5).
    x = np.random.default_rng(22).standard_normal((1, 3, 224, 224)).astype(np.float32)
    head = json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    port = int(server.url.rsplit(":", 1)[1])

    def request(body, header_length):
        return (b"POST /v2/models/m0/infer HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\n"
                b"Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (header_length, len(body))) + body

    good, bad = request(head + x.tobytes(), len(head)), request(b"{}", 999)
    want = cli_run(x, "serve_pipelined")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(good + bad + good)
        pending = b""
        for expected in (200, 400, 200):
            status, headers, body, pending = read_response(sock, pending)
            assert status.split()[1] == str(expected), (status, body)
            assert headers.get("Connection") != "close", headers
            if expected == 200:
                out = json.loads(body)["outputs"][0]
                assert np.allclose(np.array(out["data"], np.float32).reshape(out["shape"]), want, rtol=1e-4, atol=1e-5)
        for _ in range(12):
            sock.sendall(bad)
            status, headers, _, pending = read_response(sock, pending)
            assert status.split()[1] == "400" and headers.get("Connection") != "close", (status, headers)


@pytest.mark.parametrize("flag,what", [("--http-port", "HTTP"), ("--grpc-port", "gRPC"), ("--metrics-port", "metrics")])
def test_a_second_server_on_a_busy_port_fails_in_one_line(server, flag, what):
    """One line naming the address, the reason and the option (no gRPC core log line before it),
    and the process gone without announcing any server."""
    port = {"HTTP": server.url, "gRPC": server.grpc, "metrics": server.metrics[:-len("/metrics")]}[what].rsplit(":", 1)[1]
    ports = dict.fromkeys(["--http-port", "--grpc-port", "--metrics-port"], "0")
    ports[flag] = port
    out = subprocess.run([CLI, "serve", "--model", "m0=" + M0, "--host", "127.0.0.1"] + [a for kv in ports.items() for a in kv],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "HTTP on" not in out.stdout, out
    assert out.stderr == "effvit: 127.0.0.1:%s: cannot listen for %s: %s (another program holds the port: choose another with %s, or 0 for "\
                         "any free port)\n" % (port, what, os.strerror(errno.EADDRINUSE), flag), out.stderr


def test_two_of_its_own_listeners_on_one_port_are_refused_by_name():
    out = subprocess.run([CLI, "serve", "--model", "m0=" + M0, "--host", "127.0.0.1", "--http-port", "18555", "--grpc-port", "18555",
                          "--metrics-port", "0"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stdout == "", out
    assert out.stderr == "effvit: --http-port and --grpc-port are both 18555; each listener needs its own port (or 0 for any free one)\n", out.stderr


def test_an_instance_stops_waiting_for_batch_mates_when_another_goes_idle():
    # A request runs (0.4 s); then a 1-row request with a timeout (so it is queued, not run by the
    # thread that received it) reaches the other instance, which (no session free) waits up to 3 s
    # for batch-mates. When the busy one finishes a session is free: it must stop waiting and run
    # (two runs, 0.8 s, well inside the 3 s it would otherwise wait).
    with serving("--model", "m0=" + M0, "--instances", "2", "--max-batch-size", "4", "--max-queue-delay-us", "3000000",
                 run_delay_ms=400) as s:
        with start_busy_request(int(s.url.rsplit(":", 1)[1])) as sock:
            start = time.monotonic()
            x = np.zeros((1, 3, 224, 224), np.float32)
            assert binary_request(s.url + "/v2/models/m0/infer", x, extra={"parameters": {"timeout": 20_000_000}}).status_code == 200
            took = time.monotonic() - start
            sock.settimeout(20)
            assert read_response(sock)[0].split()[1] == "200"
        assert took < 2.0, took


def test_a_full_batch_runs_at_once_while_another_instance_is_idle():
    # A request runs (0.4 s) on the thread that received it; two queued 1-row requests fill a
    # batch of 2. Only one instance gathers at a time, so they meet in one batch and run as soon as
    # it is full (two instances each holding one of them waited out the 3 s delay).
    with serving("--model", "m0=" + M0, "--instances", "2", "--max-batch-size", "2", "--max-queue-delay-us", "3000000",
                 run_delay_ms=400) as s:
        took = {}

        def send(k):
            time.sleep(0.05 * k)
            start = time.monotonic()
            x = np.zeros((1, 3, 224, 224), np.float32)
            assert binary_request(s.url + "/v2/models/m0/infer", x, extra={"parameters": {"timeout": 20_000_000}}).status_code == 200
            took[k] = time.monotonic() - start

        with start_busy_request(int(s.url.rsplit(":", 1)[1])) as sock:
            run_threads(send, 2, with_index=True)
            sock.settimeout(20)
            assert read_response(sock)[0].split()[1] == "200"
        assert len(took) == 2 and max(took.values()) < 2.0, took


def test_sigterm_closes_keep_alive_connections_instead_of_waiting_them_out():
    s = Server("--model", "m0=" + M0, "--exit-timeout-s", "20")
    port = int(s.url.rsplit(":", 1)[1])
    idle = socket.create_connection(("127.0.0.1", port))
    idle.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
    assert read_response(idle)[0].split()[1] == "200"
    # A request half sent when SIGTERM comes, with another pipelined behind it.
    x = np.zeros((1, 3, 224, 224), np.float32)
    head = json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    body = head + x.tobytes()
    request = (b"POST /v2/models/m0/infer HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
               b"Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(head), len(body))) + body
    busy = socket.create_connection(("127.0.0.1", port))
    busy.sendall(request[:1000])
    start = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    while "not ready" not in s.proc.stdout.readline():
        pass
    busy.sendall(request[1000:] + b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
    # Exactly one answer, which ends the connection: the pipelined request is not read (its client
    # resends it elsewhere). The idle connection is let go at once.
    busy.settimeout(10)
    status, headers, _, rest = read_response(busy)
    assert status.split()[1] == "503" and "close" in headers.get("Connection", ""), (status, headers)
    assert rest == b"" and busy.recv(65536) == b""
    idle.settimeout(1)
    assert idle.recv(65536) == b""
    code = s.proc.wait(timeout=30)
    took = time.monotonic() - start
    idle.close()
    busy.close()
    assert code == 0 and took < 2.0, (code, took)


def test_a_body_the_library_does_not_read_is_never_read_as_requests(server):
    # The library answers some requests without reading their body: a bad Range header (416), a GET
    # that carries a body. The connection must end there, or the body's bytes (here a hidden GET)
    # would be answered as requests of their own.
    port = int(server.url.rsplit(":", 1)[1])
    hidden = b"GET /v2/models/m0 HTTP/1.1\r\nHost: t\r\n\r\n"
    for head in (b"POST /v2/models/m0/infer HTTP/1.1\r\nHost: t\r\nRange: bytes=zz\r\n",
                 b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n"):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(hidden) + hidden)
            sock.settimeout(5)
            got = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            assert got.count(b"HTTP/1.1 ") == 1, (head, got)


def test_a_drain_that_starts_mid_request_still_answers_what_is_pipelined():
    # SIGTERM while a batch-32 request runs: its answer may keep the connection, so the request
    # pipelined behind it must be answered too (with Connection: close), not dropped.
    s = Server("--model", "m0=" + M0, "--exit-timeout-s", "20")
    port = int(s.url.rsplit(":", 1)[1])
    x = np.zeros((32, 3, 224, 224), np.float32)
    head = json.dumps({"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    body = head + x.tobytes()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /v2/models/m0/infer HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
                     b"Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(head), len(body)) + body +
                     b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.05)
        s.proc.send_signal(signal.SIGTERM)
        sock.settimeout(20)
        first, first_headers, _, pending = read_response(sock)
        assert first.split()[1] in ("200", "503"), first
        if first_headers.get("Connection") != "close":
            second, headers, _, pending = read_response(sock, pending)
            assert second.split()[1] == "200" and "close" in headers.get("Connection", ""), (second, headers)
        assert pending == b"" and sock.recv(65536) == b""
    assert s.proc.wait(timeout=30) == 0


def test_several_binary_inputs_at_any_alignment(tmp_path):
    # Three inputs (FP32, UINT8, FP32): the UINT8 one leaves the next float off its alignment, and
    # the JSON part's length moves them all. Every answer must be exact.
    import onnx
    from onnx import TensorProto, helper
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [-1, 5])
    c = helper.make_tensor_value_info("c", TensorProto.UINT8, [-1, 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [-1, 5])
    graph = helper.make_graph([helper.make_node("Sub", ["a", "b"], ["y"]), helper.make_node("Cast", ["c"], ["z"], to=TensorProto.FLOAT)],
                              "three", [a, c, b], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [-1, 5]),
                                                   helper.make_tensor_value_info("z", TensorProto.FLOAT, [-1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = str(tmp_path / "three.onnx")
    onnx.save(model, path)
    with serving("--model", "three=" + path) as s:
        rng = np.random.default_rng(23)
        for pad in range(8):
            xa, xb = rng.standard_normal((2, 5)).astype(np.float32), rng.standard_normal((2, 5)).astype(np.float32)
            xc = rng.integers(0, 256, (2, 3)).astype(np.uint8)
            head = json.dumps({"id": "x" * pad, "inputs": [
                {"name": n, "shape": list(v.shape), "datatype": d, "parameters": {"binary_data_size": v.nbytes}}
                for n, v, d in (("a", xa, "FP32"), ("c", xc, "UINT8"), ("b", xb, "FP32"))]}).encode()
            r = requests.post(s.url + "/v2/models/three/infer", data=head + xa.tobytes() + xc.tobytes() + xb.tobytes(),
                              headers={"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
            assert r.status_code == 200, r.text
            outs = {o["name"]: np.array(o["data"], np.float32).reshape(o["shape"]) for o in r.json()["outputs"]}
            assert np.array_equal(outs["y"], xa - xb) and np.array_equal(outs["z"], xc.astype(np.float32)), pad
