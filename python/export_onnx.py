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
import sys
import warnings

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


def read_checkpoint(path):
    """Returns (state_dict, layout). Accepts a bare state dict or one under a 'model' key, which is
    how both Cream's release files and train_fashion_mnist.py's last.pt store it."""
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a state dict (got {type(obj).__name__})")
    state = {k: v for k, v in obj.items() if not k.endswith("attention_bias_idxs")}
    layouts = {layout for prefix, layout in LAYOUT_MARKERS.items()
               if any(k.startswith(prefix) for k in state)}
    if len(layouts) != 1:
        raise ValueError(f"{path}: cannot tell the layout; expected keys under 'stages.' (timm) "
                         f"or 'blocks1.' (cream)")
    return state, layouts.pop()


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
    ap.add_argument("--checkpoint", help="timm or Cream .pth to load; random weights when omitted")
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
