"""The Python module against the CLI and ONNX Runtime's API contract: identical results to
`effvit run` (fp32 and int8 NV12), the errors, concurrency on one session, and the two example
scripts (the board's pyeasy_dnn flow and an ONNX Runtime-style script).

Run by `make test` as: PYTHONPATH=build/python /usr/bin/python3 -m pytest tests/python
with EFFVIT_CLI (the effvit binary) and EFFVIT_WORKDIR (a scratch folder) set.
"""
import gzip
import os
import re
import subprocess
import sys
import threading
import time
import warnings

import cv2
import numpy as np
import pytest

import effvit

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("EFFVIT_CLI", os.path.join(ROOT, "build", "effvit"))
WORK = os.environ.get("EFFVIT_WORKDIR", "/tmp/effvit_python_tests")
FP32 = os.path.join(ROOT, "models", "efficientvit_m0_fashion_mnist.onnx")
EXAMPLES = os.path.join(ROOT, "examples")
sys.path.insert(0, EXAMPLES)
import pyeasy_dnn_classify  # noqa: E402  (the example's own bgr2nv12)


@pytest.fixture(scope="session")
def work():
    os.makedirs(WORK, exist_ok=True)
    return WORK


@pytest.fixture(scope="session")
def nv12_model(work):
    """The bundled model quantized from its own YAML (NV12 input), as `make demo` does."""
    out = os.path.join(work, "m0_nv12.onnx")
    subprocess.run([CLI, "quantize", "--config", os.path.join(ROOT, "models", "efficientvit_m0_fashion_mnist.yaml"), "-o", out],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


@pytest.fixture(scope="session")
def shoe_jpeg(work):
    """A real test image (Fashion-MNIST test image 0, an ankle boot), as a BGR JPEG file."""
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        pixels = np.frombuffer(f.read(16 + 28 * 28), np.uint8)[16:].reshape(28, 28)
    path = os.path.join(work, "boot.jpg")
    cv2.imwrite(path, cv2.cvtColor(cv2.resize(pixels, (224, 224), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR))
    return path


def cli_run(model, x, work, name):
    src, dst = os.path.join(work, name + "_in.npy"), os.path.join(work, name + "_out.npy")
    np.save(src, x)
    if os.path.exists(dst):
        os.remove(dst)
    subprocess.run([CLI, "run", model, "--input", src, "--output", dst], check=True, stdout=subprocess.DEVNULL)
    return np.load(dst)


def test_help_shows_the_api():
    text = effvit.InferenceSession.__doc__ + effvit.InferenceSession.run.__doc__ + effvit.InferenceSession.io_binding.__doc__
    assert "onnxruntime.InferenceSession" in text and "output_names" in text
    assert effvit.get_available_providers() == ["CPUExecutionProvider"]


@pytest.mark.parametrize("batch", [1, 2])
def test_fp32_run_is_the_cli_run_bit_for_bit(work, batch):
    sess = effvit.InferenceSession(FP32)
    x = np.random.default_rng(batch).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    (got,) = sess.run(None, {"input": x})
    want = cli_run(FP32, x, work, "fp32_b%d" % batch)
    assert got.dtype == np.float32 and got.shape == (batch, 10)
    assert np.array_equal(got, want)


def test_int8_nv12_run_is_the_cli_run_bit_for_bit(work, nv12_model):
    sess = effvit.InferenceSession(nv12_model)
    (arg,) = sess.get_inputs()
    assert arg.type == "tensor(uint8)" and arg.shape[1:] == [336, 224, 1], arg
    frame = np.random.default_rng(5).integers(0, 256, (1, 336, 224, 1)).astype(np.uint8)
    (got,) = sess.run([sess.get_outputs()[0].name], {arg.name: frame})
    assert np.array_equal(got, cli_run(nv12_model, frame, work, "nv12"))


def test_inputs_outputs_and_metadata():
    sess = effvit.InferenceSession(FP32)
    (i,), (o,) = sess.get_inputs(), sess.get_outputs()
    # A named dynamic dimension shows its name, as ONNX Runtime shows it; an unnamed one is None.
    assert (i.name, i.type, i.shape) == ("input", "tensor(float)", ["batch", 3, 224, 224])
    assert (o.name, o.type, o.shape) == ("logits", "tensor(float)", ["batch", 10])
    file_meta = sess.get_modelmeta()
    assert (file_meta.producer_name, file_meta.graph_name) == ("pytorch", "torch_jit"), "what the file says, not effvit's name"
    meta = file_meta.custom_metadata_map
    assert "effvit.classes" in meta and "Ankle boot" in meta["effvit.classes"]
    model = effvit.Model(FP32)
    assert model.summary["variant"] == "m0" and model.summary["precision"] == "fp32" and model.summary["params"] > 2_000_000
    assert model.metadata == meta


def test_unnamed_dynamic_dimensions_are_none(work):
    import onnx
    m = onnx.load(FP32)
    for value in (m.graph.input[0], m.graph.output[0]):
        value.type.tensor_type.shape.dim[0].ClearField("dim_param")
    path = os.path.join(work, "unnamed_batch.onnx")
    onnx.save(m, path)
    sess = effvit.InferenceSession(path)
    assert sess.get_inputs()[0].shape == [None, 3, 224, 224] and sess.get_outputs()[0].shape == [None, 10]


def test_errors_are_typed_as_onnx_runtime_types_them(work):
    from effvit.capi.onnxruntime_pybind11_state import InvalidArgument, InvalidGraph, InvalidProtobuf, NoSuchFile
    sess = effvit.InferenceSession(FP32)
    x = np.zeros((1, 3, 224, 224), np.float32)
    for call, kind in [(lambda: sess.run(None, {"input": x, "nope": x}), InvalidArgument), (lambda: sess.run(None, {"input": x[0]}), InvalidArgument),
                       (lambda: effvit.InferenceSession(os.path.join(work, "absent.onnx")), NoSuchFile),
                       (lambda: effvit.InferenceSession(b"\x08\x07garbage"), InvalidProtobuf)]:
        with pytest.raises(kind) as info:
            call()
        assert isinstance(info.value, effvit.Error) and isinstance(info.value, RuntimeError), type(info.value).__mro__
    import onnx
    m = onnx.load(FP32)
    m.graph.node[0].input[0] = "undefined_tensor"
    path = os.path.join(work, "broken_graph.onnx")
    onnx.save(m, path)
    with pytest.raises(InvalidGraph):
        effvit.InferenceSession(path)


def test_errors_are_one_line_effvit_errors(work):
    sess = effvit.InferenceSession(FP32)
    x = np.zeros((1, 3, 224, 224), np.float32)
    cases = [
        (lambda: sess.run(None, {"input": x.astype(np.float64)}), "input 'input' is float64, the model takes float32"),
        (lambda: sess.run(None, {"input": x, "other": x}), "no input named 'other'"),
        (lambda: sess.run(["nope"], {"input": x}), "no output named 'nope'"),
        (lambda: sess.run(None, {"input": x[:, :2]}), "input"),
        (lambda: effvit.InferenceSession(os.path.join(work, "missing.onnx")), "missing.onnx: file not found"),
    ]
    for call, needle in cases:
        with pytest.raises(effvit.Error) as info:
            call()
        assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)
        assert isinstance(info.value, RuntimeError)
    # A missing input is ONNX Runtime's ValueError, raised by its Python layer before the run.
    with pytest.raises(ValueError, match=r"Required inputs \(\['input'\]\) are missing from input feed \(\[\]\)"):
        sess.run(None, {})


def test_a_misspelt_effvit_config_entry_warns():
    so = effvit.SessionOptions()
    so.add_session_config_entry("effvit.precison", "bf16")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sess = effvit.InferenceSession(FP32, so)
    assert [str(w.message) for w in caught] == [
        "session config entry 'effvit.precison' is not one effvit reads (did you mean 'effvit.precision'?); ignored"]
    assert sess.precision == "fp32"


def test_other_providers_warn_once_and_run_on_the_cpu():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sess = effvit.InferenceSession(FP32, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert [str(w.message) for w in caught] == ["effvit runs on the CPU; provider 'CUDAExecutionProvider' is ignored"]
    assert sess.get_providers() == ["CPUExecutionProvider"]


def test_two_threads_on_one_session_agree_with_one(work):
    sess = effvit.InferenceSession(FP32)
    xs = [np.random.default_rng(10 + k).standard_normal((1, 3, 224, 224)).astype(np.float32) for k in range(8)]
    want = [sess.run(None, {"input": x})[0] for x in xs]
    got = [None] * len(xs)

    def worker(first):
        for k in range(first, len(xs), 2):
            got[k] = sess.run(None, {"input": xs[k]})[0]

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


def test_strided_inputs_and_outputs_outliving_the_session():
    sess = effvit.InferenceSession(FP32)
    base = np.random.default_rng(3).standard_normal((1, 3, 224, 448)).astype(np.float32)
    strided = base[:, :, :, ::2]
    assert not strided.flags["C_CONTIGUOUS"]
    (a,) = sess.run(None, {"input": strided})
    (b,) = sess.run(None, {"input": np.ascontiguousarray(strided)})
    del sess
    assert np.array_equal(a, b)


def test_model_preprocess_is_the_cli_image_path(work, shoe_jpeg, nv12_model):
    for model in (FP32, nv12_model):
        x = effvit.Model(model).preprocess(shoe_jpeg)
        (got,) = effvit.InferenceSession(model).run(None, {effvit.InferenceSession(model).get_inputs()[0].name: x})
        dst = os.path.join(work, "image_out.npy")
        subprocess.run([CLI, "run", model, "--image", shoe_jpeg, "--output", dst], check=True, stdout=subprocess.DEVNULL)
        assert np.array_equal(got, np.load(dst)), model
        assert int(np.argmax(got)) == 9  # Fashion-MNIST's "Ankle boot"


def test_pyeasy_dnn_describes_nv12_as_the_board_does(nv12_model):
    from effvit.compat import pyeasy_dnn as dnn
    (model,) = dnn.load(nv12_model)
    props = model.inputs[0].properties
    assert (props.shape, props.layout, props.tensor_type, props.dtype) == ((1, 3, 224, 224), "NCHW", "NV12", "uint8")
    frame = np.random.default_rng(7).integers(0, 256, 224 * 224 * 3 // 2).astype(np.uint8)
    out = model.forward(frame)
    sess = effvit.InferenceSession(nv12_model)
    (want,) = sess.run(None, {sess.get_inputs()[0].name: frame.reshape(1, 336, 224, 1)})
    assert np.array_equal(out[0].buffer, want)
    with pytest.raises(effvit.Error):
        model.forward([frame, frame])
    # An NV12 frame as cameras and OpenCV give it, (H*3/2, W), is the same frame; so are its bytes.
    assert np.array_equal(model.forward(frame.reshape(336, 224))[0].buffer, want)
    assert np.array_equal(model.forward(frame.tobytes())[0].buffer, want)
    from effvit.capi.onnxruntime_pybind11_state import InvalidArgument
    with pytest.raises(InvalidArgument, match=r"takes an NV12 frame of \(H\*3/2, W\) = \(336, 224\)"):
        model.forward(frame.reshape(112, 672))


def test_a_nan_input_is_refused_not_turned_into_logits():
    sess = effvit.InferenceSession(FP32)
    x = np.zeros((1, 3, 224, 224), np.float32)
    x[0, 2, 5, 9] = np.nan
    with pytest.raises(effvit.Error, match=r"input 'input' holds NaN at \[0,2,5,9\] \(element %d\)" % (2 * 224 * 224 + 5 * 224 + 9)):
        sess.run(None, {"input": x})


def test_pyeasy_dnn_refuses_a_shape_that_only_has_the_right_size():
    # NHWC pixels for an NCHW model: the right number of elements in the wrong order. The board
    # script that passes them meant another layout; reshaping would give a wrong class silently.
    from effvit.compat import pyeasy_dnn as dnn
    (model,) = dnn.load(FP32)
    assert model.inputs[0].properties.layout == "NCHW"
    x = np.random.default_rng(8).standard_normal((1, 3, 224, 224)).astype(np.float32)
    want = model.forward(x)[0].buffer
    assert np.array_equal(model.forward(x.ravel())[0].buffer, want)  # flat: read in the model's layout
    assert np.array_equal(model.forward(x.tobytes())[0].buffer, want)  # bytes: read as the input's own type
    # A dynamic batch dimension takes any size.
    assert model.forward(np.concatenate([x, x]))[0].buffer.shape == (2, 10)
    for wrong in (x.transpose(0, 2, 3, 1).copy(), x.reshape(3, 224, 224), x.reshape(224, 224, 3)):
        with pytest.raises(effvit.Error, match=r"got an array of shape %s; the model takes \(1, 3, 224, 224\) NCHW" % re.escape(str(wrong.shape))):
            model.forward(wrong)


def test_pyeasy_dnn_example_script(nv12_model, shoe_jpeg):
    labels = os.path.join(WORK, "labels.txt")
    meta = effvit.InferenceSession(nv12_model).get_modelmeta().custom_metadata_map
    import json
    with open(labels, "w") as f:
        f.write("\n".join(json.loads(meta["effvit.classes"])))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "pyeasy_dnn_classify.py"), nv12_model, shoe_jpeg, labels],
                         check=True, capture_output=True, text=True, env=env).stdout
    # The same frame through the session API gives the same top-1.
    bgr = cv2.resize(cv2.imread(shoe_jpeg), (224, 224), interpolation=cv2.INTER_AREA)
    sess = effvit.InferenceSession(nv12_model)
    (logits,) = sess.run(None, {sess.get_inputs()[0].name: pyeasy_dnn_classify.bgr2nv12(bgr).reshape(1, 336, 224, 1)})
    top = int(np.argmax(logits))
    assert out.startswith("top-1: %d Ankle boot " % top) and top == 9, out


