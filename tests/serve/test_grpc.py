"""`effvit serve` over the KServe v2 gRPC protocol, a test per promise, with Debian's python3-grpcio
and stubs generated from proto/grpc_service.proto in the test run (protoc and grpc_python_plugin
from protobuf-compiler-grpc): health and metadata, results equal to `effvit run` with raw and typed
contents, classification and encoded images, status codes for bad and hostile messages (before any
allocation), a full queue, client deadlines, cancelled calls leaving the queue, one scheduler and
one set of counters for both protocols, SIGTERM under gRPC load, and a bounded load run with a third
of the calls cancelled. Loopback only; the model's speed never matters (EFFVIT_TEST_RUN_DELAY_MS).
"""
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest
import requests

from test_serve import M0, ROOT, cli_run, image, metric, run_threads, serving

import grpc  # noqa: E402 (Debian python3-grpcio, installed by scripts/install-deps.sh)


def _stubs():
    out = tempfile.mkdtemp(prefix="effvit_grpc_stubs_")
    subprocess.run(["protoc", "--proto_path=" + os.path.join(ROOT, "proto"), "--python_out=" + out, "--grpc_out=" + out,
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", "grpc_service.proto"], check=True)
    sys.path.insert(0, out)
    import grpc_service_pb2
    import grpc_service_pb2_grpc
    return grpc_service_pb2, grpc_service_pb2_grpc


pb, pb_grpc = _stubs()
Input = pb.ModelInferRequest.InferInputTensor
Output = pb.ModelInferRequest.InferRequestedOutputTensor


def stub(server):
    return pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(server.grpc))


def raw_request(x, model="m0", **kw):
    return pb.ModelInferRequest(model_name=model, inputs=[Input(name="input", datatype="FP32", shape=list(x.shape))],
                                raw_input_contents=[x.tobytes()], **kw)


def logits(response):
    out = response.outputs[0]
    return np.frombuffer(response.raw_output_contents[0], np.float32).reshape(list(out.shape))


def code_of(call):
    try:
        call()
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


@pytest.fixture(scope="module")
def server():
    with serving("--model", "m0=" + M0, "--max-batch-size", "4", "--max-queue-delay-us", "2000", "--instances", "2") as s:
        yield s


def test_health_and_metadata_match_http(server):
    s = stub(server)
    assert s.ServerLive(pb.ServerLiveRequest()).live
    assert s.ServerReady(pb.ServerReadyRequest()).ready
    assert s.ModelReady(pb.ModelReadyRequest(name="m0")).ready
    assert s.ModelReady(pb.ModelReadyRequest(name="m0", version="1")).ready
    assert "classification" in s.ServerMetadata(pb.ServerMetadataRequest()).extensions
    meta = s.ModelMetadata(pb.ModelMetadataRequest(name="m0"))
    http = requests.get(server.url + "/v2/models/m0").json()
    assert meta.name == "m0" and list(meta.versions) == ["1"]
    for mine, theirs in ((meta.inputs, http["inputs"]), (meta.outputs, http["outputs"])):
        assert [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in mine] == theirs
    for call in (lambda: s.ModelMetadata(pb.ModelMetadataRequest(name="nope")),
                 lambda: s.ModelReady(pb.ModelReadyRequest(name="m0", version="7")),
                 lambda: s.ModelInfer(raw_request(np.zeros((1, 3, 224, 224), np.float32), model="nope"))):
        code, details = code_of(call)
        assert code == grpc.StatusCode.NOT_FOUND, details


def test_raw_and_typed_contents_are_the_cli_run(server):
    s = stub(server)
    x = np.random.default_rng(11).standard_normal((2, 3, 224, 224)).astype(np.float32)
    want = cli_run(x, "grpc_b2")
    r = s.ModelInfer(raw_request(x, id="g1"))
    assert r.id == "g1" and r.model_name == "m0" and r.model_version == "1"
    assert r.outputs[0].name == "logits" and r.outputs[0].datatype == "FP32" and list(r.outputs[0].shape) == [2, 10]
    assert np.array_equal(logits(r), want)
    typed = s.ModelInfer(pb.ModelInferRequest(model_name="m0", inputs=[
        Input(name="input", datatype="FP32", shape=[2, 3, 224, 224], contents=pb.InferTensorContents(fp32_contents=x.ravel()))]))
    assert np.array_equal(logits(typed), want)
    # The same answer over HTTP: one model, one set of kernels.
    from test_serve import binary_request, logits_of
    assert np.array_equal(logits_of(binary_request(server.url + "/v2/models/m0/infer", x)), want)


def test_classification_and_images_as_bytes(server):
    s = stub(server)
    png = image(0)  # an ankle boot
    classify = [Output(name="logits", parameters={"classification": pb.InferParameter(int64_param=3)})]
    typed = s.ModelInfer(pb.ModelInferRequest(model_name="m0", outputs=classify, inputs=[
        Input(name="input", datatype="BYTES", shape=[1], contents=pb.InferTensorContents(bytes_contents=[png]))]))
    raw = s.ModelInfer(pb.ModelInferRequest(model_name="m0", outputs=classify, inputs=[Input(name="input", datatype="BYTES", shape=[1])],
                                            raw_input_contents=[struct.pack("<I", len(png)) + png]))
    for r in (typed, raw):
        out = r.outputs[0]
        assert out.datatype == "BYTES" and list(out.shape) == [1, 3]
        blob, entries = r.raw_output_contents[0], []
        while blob:
            n = struct.unpack("<I", blob[:4])[0]
            entries.append(blob[4:4 + n].decode())
            blob = blob[4 + n:]
        assert entries[0].split(":")[1:] == ["9", "Ankle boot"], entries
        scores = [float(e.split(":")[0]) for e in entries]
        assert scores == sorted(scores, reverse=True)


def test_an_image_over_the_pixel_limit_names_the_option_that_raises_it(server):
    import cv2
    bomb = cv2.imencode(".png", np.zeros((9000, 9000), np.uint8))[1].tobytes()  # 81 Mpx: over the 64 Mpx default
    code, details = code_of(lambda: stub(server).ModelInfer(pb.ModelInferRequest(model_name="m0", inputs=[
        Input(name="input", datatype="BYTES", shape=[1], contents=pb.InferTensorContents(bytes_contents=[bomb]))])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert "image too large (9000x9000, at most 67108864 pixels); raise it with --max-image-pixels" in details, details


def _bad(server, request):
    return code_of(lambda: stub(server).ModelInfer(request))


@pytest.mark.parametrize("case", [
    "wrong_datatype", "unknown_datatype", "wrong_shape", "huge_shape", "negative_dimension", "short_raw", "long_raw",
    "raw_and_contents", "raw_count", "missing_input", "unknown_input", "twice", "unknown_output", "output_twice",
    "typed_count", "typed_huge", "classification_zero", "classification_string", "bytes_cut", "bytes_count", "bytes_contents_count",
    "not_an_image"])
def test_bad_and_hostile_messages_are_invalid_argument(server, case):
    x = np.zeros((1, 3, 224, 224), np.float32)
    shape = [1, 3, 224, 224]
    requests_by_case = {
        "wrong_datatype": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="UINT8", shape=shape)],
                                               raw_input_contents=[bytes(3 * 224 * 224)]),
        "unknown_datatype": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="FP8", shape=shape)],
                                                 raw_input_contents=[x.tobytes()]),
        "wrong_shape": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="FP32", shape=[1, 3, 224, 225])],
                                            raw_input_contents=[bytes(4 * 3 * 224 * 225)]),
        # Element counts past int64, and one that fits but claims terabytes: refused on the count.
        "huge_shape": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="FP32", shape=[1 << 40, 1 << 40, 224, 224])],
                                           raw_input_contents=[b"1234"]),
        "negative_dimension": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="FP32", shape=[-1, 3, 224, 224])],
                                                   raw_input_contents=[x.tobytes()]),
        "short_raw": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="FP32", shape=[100000, 3, 224, 224])],
                                          raw_input_contents=[x.tobytes()]),
        "long_raw": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="FP32", shape=shape)],
                                         raw_input_contents=[x.tobytes() + b"\0\0\0\0"]),
        "raw_and_contents": pb.ModelInferRequest(model_name="m0", inputs=[
            Input(name="input", datatype="FP32", shape=shape, contents=pb.InferTensorContents(fp32_contents=[0.0]))],
            raw_input_contents=[x.tobytes()]),
        "raw_count": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="FP32", shape=shape)],
                                          raw_input_contents=[x.tobytes(), x.tobytes()]),
        "missing_input": pb.ModelInferRequest(model_name="m0"),
        "unknown_input": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="other", datatype="FP32", shape=shape)],
                                              raw_input_contents=[x.tobytes()]),
        "twice": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="FP32", shape=shape)] * 2,
                                      raw_input_contents=[x.tobytes()] * 2),
        "unknown_output": raw_request(x, outputs=[Output(name="probs")]),
        "output_twice": raw_request(x, outputs=[Output(name="logits"), Output(name="logits")]),
        "typed_count": pb.ModelInferRequest(model_name="m0", inputs=[
            Input(name="input", datatype="FP32", shape=shape, contents=pb.InferTensorContents(fp32_contents=[1.0, 2.0]))]),
        # One value for a shape claiming 60 GB: refused on the count, nothing allocated first.
        "typed_huge": pb.ModelInferRequest(model_name="m0", inputs=[
            Input(name="input", datatype="FP32", shape=[100000, 3, 224, 224], contents=pb.InferTensorContents(fp32_contents=[1.0]))]),
        "classification_zero": raw_request(x, outputs=[Output(name="logits", parameters={"classification": pb.InferParameter(int64_param=0)})]),
        "classification_string": raw_request(x, outputs=[Output(name="logits", parameters={"classification": pb.InferParameter(string_param="3")})]),
        "bytes_cut": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="BYTES", shape=[1])],
                                          raw_input_contents=[struct.pack("<I", 1000) + b"abc"]),
        "bytes_count": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="BYTES", shape=[1 << 40])],
                                            raw_input_contents=[b""]),
        "bytes_contents_count": pb.ModelInferRequest(model_name="m0", inputs=[
            Input(name="input", datatype="BYTES", shape=[1], contents=pb.InferTensorContents(bytes_contents=[b""] * 100000))]),
        "not_an_image": pb.ModelInferRequest(model_name="m0", inputs=[Input(name="input", datatype="BYTES", shape=[1])],
                                             raw_input_contents=[struct.pack("<I", 5) + b"hello"]),
    }
    code, details = _bad(server, requests_by_case[case])
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (case, code, details)
    assert details, case
    # The server is still up and answers the next request.
    assert stub(server).ServerLive(pb.ServerLiveRequest()).live


