"""Export an EfficientViT-MSRA classifier to ONNX for effvit.

Without --checkpoint the weights are random (for test fixtures). With one, the checkpoint's own
layout is recognised from its keys, so timm and microsoft/Cream checkpoints both load, and the
weights are then moved into the layout asked for. The preprocessing effvit should apply is written
into the model's metadata_props; the variant is deliberately not, since effvit detects it itself.

  /usr/bin/python3 python/export_onnx.py --variant m0 --fuse-bn --output m0.onnx
"""

import argparse
import difflib
import io
import json
import math
import os
import re
import struct
import sys
import warnings

import numpy as np
import onnx
import torch

import efficientvit_msra

INPUT_SIZE = 224
LAYOUTS = ("timm", "cream")
DEFAULT_METADATA = {
    "effvit.resize_shorter": "256",
    "effvit.crop": str(INPUT_SIZE),
    "effvit.mean": "0.485 0.456 0.406",
    "effvit.std": "0.229 0.224 0.225",
}
# Key prefixes that only one layout's state dict has.
LAYOUT_MARKERS = {"stages.": "timm", "blocks1.": "cream"}
HEAD_WEIGHT = {"timm": "head.linear.weight", "cream": "head.l.weight"}
# Where training scripts keep the weights in the dict they save: timm's train.py and Lightning under
# 'state_dict', Cream and train_fashion_mnist.py under 'model'. The EMA copies saved beside them are
# taken only from a file with no plain weights: which of the two to ship is the user's call.
WEIGHT_ENTRIES = ("state_dict", "model", "state_dict_ema", "model_ema")
# What DDP ('module.') and Lightning (the LightningModule's attribute, usually 'model.') put before
# every key of the model's own state dict.
WRAPPER_PREFIXES = ("module.", "model.")
SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                      "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                      "U8": torch.uint8, "BOOL": torch.bool}
# The format's own bound on its JSON header; a larger length in the first 8 bytes is another format.
SAFETENSORS_MAX_HEADER = 100_000_000


def looks_like_safetensors(head):
    if len(head) < 10:
        return False
    (header_length,) = struct.unpack("<Q", head[:8])
    return 2 <= header_length <= SAFETENSORS_MAX_HEADER and head[8:9] == b"{"


def read_safetensors(path):
    """The tensors of a safetensors file, read here since python3-safetensors is not a dependency:
    an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} and
    the tensors' little-endian bytes, offsets counted from the end of the header."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_length,) = struct.unpack("<Q", blob[:8])
    try:
        header = json.loads(blob[8:8 + header_length])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: a safetensors file whose header is not JSON ({e})") from None
    data = blob[8 + header_length:]
    state = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype_name, shape, (begin, end) = info["dtype"], [int(n) for n in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: a damaged safetensors file (the header's entry for {name} is not "
                             "{dtype, shape, data_offsets})") from None
        dtype = SAFETENSORS_DTYPES.get(dtype_name)
        if dtype is None:
            raise ValueError(f"{path}: safetensors tensor {name} is {dtype_name}; export_onnx reads "
                             + ", ".join(SAFETENSORS_DTYPES))
        size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
        if end - begin != size or begin < 0:
            raise ValueError(f"{path}: a damaged safetensors file (tensor {name}'s bytes {begin}..{end} do not hold "
                             f"its shape {shape} of {dtype_name})")
        if end > len(data):
            raise ValueError(f"{path}: a truncated safetensors file (tensor {name} ends at byte {end} of the data, "
                             f"which has {len(data)})")
        # A copy, as the file's offsets need not be aligned to the dtype; torch views no empty bytes
        # as another dtype.
        raw = torch.from_numpy(np.frombuffer(data, np.uint8, end - begin, begin).copy())
        state[name] = (raw.view(dtype) if size else torch.empty(0, dtype=dtype)).reshape(shape)
    return state


def what_the_file_is(path, head, load_error):
    """A few words on what a file torch.load refused seems to be, from its first bytes."""
    if not head:
        return "an empty file"
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the weights (git lfs pull fetches them)"
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return "an HTML page, not the weights (a download of the page that links to them?)"
    # Protobuf writes fields in order, and ir_version is ModelProto's field 1.
    if head.startswith(b"\x08"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protobuf's complaints about a file that is no ONNX either
            try:
                if onnx.load_model(path, load_external_data=False).graph.node:
                    return "an ONNX model, not a checkpoint: effvit runs it as it is"
            except Exception:  # whatever protobuf makes of a file that is not ONNX
                pass
    # A checkpoint cut short, or one whose pickle names a module not installed here, fails in torch.load
    # itself: its reason is the one to give.
    if head.startswith(b"PK\x03\x04"):
        return f"a zip archive torch.load cannot read ({load_error})"
    try:
        head.decode("utf-8")
        return "a text file, not a checkpoint"
    except UnicodeDecodeError:
        return f"neither a PyTorch checkpoint nor a safetensors file (torch.load: {load_error})"


def load_checkpoint_file(path):
    """The object a checkpoint file holds; safetensors files are told from their first bytes."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if looks_like_safetensors(head):
        return read_safetensors(path)
    try:
        return torch.load(path, map_location="cpu")
    except Exception as e:  # torch.load raises anything, from UnpicklingError to EOFError
        load_error = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: {what_the_file_is(path, head, load_error)}") from None


