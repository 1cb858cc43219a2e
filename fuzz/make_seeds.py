#!/usr/bin/python3
"""Writes the fuzz seed corpora (fuzz/corpus/<name>/) and the v2_request harness's models
(fuzz/v2_request_models/), small generated files plus the project's fixtures. Run with Debian's
/usr/bin/python3 (onnx, numpy, PIL); `make fuzz` then grows and minimises the corpora in place.

    /usr/bin/python3 fuzz/make_seeds.py
"""
import base64
import gzip
import io
import json
import os
import shutil
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")
rng = np.random.default_rng(7)


def out(name, file, data):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, file), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- images
def pil_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def images():
    rgb = Image.fromarray(rng.integers(0, 255, (6, 10, 3), dtype=np.uint8), "RGB")
    out("image", "rgb.jpg", pil_bytes(rgb, "JPEG", quality=80))
    out("image", "progressive.jpg", pil_bytes(rgb, "JPEG", quality=60, progressive=True))
    out("image", "gray.jpg", pil_bytes(rgb.convert("L"), "JPEG"))
    out("image", "cmyk.jpg", pil_bytes(rgb.convert("CMYK"), "JPEG"))
    out("image", "subsample444.jpg", pil_bytes(rgb, "JPEG", subsampling=0))
    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        out("image", f"exif{orientation}.jpg", pil_bytes(rgb, "JPEG", exif=exif.tobytes()))
    for mode in ("L", "LA", "RGB", "RGBA", "P", "I;16"):
        img = rgb.convert(mode) if mode != "I;16" else Image.fromarray((np.arange(60, dtype=np.uint16).reshape(6, 10) * 1000), "I;16")
        out("image", f"{mode.replace(';', '')}.png", pil_bytes(img, "PNG"))
    out("image", "interlaced.png", pil_bytes(rgb, "PNG", optimize=False))
    out("image", "lossy.webp", pil_bytes(rgb, "WEBP", quality=50))
    out("image", "lossless.webp", pil_bytes(rgb, "WEBP", lossless=True))
    out("image", "alpha.webp", pil_bytes(rgb.convert("RGBA"), "WEBP"))
    out("image", "rgb24.bmp", pil_bytes(rgb, "BMP"))
    out("image", "rgba32.bmp", pil_bytes(rgb.convert("RGBA"), "BMP"))
    out("image", "palette8.bmp", pil_bytes(rgb.convert("P"), "BMP"))
    out("image", "gray8.bmp", pil_bytes(rgb.convert("L"), "BMP"))
    out("image", "mono1.bmp", pil_bytes(rgb.convert("1"), "BMP"))
    # A top-down BMP (negative height).
    b = bytearray(pil_bytes(rgb, "BMP"))
    struct.pack_into("<i", b, 22, -struct.unpack_from("<i", b, 22)[0])
    out("image", "topdown.bmp", bytes(b))


