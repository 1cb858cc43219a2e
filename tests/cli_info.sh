#!/bin/sh
# `effvit info --json`, `bench --json` and `classify --json` keep the keys other tooling reads, and
# info's numbers are the architecture's (M0: 2.3 M params, 79 M MACs).
#
#   cli_info.sh EFFVIT_BINARY WORKDIR
. "$(dirname "$0")/cli_lib.sh"
[ -f m0/model.onnx ] || "$python" "$pydir/make_fixture.py" --variant m0 --outdir m0 --seed 5 >/dev/null
[ -f m0dyn/model.onnx ] || "$python" "$pydir/make_fixture.py" --variant m0 --dynamic-batch --outdir m0dyn --seed 6 >/dev/null

"$effvit" info m0/model.onnx --json >info.json
# Newer exporters write IR version 9/10, newer than Debian's checker knows; such files still load.
"$python" -c "import onnx; m = onnx.load('m0/model.onnx'); m.ir_version = 10; onnx.save(m, 'ir10.onnx')"
"$effvit" info ir10.onnx | grep -q "variant  m0"
"$effvit" bench m0/model.onnx --iters 3 --warmup 1 --streams 2 --json >bench.json
"$effvit" bench m0dyn/model.onnx --iters 2 --warmup 1 --batch 3 --json >bench_batch.json
EFFVIT_MAX_ISA=sse41 "$effvit" info m0/model.onnx --json >info_sse41.json
"$effvit" info "$testdir/../models/efficientvit_m0_fashion_mnist.onnx" --json >info_bundled.json
"$effvit" info "$testdir/../models/efficientvit_m0_fashion_mnist.onnx" >info_bundled.txt
# Metadata effvit cannot read for images: info says so and goes on (the model runs on tensors).
"$python" -c "
import onnx
m = onnx.load('m0/model.onnx')
[p for p in m.metadata_props if p.key == 'effvit.std'][0].value = '0.2_29 0.224 0.225'
onnx.save(m, 'bad_std.onnx')
"
"$effvit" info bad_std.onnx >bad_std.txt
grep -q "^images   invalid metadata: model metadata effvit.std: expected 3 space-separated positive numbers" bad_std.txt
grep -q "^params " bad_std.txt
# A dynamic image size (exported as [N,3,H,W]) loads, reports -1, and runs at the size it is given.
"$python" -c "
import onnx
m = onnx.load('m0dyn/model.onnx')
d = m.graph.input[0].type.tensor_type.shape.dim
d[2].dim_param, d[3].dim_param = 'H', 'W'
onnx.save(m, 'm0hw.onnx')
"
"$effvit" info m0hw.onnx | grep -q "input    input float32 \[-1,3,-1,-1\]"
"$effvit" run m0hw.onnx -i m0dyn/input.npy -o m0hw_224.npy
"$python" "$pydir/compare_npy.py" m0hw_224.npy m0dyn/expected.npy >/dev/null
"$effvit" bench m0/model.onnx --iters 1 --warmup 0 | grep -q "^isa: "
# A fixed-batch model cannot run --batch 3: one line naming the model.
if "$effvit" bench m0/model.onnx --iters 1 --batch 3 2>err.txt; then echo "bench --batch 3 on a fixed-batch model succeeded" >&2; exit 1; fi
grep -q "m0/model.onnx: the model's batch is fixed at 1" err.txt
# An unknown tier is one line naming the variable.
if EFFVIT_MAX_ISA=avx1024 "$effvit" info m0/model.onnx 2>err.txt; then echo "EFFVIT_MAX_ISA=avx1024 accepted" >&2; exit 1; fi
[ "$(wc -l <err.txt)" -eq 1 ] && grep -q "EFFVIT_MAX_ISA: unknown tier 'avx1024'" err.txt
"$python" - <<'PY'
import struct, zlib
def png(path, w, h, pixel):
    raw = b"".join(b"\x00" + bytes(pixel(x, y) for x in range(w) for _ in range(3)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
png("stripes.png", 300, 200, lambda x, y: 255 if (x // 10) % 2 else 0)
PY
"$effvit" classify m0/model.onnx stripes.png --topk 3 --json --render sheet.png >classify.json
# The contact sheet draws labels in any script with Pango: Chinese labels (as the reference users
# load ImageNet's) come out as glyphs in the line's colour, centred under the image, not as boxes
# (a CJK font must be installed: scripts/install-deps.sh); and short labels keep the sheet's layout
# (5 columns of 160-pixel cells, 16-pixel padding, a 22-pixel line pitch, as with the old bitmap font).
"$python" - <<'PY'
with open("labels_zh.txt", "w", encoding="utf-8") as f:
    f.writelines(("运动鞋" if i % 2 == 0 else "短靴") + "\n" for i in range(1000))
with open("labels_yi.txt", "w", encoding="utf-8") as f:
    f.writelines("一" * 6 + "\n" for i in range(1000))
with open("labels_ascii.txt", "w") as f:
    f.writelines(f"c{i}\n" for i in range(1000))
PY
mkdir -p 短靴 c7
cp stripes.png 短靴/stripes.png
for i in 1 2 3 4 5 6 7; do cp stripes.png "c7/s$i.png"; done
"$effvit" classify m0/model.onnx 短靴/stripes.png --labels labels_zh.txt --json --render sheet_zh.png >classify_zh.json
"$effvit" classify m0/model.onnx stripes.png --labels labels_yi.txt --render sheet_yi.png >/dev/null
"$effvit" classify m0/model.onnx c7/s1.png c7/s2.png c7/s3.png c7/s4.png c7/s5.png c7/s6.png c7/s7.png \
    --labels labels_ascii.txt --render sheet_ascii.png >/dev/null
"$python" - <<'PY'
import json
from PIL import Image

def ink(img, box):
    """Non-white pixels in box (left, top, right, bottom): their bounding box and (x, y, rgb) list."""
    px = img.load()
    found = [(x, y, px[x, y]) for y in range(box[1], box[3]) for x in range(box[0], box[2]) if min(px[x, y]) < 224]
    if not found:
        return None, []
    xs, ys = [p[0] for p in found], [p[1] for p in found]
    return (min(xs), min(ys), max(xs) + 1, max(ys) + 1), found

def near(pixels, rgb, tol):
    return sum(all(abs(a - b) <= tol for a, b in zip(p[2], rgb)) for p in pixels)

# One image with two lines: the prediction, and the truth (its folder is named after class 1).
sheet = Image.open("sheet_zh.png").convert("RGB")
assert sheet.size == (16 + 160 + 16, 16 + 160 + 8 + 2 * 22 + 16), sheet.size
top = json.load(open("classify_zh.json"))[0]
assert top["true_label"] == "短靴", top
best = top["top"][0]
assert best["label"] == ("运动鞋" if best["index"] % 2 == 0 else "短靴"), best
colour = (0x1a, 0x8a, 0x2a) if best["index"] == 1 else (0xd0, 0x20, 0x1a)
text_top = 16 + 160
for (y0, y1), rgb in (((text_top, text_top + 8 + 22), colour), ((text_top + 8 + 22, sheet.size[1]), (0x60, 0x60, 0x60))):
    box, pixels = ink(sheet, (0, y0, sheet.size[0], y1))
    assert box and box[2] - box[0] >= 50 and box[3] - box[1] >= 10, f"line at {y0}: ink {box}"
    assert abs((box[0] + box[2]) / 2 - sheet.size[0] / 2) <= 3, f"line at {y0} not centred: {box}"
    assert near(pixels, rgb, 48) >= 15, f"line at {y0}: {near(pixels, rgb, 48)} pixels of #%02x%02x%02x" % rgb
assert ink(sheet, (0, 0, sheet.size[0], 16))[0] is None, "ink above the image"

# "一一一一一一 NN%": 一 is one horizontal stroke; a font without it draws a box per character,
# as tall as the line. The left half of the line is all 一.
sheet = Image.open("sheet_yi.png").convert("RGB")
box, _ = ink(sheet, (0, text_top, sheet.size[0], sheet.size[1]))
assert box and box[2] - box[0] >= 100, box
left, _ = ink(sheet, (box[0], text_top, (box[0] + box[2]) // 2, sheet.size[1]))
assert left[3] - left[1] <= 4, f"一 drawn {left[3] - left[1]} pixels tall: boxes for missing glyphs? (a CJK font: scripts/install-deps.sh)"
assert sheet.size == (192, 16 + 160 + 8 + 22 + 16), sheet.size

# Seven images, two short lines each: the old font's layout (5 columns, 2 rows).
sheet = Image.open("sheet_ascii.png")
assert sheet.size == (5 * 160 + 6 * 16, 2 * (160 + 8 + 2 * 22) + 3 * 16), sheet.size
print("ok: contact sheets")
PY
"$python" - <<'PY'
import json
info = json.load(open("info.json"))
for key in ("inputs", "outputs", "params", "macs", "variant", "ops"):
    assert key in info, f"info --json lacks {key}"
assert info["variant"] == "m0", info["variant"]
assert round(info["params"] / 1e6, 1) == 2.3, info["params"]
assert round(info["macs"] / 1e6) == 79, info["macs"]
assert info["inputs"][0]["shape"] == [1, 3, 224, 224], info["inputs"]
assert info["outputs"][0]["shape"] == [1, 1000], info["outputs"]
assert "Shape" not in info["ops"] and "Gather" not in info["ops"], "shape arithmetic left in the runtime graph"
assert sum(info["ops"].values()) < 600, info["ops"]
tiers = ["sse41", "avx2", "avx2_vnni", "avx512", "avx512_vnni", "avx512_bf16", "amx"]
assert info["isa"] in info["isa_supported"] and info["isa_native"] == info["isa_supported"][-1], info
assert all(t in tiers for t in info["isa_supported"]) and info["isa_supported"][0] == "sse41", info
assert info["cpu"], info
# What classify, eval and serve will do to an image, so an export can be checked before use: the
# fixture's metadata is timm's eval transform, with ImageNet's 1000 classes by default; the bundled
# model's says Fashion-MNIST's 224x224 and its 10 classes.
assert info["preprocess"] == {"source": "metadata", "resize_shorter": 256, "crop": 224, "input": "float32 RGB, normalised",
                              "layout": "NCHW", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}, info["preprocess"]
assert info["classes"]["count"] == 1000 and info["classes"]["source"] == "ImageNet-1k (default)" and info["classes"]["first"][:2] == ["tench", "goldfish"], info["classes"]
bundled = json.load(open("info_bundled.json"))
assert bundled["preprocess"]["source"] == "metadata" and bundled["preprocess"]["resize_shorter"] == 0, bundled["preprocess"]
assert bundled["classes"] == {"count": 10, "source": "metadata (effvit.classes)", "first": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]}
text = open("info_bundled.txt").read()
assert "images   metadata: resized to 224x224, float32 RGB, normalised NCHW, mean [0.485,0.456,0.406] std [0.229,0.224,0.225]" in text, text
assert "classes  10 from metadata (effvit.classes): T-shirt/top, Trouser, Pullover, Dress, Coat, ..." in text, text
capped = json.load(open("info_sse41.json"))
assert capped["isa"] == "sse41" and capped["isa_native"] == info["isa_native"], capped

bench = json.load(open("bench.json"))
for key in ("model", "precision", "threads", "streams", "latency_ms", "fps"):
    assert key in bench, f"bench --json lacks {key}"
assert bench["precision"] == "fp32" and bench["streams"] == 2
assert 0 < bench["latency_ms"]["min"] <= bench["latency_ms"]["median"] <= bench["latency_ms"]["p90"]
assert bench["fps"] > 0
assert bench["batch"] == 1 and bench["isa"] == info["isa"], bench
batched = json.load(open("bench_batch.json"))
assert batched["batch"] == 3, batched
assert abs(batched["latency_per_image_ms"] * 3 - batched["latency_ms"]["median"]) < 1e-6 * batched["latency_ms"]["median"] + 1e-9

result = json.load(open("classify.json"))
assert len(result) == 1 and result[0]["image"] == "stripes.png"
top = result[0]["top"]
assert len(top) == 3 and top[0]["prob"] >= top[1]["prob"] >= top[2]["prob"]
assert top[0]["label"] and 0 <= top[0]["index"] < 1000
with open("sheet.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
print("ok")
PY