def test_ort_style_script(nv12_model):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for model in (FP32, nv12_model):
        out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "ort_style.py"), model, "--threads", "2"],
                             check=True, capture_output=True, text=True, env=env).stdout
        assert out.startswith("logits tensor(float) [1, 10] argmax "), out


def test_model_labels_classify_and_bench(shoe_jpeg):
    model = effvit.Model(FP32)
    assert len(model.labels) == 10 and model.labels[9] == "Ankle boot"
    top = model.classify(shoe_jpeg, topk=3)
    assert [t[:2] for t in top][0] == (9, "Ankle boot") and len(top) == 3
    assert top[0][2] >= top[1][2] >= top[2][2] and 0 < sum(t[2] for t in top) <= 1 + 1e-9
    rgb = cv2.cvtColor(cv2.imread(shoe_jpeg), cv2.COLOR_BGR2RGB)
    both = model.classify([shoe_jpeg, rgb], topk=1)
    assert len(both) == 2 and both[0][0][0] == 9 and both[1][0][0] == 9
    # A gray array reads as a gray file does (the CLI takes gray PNGs): the channel three times.
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    as_rgb = model.classify(np.repeat(gray[:, :, None], 3, axis=2), topk=3)
    assert model.classify(gray, topk=3) == as_rgb and model.classify(gray[:, :, None], topk=3) == as_rgb
    with pytest.raises(effvit.Error, match="or a gray one of shape"):
        model.classify(np.zeros((4, 4, 2), np.uint8))
    # The CLI's classify ranks the same way.
    out = subprocess.run([CLI, "classify", FP32, shoe_jpeg, "--topk", "3", "--json"], check=True, capture_output=True, text=True).stdout
    import json
    cli = json.loads(out)[0]["top"]
    assert [(c["index"], c["label"]) for c in cli] == [t[:2] for t in top]
    assert all(abs(c["prob"] - t[2]) < 1e-12 for c, t in zip(cli, top))
    report = model.bench(iters=5, warmup=1, streams=2)
    want = json.loads(subprocess.run([CLI, "bench", FP32, "--iters", "5", "--warmup", "1", "--streams", "2", "--json"],
                                     check=True, capture_output=True, text=True).stdout)
    assert set(report) == set(want) and report["streams"] == 2 and report["latency_ms"]["median"] > 0