def test_non_finite_inputs_are_refused(server):
    x = np.zeros((1, 3, 224, 224), np.float32)
    x[0, 1, 2, 3] = np.nan
    code, details = _bad(server, raw_request(x))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "NaN" in details, details


def test_messages_over_the_limit_are_resource_exhausted():
    with serving("--model", "m0=" + M0, "--http-max-input-size", "100000") as s:
        x = np.zeros((1, 3, 224, 224), np.float32)  # 602 KB
        code, _ = code_of(lambda: stub(s).ModelInfer(raw_request(x)))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert stub(s).ServerLive(pb.ServerLiveRequest()).live


def test_full_queue_is_unavailable_and_deadlines_are_deadline_exceeded():
    # Each run takes 0.2 s at least, so twelve concurrent calls surely find the one-place queue full.
    with serving("--model", "m0=" + M0, "--max-queue-size", "1", "--instances", "1", run_delay_ms=200) as s:
        x = np.random.default_rng(3).standard_normal((1, 3, 224, 224)).astype(np.float32)
        codes = []
        run_threads(lambda: codes.append(code_of(lambda: stub(s).ModelInfer(raw_request(x)))[0]), 12)
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, codes
        assert grpc.StatusCode.OK in codes and grpc.StatusCode.UNAVAILABLE in codes, codes
        code, _ = code_of(lambda: stub(s).ModelInfer(raw_request(x), timeout=0.05))
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        text = requests.get(s.metrics).text
        assert re.search(r'nv_inference_request_failure\{model="m0",version="1",reason="REJECTED"\} [1-9]', text)