# ---------------------------------------------------------------- npy
def npys():
    def save(file, a, version=None):
        b = io.BytesIO()
        if version is None:
            np.save(b, a)
        else:
            np.lib.format.write_array(b, a, version=version)
        out("npy", file, b.getvalue())

    save("f4.npy", rng.standard_normal((1, 3, 2, 2)).astype("<f4"))
    save("i8.npy", np.arange(6, dtype="<i8").reshape(2, 3))
    save("i4.npy", np.arange(4, dtype="<i4"))
    save("u1.npy", np.arange(5, dtype=np.uint8))
    save("i1.npy", np.array([-1, 2], dtype=np.int8))
    save("b1.npy", np.array([True, False]))
    save("scalar.npy", np.float32(1.5).reshape(()))
    save("empty.npy", np.zeros((0, 3), dtype="<f4"))
    save("v2.npy", np.arange(3, dtype="<f4"), version=(2, 0))
    save("v3.npy", np.arange(3, dtype="<f4"), version=(3, 0))
    save("fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
    save("f8.npy", np.arange(2, dtype="<f8"))


# ---------------------------------------------------------------- idx
def idxs():
    def idx(a):
        return bytes([0, 0, 8, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape) + a.tobytes()

    images = rng.integers(0, 255, (2, 4, 3), dtype=np.uint8)
    out("idx", "images.idx", idx(images))
    out("idx", "labels.idx", idx(np.array([3, 1, 4], dtype=np.uint8)))
    out("idx", "images.idx.gz", gzip.compress(idx(images), mtime=0))
    out("idx", "empty.idx", idx(np.zeros((0, 28, 28), dtype=np.uint8)))
    out("idx", "int32.idx", bytes([0, 0, 0x0c, 1]) + struct.pack(">I", 1) + struct.pack(">i", 7))
    # The first records of the real Fashion-MNIST test set, if installed.
    for path in ("/usr/share/fashion-mnist/t10k-images-idx3-ubyte.gz", "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"):
        if os.path.exists(path):
            with gzip.open(path) as f:
                head = f.read(16)
                n = 2
                body = f.read(n * 28 * 28)
            real = head[:4] + struct.pack(">I", n) + head[8:16] + body
            out("idx", "fashion_mnist_2.idx.gz", gzip.compress(real, mtime=0))
            break


# ---------------------------------------------------------------- quant YAML
def yamls():
    for src, name in ((os.path.join(ROOT, "tests/data/EfficientViT_MSRA_m5_config.yaml"), "m5_seed.yaml"),
                      (os.path.join(ROOT, "models/efficientvit_m0_fashion_mnist.yaml"), "m0_fashion_mnist.yaml")):
        with open(src, "rb") as f:
            out("quant_config", name, f.read())
    minimal = b"""model_parameters:
  onnx_model: model.onnx
input_parameters:
  input_type_rt: nv12
  input_type_train: rgb
  norm_type: data_mean_and_scale
  mean_value: 123.675 116.28 103.53
  scale_value: [0.0171, 0.0175, 0.0174]
calibration_parameters:
  cal_data_dir: ./cal
  calibration_type: kl
  num_bin: 1024
  num_quantized_bins: 128
  per_channel: False
  run_on_cpu: a;b
  run_on_bpu: [c]
"""
    out("quant_config", "minimal.yaml", minimal)
    flow = b"""{model_parameters: {onnx_model: /m.onnx, working_dir: out, output_model_file_prefix: q,
  node_info: {n1: {ON: CPU}, n2: {ON: BPU, InputType: int16, OutputType: int8}}},
 input_parameters: {input_type_rt: featuremap, input_type_train: featuremap, input_layout_train: NHWC, input_layout_rt: NCHW,
  norm_type: data_scale, scale_value: 0.5},
 calibration_parameters: {cal_data_dir: c.idx, cal_data_type: uint8, calibration_type: load, qdq_model: q.onnx,
  max_percentile: 0.99999, kl_min_percentile: 0.999},
 compiler_parameters: {optimize_level: O3}}
"""
    out("quant_config", "flow.yaml", flow)
    out("quant_config", "anchors.yaml", b"""base: &b {input_type_rt: gray, input_type_train: gray}
model_parameters: {onnx_model: "m.onnx", march: bayes}
input_parameters: *b
calibration_parameters: {cal_data_dir: d, calibration_type: max, max_percentile: !!float 0.9}
custom_op: ~
""")


# ---------------------------------------------------------------- ONNX models
def model(nodes, inputs, outputs, inits=(), opset=13, metadata=None):
    g = helper.make_graph(nodes, "fuzz", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="effvit-fuzz")
    m.ir_version = 7
    for k, v in (metadata or {}).items():
        m.metadata_props.add(key=k, value=v)
    return m.SerializeToString()


def vi(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def w(name, shape, dtype=np.float32):
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(dtype), name)


def const_i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def onnx_models():
    H = helper.make_node
    out("onnx_model", "conv_relu_gap_gemm.onnx", model(
        [H("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2], group=1),
         H("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"]),
         H("Relu", ["bn"], ["r"]),
         H("GlobalAveragePool", ["r"], ["p"]),
         H("Flatten", ["p"], ["f"]),
         H("Gemm", ["f", "G", "GB"], ["y"], transB=1)],
        [vi("x", ["N", 3, 8, 8])], [vi("y", ["N", 5])],
        [w("W", (4, 3, 3, 3)), w("B", (4,)), w("s", (4,)), w("b", (4,)), w("m", (4,)),
         numpy_helper.from_array(np.ones(4, np.float32), "v"), w("G", (5, 4)), w("GB", (5,))],
        metadata={"effvit.crop": "8", "effvit.resize_shorter": "0"}))
    out("onnx_model", "depthwise_hardswish.onnx", model(
        [H("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1], group=3, kernel_shape=[3, 3]),
         H("Sigmoid", ["c"], ["s"]),
         H("Mul", ["c", "s"], ["m"]),
         H("Clip", ["m", "lo", "hi"], ["y"])],
        [vi("x", [1, 3, 5, 5])], [vi("y", [1, 3, 5, 5])],
        [w("W", (3, 1, 3, 3)), numpy_helper.from_array(np.array(0, np.float32), "lo"),
         numpy_helper.from_array(np.array(6, np.float32), "hi")]))
    out("onnx_model", "attention.onnx", model(
        [H("Reshape", ["x", "shape"], ["t"]),
         H("Split", ["t", "split"], ["q", "k", "v"], axis=1),
         H("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
         H("MatMul", ["q", "kt"], ["a"]),
         H("Div", ["a", "scale"], ["as"]),
         H("Softmax", ["as"], ["p"], axis=-1),
         H("MatMul", ["p", "v"], ["o"]),
         H("Concat", ["o", "q"], ["cat"], axis=1),
         H("ReduceMean", ["cat"], ["y"], axes=[2], keepdims=0)],
        [vi("x", [1, 6, 2, 2])], [vi("y", [1, 4])],
        [const_i64("shape", [1, 6, 4]), const_i64("split", [2, 2, 2]),
         numpy_helper.from_array(np.array(2, np.float32), "scale")]))
    out("onnx_model", "shape_arith.onnx", model(
        [H("Shape", ["x"], ["s"]),
         H("Gather", ["s", "zero"], ["n"], axis=0),
         H("Unsqueeze", ["n", "ax0"], ["n1"]),
         H("Concat", ["n1", "minus1"], ["shape"], axis=0),
         H("Reshape", ["x", "shape"], ["r"]),
         H("Slice", ["r", "starts", "ends", "axes"], ["sl"]),
         H("Cast", ["sl"], ["c"], to=TensorProto.FLOAT),
         H("Sub", ["c", "one"], ["d"]),
         H("Add", ["d", "one"], ["y"])],
        [vi("x", ["N", 2, 3])], [vi("y", ["N", 4])],
        [const_i64("zero", 0), const_i64("ax0", [0]), const_i64("minus1", [-1]),
         const_i64("starts", [1]), const_i64("ends", [5]), const_i64("axes", [1]),
         numpy_helper.from_array(np.array(1, np.float32), "one")]))
    out("onnx_model", "gather_mod_where.onnx", model(
        [H("Constant", [], ["idx"], value=numpy_helper.from_array(np.array([2, 0, 1], np.int64))),
         H("Mod", ["idx", "three"], ["m"]),
         H("Gather", ["x", "m"], ["g"], axis=1),
         H("Equal", ["m", "zero"], ["eq"]),
         H("Where", ["eq", "g", "g"], ["wh"]),
         H("Pad", ["wh", "pads"], ["p"]),
         H("Squeeze", ["p", "sq"], ["y"])],
        [vi("x", [1, 4, 3])], [vi("y", [3, 5])],
        [const_i64("three", 3), const_i64("zero", 0), const_i64("pads", [0, 0, 1, 0, 0, 1]), const_i64("sq", [0])]))
    out("onnx_model", "expand_range.onnx", model(
        [H("Range", ["start", "limit", "delta"], ["r"]),
         H("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
         H("ConstantOfShape", ["cshape"], ["z"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
         H("Expand", ["rf", "eshape"], ["e"]),
         H("Mul", ["e", "z"], ["m"]),
         H("Add", ["x", "m"], ["a"]),
         H("Identity", ["a"], ["i"]),
         H("Dropout", ["i"], ["y"])],
        [vi("x", [2, 4])], [vi("y", [2, 4])],
        [const_i64("start", 0), const_i64("limit", 4), const_i64("delta", 1), const_i64("cshape", [2, 4]),
         const_i64("eshape", [2, 4])]))
    qw = numpy_helper.from_array(rng.integers(-5, 5, (2, 3, 1, 1)).astype(np.int8), "qw")
    out("onnx_model", "qdq_conv.onnx", model(
        [H("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
         H("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
         H("DequantizeLinear", ["qw", "ws", "wz"], ["wd"], axis=0),
         H("Conv", ["xd", "wd"], ["c"]),
         H("QuantizeLinear", ["c", "cs", "cz"], ["cq"]),
         H("DequantizeLinear", ["cq", "cs", "cz"], ["y"])],
        [vi("x", [1, 3, 4, 4])], [vi("y", [1, 2, 4, 4])],
        [numpy_helper.from_array(np.array(0.05, np.float32), "xs"), numpy_helper.from_array(np.array(0, np.int8), "xz"),
         qw, numpy_helper.from_array(np.array([0.01, 0.02], np.float32), "ws"),
         numpy_helper.from_array(np.zeros(2, np.int8), "wz"),
         numpy_helper.from_array(np.array(0.1, np.float32), "cs"), numpy_helper.from_array(np.array(0, np.int8), "cz")]))
    out("onnx_model", "uint8_input.onnx", model(
        [H("Cast", ["x"], ["f"], to=TensorProto.FLOAT),
         H("Div", ["f", "d"], ["y"])],
        [vi("x", [1, 4, 4, 3], TensorProto.UINT8)], [vi("y", [1, 4, 4, 3])],
        [numpy_helper.from_array(np.array(255, np.float32), "d")], opset=17))
    with open(os.path.join(ROOT, "models/efficientvit_m0_fashion_mnist.onnx"), "rb") as f:
        m = onnx.load_model_from_string(f.read())
    # The bundled model's graph without its weights' bytes is still too large; its first few
    # nodes (stem convs) with their weights make a realistic seed.
    keep = m.graph.node[:6]
    names = {i for n in keep for i in n.input}
    g = helper.make_graph(list(keep), "stem", list(m.graph.input),
                          [vi(keep[-1].output[0], ["batch", None, None, None])],
                          initializer=[t for t in m.graph.initializer if t.name in names])
    stem = helper.make_model(g, opset_imports=m.opset_import)
    stem.ir_version = m.ir_version
    if len(stem.SerializeToString()) < 200_000:
        out("onnx_model", "m0_stem.onnx", stem.SerializeToString())


# ---------------------------------------------------------------- v2 requests
def v2():
    H = helper.make_node
    meta = {"effvit.crop": "4", "effvit.resize_shorter": "0", "effvit.classes": json.dumps(["a", "b", "c"])}
    d = os.path.join(HERE, "v2_request_models")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "multi.onnx"), "wb") as f:
        f.write(model(
            [H("Cast", ["m"], ["mf"], to=TensorProto.FLOAT),
             H("Add", ["x", "mf"], ["y"]),
             H("ReduceMean", ["y"], ["logits"], axes=[2, 3], keepdims=0),
             H("Add", ["k", "k"], ["kk"])],
            [vi("x", ["N", 3, 4, 4]), vi("m", ["N", 3, 4, 4], TensorProto.UINT8), vi("k", [2], TensorProto.INT64)],
            [vi("y", ["N", 3, 4, 4]), vi("logits", ["N", 3]), vi("kk", [2], TensorProto.INT64)], metadata=meta))
    with open(os.path.join(d, "single.onnx"), "wb") as f:
        f.write(model(
            [H("ReduceMean", ["x"], ["logits"], axes=[2, 3], keepdims=0)],
            [vi("x", ["N", 3, 4, 4])], [vi("logits", ["N", 3])], metadata=meta))

    def req(file, obj, binary=b"", header=None):
        j = json.dumps(obj).encode()
        if header is None:
            line = b"" if not binary else str(len(j)).encode()
        else:
            line = header
        out("v2_request", file, line + b"\n" + j + binary)

    x = np.arange(48, dtype=np.float32).reshape(1, 3, 4, 4) / 48
    m = np.arange(48, dtype=np.uint8).reshape(1, 3, 4, 4)
    req("json_single.json", {"id": "r1", "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3, 4, 4],
                                                      "data": x.tolist()}],
                              "outputs": [{"name": "logits", "parameters": {"classification": 2}}]})
    req("json_multi.json", {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3, 4, 4], "data": x.flatten().tolist()},
                                       {"name": "m", "datatype": "UINT8", "shape": [1, 3, 4, 4], "data": m.flatten().tolist()},
                                       {"name": "k", "datatype": "INT64", "shape": [2], "data": [1, -2]}],
                            "parameters": {"binary_data_output": True, "timeout": 1000},
                            "outputs": [{"name": "kk", "parameters": {"binary_data": False}}, {"name": "y"}]})
    req("binary_multi.bin", {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3, 4, 4],
                                         "parameters": {"binary_data_size": 192}},
                                        {"name": "m", "datatype": "UINT8", "shape": [1, 3, 4, 4],
                                         "parameters": {"binary_data_size": 48}},
                                        {"name": "k", "datatype": "INT64", "shape": [2], "parameters": {"binary_data_size": 16}}],
                             "outputs": [{"name": "logits", "parameters": {"binary_data": True, "classification": 3}}]},
        binary=x.tobytes() + m.tobytes() + np.array([3, 4], np.int64).tobytes())
    out("v2_request", "raw_single.bin", b"0\n" + x.tobytes())
    png = pil_bytes(Image.fromarray(rng.integers(0, 255, (5, 7, 3), dtype=np.uint8), "RGB"), "PNG")
    jpg = pil_bytes(Image.fromarray(rng.integers(0, 255, (4, 4, 3), dtype=np.uint8), "RGB"), "JPEG")
    req("bytes_json.json", {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [2],
                                        "data": [base64.b64encode(png).decode(), base64.b64encode(jpg).decode()]}]})
    req("bytes_binary.bin", {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1],
                                         "parameters": {"binary_data_size": 4 + len(png)}}]},
        binary=struct.pack("<I", len(png)) + png)


if __name__ == "__main__":
    for name in ("image", "npy", "idx", "quant_config", "onnx_model", "v2_request"):
        shutil.rmtree(os.path.join(CORPUS, name), ignore_errors=True)
    images()
    npys()
    idxs()
    yamls()
    onnx_models()
    v2()
    for name in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, name))
        size = sum(os.path.getsize(os.path.join(CORPUS, name, f)) for f in files)
        print(f"{name}: {len(files)} files, {size} bytes")