def layouts_of(state):
    return {layout for prefix, layout in LAYOUT_MARKERS.items() if any(k.startswith(prefix) for k in state)}


def read_checkpoint(path):
    """Returns (state_dict, layout). Accepts a bare state dict, safetensors, or the dict a training
    script saves around one (see WEIGHT_ENTRIES), keys prefixed by DDP or Lightning or not."""
    obj = load_checkpoint_file(path)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a state dict (got {type(obj).__name__})")
    entry = next((e for e in WEIGHT_ENTRIES if isinstance(obj.get(e), dict)), None)
    if entry is not None:
        ema = " (EMA weights: the file holds no plain ones)" if entry.endswith("_ema") else ""
        print(f"export_onnx: using the {entry!r} entry of {path}{ema}")
    weights = obj if entry is None else obj[entry]
    state = weights
    while len(layouts_of(state)) != 1:
        prefix = next((p for p in WRAPPER_PREFIXES if any(k.startswith(p) for k in state)), None)
        if prefix is None:
            seen = sorted({k.split(".")[0] for k in weights})
            listed = ", ".join(seen[:12]) + (", ..." if len(seen) > 12 else "")
            inside = f" in its {entry!r} entry" if entry else ""
            raise ValueError(f"{path}: cannot tell the layout; expected keys under 'stages.' (timm) or 'blocks1.' "
                             f"(cream), found top-level keys {listed or 'none'}{inside}")
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    state = {k: v for k, v in state.items() if not k.endswith("attention_bias_idxs")}
    return state, layouts_of(state).pop()


def variant_of(state):
    """The variant whose embedding widths the weights have, or None. Every block's first depthwise
    conv (dw0 in both layouts) is as wide as its stage, and every variant widens stage by stage."""
    widths = sorted({v.shape[0] for k, v in state.items() if ".dw0." in k and v.dim()})
    return next((name for name, cfg in efficientvit_msra.VARIANTS.items() if cfg["embed_dim"] == widths), None)


@torch.no_grad()
def calibrate_batchnorm(model, seed, batch=2):
    """Sets every BatchNorm2d's running statistics to those of one N(0,1) batch.

    randomize() draws BN statistics unrelated to the activations, so each residual block multiplies
    their scale (~20x per block; logits of 1e10 in m0), saturating every softmax and sigmoid and
    leaving fp32 error close to the exactness tolerance. With measured statistics the activations
    stay O(1..100) and the attention stays soft. BN weights and biases keep their random values.
    The head's BatchNorm1d keeps randomize()'s statistics: two samples would estimate them poorly.
    """
    x = torch.randn(batch, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(seed))
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [bn.momentum for bn in bns]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # a plain average, which over a single batch is that batch's statistics
        bn.train()
    model(x)
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
        bn.eval()