def test_cancelled_calls_leave_the_queue():
    # One instance busy for 0.5 s a run: of twelve calls sent at once and cancelled at 0.25 s, the
    # first is running (it finishes unread) and the other eleven wait; they must leave the queue
    # then, not run one after another for five more seconds.
    with serving("--model", "m0=" + M0, "--instances", "1", "--max-queue-size", "32", run_delay_ms=500) as s:
        x = np.zeros((1, 3, 224, 224), np.float32)
        client = stub(s)  # held: a channel garbage-collected mid-test would cancel the calls itself
        calls = [client.ModelInfer.future(raw_request(x)) for _ in range(12)]
        time.sleep(0.25)
        for c in calls:
            c.cancel()
        time.sleep(1.0)
        text = requests.get(s.metrics).text
        assert metric(text, "nv_inference_pending_request_count") == 0
        assert metric(text, "nv_inference_exec_count") <= 2, text
        # And the server answers as before.
        r = stub(s).ModelInfer(raw_request(x))
        assert list(r.outputs[0].shape) == [1, 10]


def test_both_protocols_share_one_scheduler_and_its_counters():
    with serving("--model", "m0=" + M0, "--instances", "1", "--max-batch-size", "8", "--max-queue-delay-us", "200000",
                 run_delay_ms=100) as s:
        x = np.random.default_rng(5).standard_normal((1, 3, 224, 224)).astype(np.float32)
        from test_serve import binary_request, logits_of
        want = cli_run(x, "grpc_shared")
        got = []

        def send(k):
            if k % 2:
                got.append(logits(stub(s).ModelInfer(raw_request(x))))
            else:
                got.append(logits_of(binary_request(s.url + "/v2/models/m0/infer", x)))
        run_threads(send, 8, with_index=True)
        assert len(got) == 8 and all(np.array_equal(g, want) for g in got)
        text = requests.get(s.metrics).text
        assert metric(text, "nv_inference_request_success") == 8
        # Requests of both protocols waited in one queue and ran in shared batches.
        assert metric(text, "nv_inference_exec_count") < 8, text