def test_model_classify_can_go_on_past_a_bad_image(shoe_jpeg, tmp_path):
    from effvit.capi.onnxruntime_pybind11_state import InvalidArgument, NoSuchFile
    model = effvit.Model(FP32)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(open(shoe_jpeg, "rb").read()[:300])
    missing = str(tmp_path / "missing.png")
    images = [shoe_jpeg, str(truncated), np.zeros((4, 4, 2), np.uint8), missing, shoe_jpeg]
    with pytest.raises(effvit.Error, match="truncated.jpg"):
        model.classify(images, topk=1)
    results = model.classify(images, topk=1, return_exceptions=True)
    assert len(results) == 5 and results[0] == results[4] and results[0][0][0] == 9
    assert isinstance(results[1], InvalidArgument) and "truncated.jpg" in str(results[1])
    assert isinstance(results[2], effvit.Error) and "gray one of shape" in str(results[2])
    assert isinstance(results[3], NoSuchFile) and "missing.png" in str(results[3])
    # One image in: its list, or its exception, not a list of one.
    assert isinstance(model.classify(missing, return_exceptions=True), NoSuchFile)
    folder = model.classify(str(tmp_path), return_exceptions=True)
    assert isinstance(folder, InvalidArgument) and "a folder, not an image file" in str(folder), folder