def prepare_model(variant, layout, num_classes=None, checkpoint=None, seed=0, fuse_bn=False):
    """The model to export, in eval mode. num_classes=None takes the checkpoint's, else 1000."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    if checkpoint is None:
        model = efficientvit_msra.build(variant, layout, 1000 if num_classes is None else num_classes,
                                        INPUT_SIZE)
        efficientvit_msra.randomize(model, seed)
        calibrate_batchnorm(model, seed)
    else:
        state, src_layout = read_checkpoint(checkpoint)
        if num_classes is None:
            head = state.get(HEAD_WEIGHT[src_layout])
            num_classes = head.shape[0] if head is not None else 1000
        src = efficientvit_msra.build(variant, src_layout, num_classes, INPUT_SIZE)
        wanted = {k: v.shape for k, v in src.state_dict().items() if not k.endswith("attention_bias_idxs")}
        missing = sorted(wanted.keys() - state.keys())
        unexpected = sorted(state.keys() - wanted.keys())
        reshaped = sorted(k for k in wanted.keys() & state.keys() if state[k].shape != wanted[k])
        if missing or unexpected or reshaped:
            looks_like = variant_of(state)
            if looks_like not in (None, variant):
                raise ValueError(f"{checkpoint}: does not fit {variant}: the checkpoint looks like "
                                 f"{looks_like.upper()}; pass --variant {looks_like}")
            raise ValueError(f"{checkpoint}: does not fit {variant} ({src_layout} layout, {num_classes} "
                             f"classes): missing {missing[:3]}, unexpected {unexpected[:3]}, "
                             f"shape differs {reshaped[:3]}")
        # Only the derived attention_bias_idxs may be absent, and the model already has them.
        src.load_state_dict(state, strict=False)
        if src_layout == layout:
            model = src
        else:
            model = efficientvit_msra.build(variant, layout, num_classes, INPUT_SIZE)
            efficientvit_msra.transfer_weights(src, model)
    if fuse_bn:
        efficientvit_msra.fuse_batchnorm(model)
    # eval() also recomputes the cached attention bias `ab` from the weights just set; a model put in
    # eval mode before its weights changed would export stale biases.
    return model.eval()


# The effvit.* keys effvit reads or shows, and what each must hold: checked at export, so a bad
# value fails here and not in a later classify or serve.
METADATA_EXAMPLE = """{"effvit.resize_shorter": "0", "effvit.mean": "0.485 0.456 0.406", "effvit.std": "0.229 0.224 0.225",
 "effvit.classes": "[\\"T-shirt/top\\", \\"Trouser\\", ...]"}   (every value a string; classes a JSON array inside it)"""


# As effvit reads these values (src/image/preprocess.cpp): ends trimmed of spaces, tabs and line
# breaks; words split on spaces and tabs; numbers in std::from_chars' form (no '+', no '_').
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _numbers(value, positive):
    words = [w for w in re.split(r"[ \t]+", value.strip(" \t\r\n")) if w]
    if len(words) != 3 or not all(_NUMBER.fullmatch(w) for w in words):
        return None
    numbers = [float(w) for w in words]
    ok = all(math.isfinite(n) and (n > 0 or not positive) for n in numbers)
    return numbers if ok else None


def check_metadata(meta, num_classes):
    """Raises ValueError naming the first effvit.* key whose value effvit would refuse or misread."""
    def bad(key, expected):
        raise ValueError(f"metadata {key} is {meta[key]!r}; expected {expected}")

    known = {"effvit.resize_shorter", "effvit.crop", "effvit.mean", "effvit.std", "effvit.classes", "effvit.layout",
             "effvit.input_type_rt", "effvit.input_layout", "effvit.interpolation", "effvit.channel_order", "effvit.input_note"}
    for key in meta:
        if key.startswith("effvit.") and key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            raise ValueError(f"metadata {key} is not a key effvit reads" + (f" (did you mean {close[0]}?)" if close else "") +
                             "; effvit's keys: " + ", ".join(sorted(known)))
    shorter = meta["effvit.resize_shorter"].strip(" \t\r\n")
    if not re.fullmatch(r"\d+", shorter):
        bad("effvit.resize_shorter", "a whole number of pixels (0: resize straight to the crop)")
    # The graph's input is fixed at INPUT_SIZE, so a different crop would describe another model.
    if meta["effvit.crop"].strip(" \t\r\n") != str(INPUT_SIZE):
        raise ValueError(f"effvit.crop must be {INPUT_SIZE}, the exported input size")
    if 0 < int(shorter) < INPUT_SIZE:
        bad("effvit.resize_shorter", f"0 (resize straight to the crop) or at least the crop, {INPUT_SIZE}: a crop larger than "
                                     "the resized image is not supported")
    if _numbers(meta["effvit.mean"], False) is None:
        bad("effvit.mean", "3 numbers separated by spaces, as a string (\"0.485 0.456 0.406\")")
    if _numbers(meta["effvit.std"], True) is None:
        bad("effvit.std", "3 positive numbers separated by spaces, as a string (\"0.229 0.224 0.225\")")
    # effvit normalises pixels scaled to 0..1 (as torchvision does): a mean on the 0..255 scale
    # (an RDK YAML's mean_value) would shift every pixel far off and every image to one class.
    if max(abs(v) for v in _numbers(meta["effvit.mean"], False)) > 1.5:
        bad("effvit.mean", "values on the 0..1 pixel scale effvit normalises on (0.485, not 123.675: divide an RDK "
                           "mean_value by 255)")
    if "effvit.classes" in meta:
        try:
            names = json.loads(meta["effvit.classes"])
        except json.JSONDecodeError:
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            bad("effvit.classes", "a JSON array of strings inside the string, e.g. \"[\\\"cat\\\", \\\"dog\\\"]\"")
        if num_classes is not None and len(names) != num_classes:
            raise ValueError(f"metadata effvit.classes has {len(names)} names for the model's {num_classes} classes")
    if meta.get("effvit.input_type_rt", "featuremap") not in ("nv12", "rgb", "bgr", "gray", "featuremap"):
        bad("effvit.input_type_rt", "nv12, rgb, bgr, gray or featuremap")
    if meta.get("effvit.input_layout", "NCHW") not in ("NCHW", "NHWC"):
        bad("effvit.input_layout", "NCHW or NHWC")


def merged_metadata(layout, overrides=None, num_classes=None):
    meta = dict(DEFAULT_METADATA, **{"effvit.layout": layout})
    for k, v in (overrides or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            hint = " (effvit.classes is a JSON array written inside a string)" if k == "effvit.classes" else ""
            raise ValueError(f"metadata must map strings to strings; got {k!r}: {v!r}{hint}")
        meta[k] = v
    check_metadata(meta, num_classes)
    return meta


def export_onnx(model, output, metadata, opset=13, dynamic_batch=False, batch=1):
    """Traces `model` (already in eval mode) at `batch` images to ONNX and writes it atomically to
    `output`. Without dynamic_batch, that batch is the graph's fixed one."""
    if model.training:
        # Under TrainingMode.PRESERVE below, a training-mode model would export batch-statistics BN.
        raise ValueError("export_onnx needs a model in eval mode")
    dummy = torch.zeros(batch, 3, INPUT_SIZE, INPUT_SIZE)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The tracer warns that Python branches on H and W are frozen; they are meant to be, as the
        # input size is fixed.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # PRESERVE exports the eval-mode model as is; EVAL would also fold every Conv+BN pair,
        # leaving an unfused export no different from a --fuse-bn one. Constant folding is still
        # safe here, despite torch's warning, because the model is not in training mode.
        warnings.filterwarnings("ignore", "It is recommended that constant folding be turned off")
        torch.onnx.export(
            model, dummy, buf, opset_version=opset, training=torch.onnx.TrainingMode.PRESERVE,
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None)
    proto = onnx.load_model_from_string(buf.getvalue())
    if not dynamic_batch:
        # The traced shape arithmetic leaves the output's batch symbolic even for a fixed input.
        proto.graph.output[0].type.tensor_type.shape.dim[0].dim_value = batch
    onnx.helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    tmp = f"{output}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(proto.SerializeToString())
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return proto


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True, choices=sorted(efficientvit_msra.VARIANTS),
                    help="model size")
    ap.add_argument("--checkpoint", help="timm or Cream weights to load (.pth, also as timm's train.py or Lightning save "
                                         "them, or .safetensors); random weights when omitted")
    ap.add_argument("--num-classes", type=int,
                    help="classifier outputs (default: the checkpoint's, else 1000)")
    ap.add_argument("--opset", type=int, default=13, choices=range(11, 18), metavar="{11..17}",
                    help="ONNX opset (default 13)")
    ap.add_argument("--fuse-bn", action="store_true", help="fold every BatchNorm into its conv/linear")
    ap.add_argument("--layout", default="timm", choices=LAYOUTS,
                    help="module layout, which sets the ONNX node names (default timm)")
    ap.add_argument("--dynamic-batch", action="store_true", help="make the batch dimension symbolic")
    ap.add_argument("--seed", type=int, default=0, help="seed for random weights (default 0)")
    ap.add_argument("--output", help="ONNX file to write (default <variant>.onnx)")
    ap.add_argument("--metadata-json",
                    help="JSON file of an object of string keys and values, merged over the default metadata_props and "
                         "checked against what effvit reads; for example: " + METADATA_EXAMPLE)
    args = ap.parse_args()
    torch.set_num_threads(1)

    try:
        overrides = None
        if args.metadata_json:
            with open(args.metadata_json) as f:
                try:
                    overrides = json.load(f)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{args.metadata_json}: {e}") from None
            if not isinstance(overrides, dict):
                raise ValueError(f"{args.metadata_json}: expected a JSON object")
        merged_metadata(args.layout, overrides)  # before the model is built: a bad file fails at once
        model = prepare_model(args.variant, args.layout, args.num_classes, args.checkpoint, args.seed,
                              args.fuse_bn)
        classes = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1].out_features
        metadata = merged_metadata(args.layout, overrides, num_classes=classes)
        output = args.output or f"{args.variant}.onnx"
        proto = export_onnx(model, output, metadata, args.opset, args.dynamic_batch)
    except (OSError, ValueError) as e:
        sys.exit(f"export_onnx: {e}")
    print(f"wrote {output}: {len(proto.graph.node)} nodes, opset {args.opset}")


if __name__ == "__main__":
    main()