def test_sigterm_drains_grpc_calls_in_flight():
    with serving("--model", "m0=" + M0, "--instances", "1", "--max-queue-size", "16", run_delay_ms=300) as s:
        x = np.zeros((1, 3, 224, 224), np.float32)
        client = stub(s)
        calls = [client.ModelInfer.future(raw_request(x)) for _ in range(4)]
        # All four accepted (one running, three queued) before the signal, whatever the CPU's speed.
        for _ in range(200):
            if metric(requests.get(s.metrics).text, "nv_inference_pending_request_count") == 3:
                break
            time.sleep(0.01)
        s.proc.send_signal(signal.SIGTERM)
        results = []
        for c in calls:
            try:
                results.append(list(c.result(timeout=30).outputs[0].shape))
            except grpc.RpcError as e:
                results.append(e.code())
        # Every call accepted before the signal is answered with its result.
        assert results == [[1, 10]] * 4, results
        assert s.proc.wait(timeout=30) == 0


def _proc_status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(field + r":\s+(\d+)", f.read()).group(1))


def test_a_load_run_with_a_third_cancelled_costs_nothing():
    # A bounded run on loopback: 600 calls from 8 client threads, every third cancelled mid-way.
    # No INTERNAL/UNKNOWN status, the server's threads and memory flat between a third and the end,
    # and a clean exit on SIGTERM.
    with serving("--model", "m0=" + M0, "--instances", "2", "--max-queue-size", "64", run_delay_ms=2) as s:
        x = np.zeros((1, 3, 224, 224), np.float32)
        channel = grpc.insecure_channel(s.grpc)
        client = pb_grpc.GRPCInferenceServiceStub(channel)
        codes, lock = {}, threading.Lock()
        marks = {}

        def worker(k):
            for i in range(75):
                n = k * 75 + i
                call = client.ModelInfer.future(raw_request(x))
                if n % 3 == 0:
                    time.sleep(0.001)
                    call.cancel()
                try:
                    call.result(timeout=30)
                    code = grpc.StatusCode.OK
                except grpc.FutureCancelledError:
                    code = grpc.StatusCode.CANCELLED
                except grpc.RpcError as e:
                    code = e.code()
                with lock:
                    codes[code] = codes.get(code, 0) + 1
                    done = sum(codes.values())
                    if done == 200:
                        marks["third"] = (_proc_status(s.proc.pid, "Threads"), _proc_status(s.proc.pid, "VmRSS"))
        run_threads(worker, 8, with_index=True)
        end = (_proc_status(s.proc.pid, "Threads"), _proc_status(s.proc.pid, "VmRSS"))
        assert sum(codes.values()) == 600
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE}, codes
        assert codes.get(grpc.StatusCode.OK, 0) >= 300, codes
        third = marks["third"]
        assert end[0] <= third[0] + 2, (third, end)
        assert end[1] <= third[1] + 20 * 1024, (third, end)  # KB
        channel.close()


