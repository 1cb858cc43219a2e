"""python/export_onnx.py --checkpoint takes the files training scripts and hubs write: a bare state
dict, the dict timm's train.py, Lightning or Cream save around one (DDP's and Lightning's key
prefixes too), and safetensors; another variant's weights name the variant, and a file that is no
checkpoint is named in one line."""
import json
import os
import struct
import subprocess
import sys
import zipfile

import pytest
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import efficientvit_msra  # noqa: E402
import export_onnx  # noqa: E402


def random_state(variant="m0", layout="timm", seed=0):
    model = efficientvit_msra.randomize(efficientvit_msra.build(variant, layout, num_classes=10), seed)
    return {k: v for k, v in model.state_dict().items() if not k.endswith("attention_bias_idxs")}


def run_export(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "python", "export_onnx.py")] + list(args),
                          capture_output=True, text=True, timeout=300)


def write_safetensors(path, state, dtypes):
    """The format by hand: header length, JSON header, the tensors' bytes back to back."""
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, tensor in state.items():
        tensor = tensor.to(dtypes.get(tensor.dtype, tensor.dtype)).contiguous()
        # Through int16 for bf16, which numpy has no type for.
        raw = (tensor.view(torch.int16) if tensor.dtype == torch.bfloat16 else tensor).numpy().tobytes()
        header[name] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def prefixed(state, prefix):
    return {prefix + k: v for k, v in state.items()}


PLAIN = random_state(seed=1)
EMA = random_state(seed=2)


@pytest.mark.parametrize("saved,entry,expected", [
    (PLAIN, None, PLAIN),
    ({"state_dict": PLAIN, "state_dict_ema": EMA, "epoch": 7, "arch": "efficientvit_m0"}, "state_dict", PLAIN),
    ({"state_dict_ema": EMA, "epoch": 7}, "state_dict_ema", EMA),
    ({"model": PLAIN, "model_ema": EMA, "optimizer": {}, "epoch": 7}, "model", PLAIN),
    ({"model_ema": EMA, "epoch": 7}, "model_ema", EMA),
    (prefixed(PLAIN, "module."), None, PLAIN),
    ({"state_dict": prefixed(PLAIN, "model."), "pytorch-lightning_version": "2.1.0", "global_step": 10}, "state_dict", PLAIN),
    ({"model": prefixed(PLAIN, "module."), "epoch": 7}, "model", PLAIN),
], ids=["bare", "timm-train", "timm-ema-only", "cream", "cream-ema-only", "ddp", "lightning", "cream-ddp"])
def test_a_wrapped_state_dict_loads_and_says_which_entry(tmp_path, capsys, saved, entry, expected):
    path = tmp_path / "checkpoint.pth"
    torch.save(saved, path)
    state, layout = export_onnx.read_checkpoint(str(path))
    assert layout == "timm" and state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    said = capsys.readouterr().out.splitlines()
    if entry is None:
        assert said == []
    else:
        assert said == [f"export_onnx: using the {entry!r} entry of {path}"
                        + (" (EMA weights: the file holds no plain ones)" if entry.endswith("_ema") else "")]


def test_an_unknown_wrapper_names_its_top_level_keys(tmp_path):
    path = tmp_path / "checkpoint.pth"
    torch.save({"net": PLAIN, "epoch": 7}, path)
    with pytest.raises(ValueError) as info:
        export_onnx.read_checkpoint(str(path))
    assert str(info.value) == (f"{path}: cannot tell the layout; expected keys under 'stages.' (timm) or 'blocks1.' "
                               "(cream), found top-level keys epoch, net")
    torch.save({"state_dict": prefixed(PLAIN, "backbone.")}, path)
    with pytest.raises(ValueError, match="found top-level keys backbone in its 'state_dict' entry$"):
        export_onnx.read_checkpoint(str(path))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_safetensors_are_read_in_each_float_type(tmp_path, dtype):
    cream = random_state(layout="cream")
    path = tmp_path / "model.safetensors"
    write_safetensors(path, cream, {torch.float32: dtype})
    state, layout = export_onnx.read_checkpoint(str(path))
    assert layout == "cream" and state.keys() == cream.keys()
    assert all(torch.equal(state[k], cream[k].to(dtype) if cream[k].is_floating_point() else cream[k]) for k in cream)


def test_a_safetensors_file_exports(tmp_path):
    path = tmp_path / "model.safetensors"
    write_safetensors(path, PLAIN, {torch.float32: torch.bfloat16})
    r = run_export("--variant", "m0", "--checkpoint", str(path), "--output", str(tmp_path / "m0.onnx"))
    assert r.returncode == 0 and r.stdout.startswith(f"wrote {tmp_path / 'm0.onnx'}"), r.stderr


def test_a_cut_short_safetensors_file_is_named(tmp_path):
    path = tmp_path / "model.safetensors"
    write_safetensors(path, PLAIN, {})
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 20)  # into the last tensor, the head's 10 float biases
    with pytest.raises(ValueError, match=r": a truncated safetensors file \(tensor head\.linear\.bias ends at byte \d+ "
                                         r"of the data, which has \d+\)$"):
        export_onnx.read_checkpoint(str(path))


def test_another_variants_weights_name_the_variant(tmp_path):
    path = tmp_path / "m1.pth"
    torch.save({"state_dict": random_state("m1", "cream")}, path)
    r = run_export("--variant", "m0", "--checkpoint", str(path), "--output", str(tmp_path / "m0.onnx"))
    assert r.returncode == 1 and r.stderr.splitlines() == [
        f"export_onnx: {path}: does not fit m0: the checkpoint looks like M1; pass --variant m1"], r.stderr
    assert r.stdout.splitlines() == [f"export_onnx: using the 'state_dict' entry of {path}"]
    for variant in efficientvit_msra.VARIANTS:
        assert export_onnx.variant_of(random_state(variant)) == variant


def zip_of_notes(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "not a checkpoint")


@pytest.mark.parametrize("content,what", [
    (b"", "an empty file"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 9\n",
     "a Git LFS pointer, not the weights (git lfs pull fetches them)"),
    (b"<!DOCTYPE html>\n<html><body>efficientvit_m5.pth</body></html>",
     "an HTML page, not the weights (a download of the page that links to them?)"),
    (b"epoch 7, top-1 74.2\n", "a text file, not a checkpoint"),
    (zip_of_notes, "a zip archive torch.load cannot read ("),
    (bytes(range(256)) * 4, "neither a PyTorch checkpoint nor a safetensors file (torch.load: "),
    (os.path.join(ROOT, "models", "efficientvit_m0_fashion_mnist.onnx"), "an ONNX model, not a checkpoint: effvit runs it as it is"),
], ids=["empty", "lfs-pointer", "html", "text", "zip", "binary", "onnx"])
def test_a_file_that_is_no_checkpoint_is_named(tmp_path, content, what):
    path = str(tmp_path / "checkpoint.pth")
    if callable(content):
        content(path)
    elif isinstance(content, str):
        path = content
    else:
        with open(path, "wb") as f:
            f.write(content)
    with pytest.raises(ValueError) as info:
        export_onnx.read_checkpoint(path)
    assert str(info.value).startswith(f"{path}: {what}"), str(info.value)


def test_an_unreadable_checkpoint_fails_in_one_line(tmp_path):
    path = tmp_path / "efficientvit_m0.pth"
    torch.save(PLAIN, path)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    r = run_export("--variant", "m0", "--checkpoint", str(path), "--output", str(tmp_path / "m0.onnx"))
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"export_onnx: {path}: a zip archive torch.load cannot read ("), r.stderr