def test_quantize_writes_what_the_cli_writes(work, nv12_model):
    calls = []
    out = os.path.join(work, "m0_nv12_from_python.onnx")
    r = effvit.quantize(os.path.join(ROOT, "models", "efficientvit_m0_fashion_mnist.yaml"), out,
                        progress=lambda phase, done, total: calls.append((phase, done, total)))
    assert r["output"] == out and r["quantized_nodes"] > 0 and r["logits_cosine"] > 0.99
    assert ("calibrate", 200, 200) in calls
    assert open(out, "rb").read() == open(nv12_model, "rb").read()
    with pytest.raises(effvit.Error) as info:
        effvit.quantize(os.path.join(work, "none.yaml"))
    assert "none.yaml: file not found" in str(info.value)


def test_the_gil_is_released_while_a_model_runs():
    """Another Python thread keeps running through run(): over a long run it counts at most of its
    solo rate (with the GIL held it would get only the switch intervals at the edges, ~10 ms)."""
    sess = effvit.InferenceSession(FP32)
    x = np.zeros((48, 3, 224, 224), np.float32)
    sess.run(None, {"input": x})
    count, stop = [0], [False]

    def spin():
        while not stop[0]:
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    t0, c0 = time.perf_counter(), count[0]
    time.sleep(0.2)  # the spinner alone (the main thread sleeps without the GIL)
    rate = (count[0] - c0) / (time.perf_counter() - t0)
    shares = []
    for _ in range(3):
        t0, c0 = time.perf_counter(), count[0]
        sess.run(None, {"input": x})
        shares.append((count[0] - c0) / (rate * (time.perf_counter() - t0)))
    stop[0] = True
    t.join()
    assert max(shares) > 0.4, shares