def test_a_stream_answers_each_request_in_order_with_its_id_or_its_error(server):
    xs = [np.random.default_rng(20 + k).standard_normal((1, 3, 224, 224)).astype(np.float32) for k in range(6)]
    wants = [cli_run(x, "grpc_stream%d" % k) for k, x in enumerate(xs)]
    requests_ = []
    for k, x in enumerate(xs):
        requests_.append(raw_request(x, id="s%d" % k))
        if k == 2:  # a bad request in the middle: its answer is an error message, the stream goes on
            requests_.append(pb.ModelInferRequest(model_name="m0", id="bad"))
    answers = list(stub(server).ModelStreamInfer(iter(requests_)))
    assert len(answers) == len(requests_)
    k = 0
    for a, r in zip(answers, requests_):
        if r.id == "bad":
            assert a.error_message and "missing" in a.error_message, a
            continue
        assert not a.error_message and a.infer_response.id == r.id
        assert np.array_equal(logits(a.infer_response), wants[k])
        k += 1


def test_a_cancelled_stream_takes_its_queued_jobs_out():
    with serving("--model", "m0=" + M0, "--instances", "1", "--max-queue-size", "32", run_delay_ms=400) as s:
        x = np.zeros((1, 3, 224, 224), np.float32)
        client = stub(s)  # held: a channel garbage-collected mid-test would cancel the stream itself
        call = client.ModelStreamInfer(iter([raw_request(x, id=str(k)) for k in range(10)]))
        time.sleep(0.3)
        call.cancel()
        time.sleep(1.0)
        text = requests.get(s.metrics).text
        assert metric(text, "nv_inference_pending_request_count") == 0
        assert metric(text, "nv_inference_exec_count") <= 2, text
        # The server goes on, streams included.
        assert len(list(stub(s).ModelStreamInfer(iter([raw_request(x)])))) == 1


def test_an_idle_stream_does_not_hold_up_sigterm():
    # A client keeps a stream open after its answer; the drain must end it, not wait the exit
    # timeout out (30 s here, far longer than the drain needs on any CPU).
    with serving("--model", "m0=" + M0, "--exit-timeout-s", "30") as s:
        x = np.zeros((1, 3, 224, 224), np.float32)
        release = threading.Event()

        def requests_then_wait():
            yield raw_request(x, id="only")
            release.wait(60)

        client = stub(s)  # held: a channel garbage-collected mid-test would end the stream itself
        answers = client.ModelStreamInfer(requests_then_wait())
        assert next(answers).infer_response.id == "only"
        start = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=60) == 0
        took = time.monotonic() - start
        release.set()
        out = s.proc.stdout.read()
        assert "exit timeout" not in out and took < 20, (took, out)


def test_batch_mates_with_inputs_out_of_step_are_refused_alone(tmp_path):
    # A model of two batched inputs: a request whose inputs disagree on their rows is refused
    # (INVALID_ARGUMENT) before it joins a batch, and the batch-mates it would have joined answer.
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "two",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 64]) for n in ("a", "b")],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 64])])
    path = str(tmp_path / "two.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    with serving("--model", "two=" + path, "--instances", "1", "--max-batch-size", "4", "--max-queue-delay-us", "200000",
                 run_delay_ms=200) as s:
        def call(rows_b):
            a, b = np.ones((1, 64), np.float32), np.ones((rows_b, 64), np.float32)
            return code_of(lambda: stub(s).ModelInfer(pb.ModelInferRequest(
                model_name="two", inputs=[Input(name="a", datatype="FP32", shape=[1, 64]), Input(name="b", datatype="FP32", shape=[rows_b, 64])],
                raw_input_contents=[a.tobytes(), b.tobytes()])))[0]
        codes = []
        run_threads(lambda k: codes.append((k, call(1 if k % 2 else 256))), 6, with_index=True)
        assert [c for k, c in codes if k % 2] == [grpc.StatusCode.OK] * 3, codes
        assert [c for k, c in codes if not k % 2] == [grpc.StatusCode.INVALID_ARGUMENT] * 3, codes