def test_contiguous_inputs_are_read_in_place_and_read_only_ones_too():
    import tracemalloc
    sess = effvit.InferenceSession(FP32)
    x = np.random.default_rng(9).standard_normal((4, 3, 224, 224)).astype(np.float32)
    want = sess.run(None, {"input": x})[0]
    tracemalloc.start()
    got = sess.run(None, {"input": x})[0]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < x.nbytes // 4, "run() copied its input (%d bytes traced for a %d-byte input)" % (peak, x.nbytes)
    assert np.array_equal(got, want)
    readonly = x.copy()
    readonly.flags.writeable = False
    assert np.array_equal(sess.run(None, {"input": readonly})[0], want)
    assert np.array_equal(sess.run(None, {"input": np.frombuffer(x.tobytes(), np.float32).reshape(x.shape)})[0], want)
    # A float32 that crossed a process boundary (pickled dtype), and one in the other byte order.
    import pickle
    assert np.array_equal(sess.run(None, {"input": pickle.loads(pickle.dumps(x))})[0], want)
    assert np.array_equal(sess.run(None, {"input": x.astype(">f4")})[0], want)


def test_onnx_runtime_conveniences():
    import pathlib
    with open(FP32, "rb") as f:
        from_bytes = effvit.InferenceSession(f.read())
    from_path = effvit.InferenceSession(pathlib.Path(FP32))
    x = np.random.default_rng(11).standard_normal((1, 3, 224, 224)).astype(np.float32)
    want = from_path.run(None, {"input": x})[0]
    assert np.array_equal(from_bytes.run(None, {"input": x})[0], want)
    assert np.array_equal(from_path.run([], {"input": x.tolist()})[0], want)  # [] means every output; lists are converted
    with pytest.raises(TypeError):
        from_path.run("logits", {"input": x})
    with pytest.raises(TypeError):
        effvit.InferenceSession(FP32, sess_options="fast")
    options = effvit.SessionOptions()
    options.graph_optimization_level = effvit.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = effvit.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = False
    assert np.array_equal(effvit.InferenceSession(FP32, options).run(None, {"input": x}, effvit.RunOptions())[0], want)


def test_bad_arguments_are_errors_not_crashes(shoe_jpeg):
    model = effvit.Model(FP32)
    for kwargs in ({"iters": 0}, {"iters": -5}, {"streams": 0}, {"threads": 0}, {"batch": 0}):
        with pytest.raises(effvit.Error) as info:
            model.bench(**kwargs)
        assert "bench: " in str(info.value), kwargs
    with pytest.raises(effvit.Error) as info:
        model.classify(np.random.random((224, 224, 3)))
    assert "uint8" in str(info.value) and "float64" in str(info.value)


@pytest.mark.parametrize("streams", [1, 2])
def test_ctrl_c_stops_a_long_bench(streams):
    # A benchmark of ~100,000 runs (minutes) stopped by SIGINT after a second: KeyboardInterrupt at
    # once, as Python code would get it.
    script = ("import effvit, sys, time\n"
              "m = effvit.Model(sys.argv[1])\n"
              "print('ready', flush=True)\n"
              "t = time.monotonic()\n"
              "try:\n"
              "    m.bench(iters=100000, warmup=0, streams=%d)\n"
              "    print('finished')\n"
              "except KeyboardInterrupt:\n"
              "    print('interrupted after %%.1f s' %% (time.monotonic() - t))\n" % streams)
    proc = subprocess.Popen([sys.executable, "-c", script, FP32], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        start = time.monotonic()
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=30)
        assert out.startswith("interrupted after") and time.monotonic() - start < 5, out
    finally:
        proc.kill()
        proc.wait()
