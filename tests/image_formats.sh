#!/bin/sh
# Images people actually send, decoded by effvit and by Debian's python3-pil on the same files:
# CMYK JPEGs (Adobe-inverted as Photoshop writes them, with and without the Adobe segment), BMPs
# (24-bit, 32-bit, 8-bit palette), lossless and lossy WebP, and a JPEG in each of the 8 EXIF orientations
# (effvit turns it as PIL's ImageOps.exif_transpose does, or leaves it with --no-exif).
# Then the bundled model on a photo stored sideways with an EXIF orientation: classified as shown.
#   image_formats.sh EFFVIT_BINARY WORKDIR EFFVIT_DECODE_TOOL
decode=$3
. "$(dirname "$0")/cli_lib.sh"
models=$(cd "$testdir/../models" && pwd)
rm -rf img && mkdir -p img
"$python" - <<'PY'
import io, struct
import numpy as np
from PIL import Image
rng = np.random.default_rng(3)
# A picture with structure (gradients, edges) so an orientation or channel mistake shows.
h, w = 37, 53
yy, xx = np.mgrid[0:h, 0:w]
rgb = np.stack([(xx * 255 // (w - 1)), (yy * 255 // (h - 1)), ((xx + yy) * 7) % 256], -1).astype(np.uint8)
rgb[5:12, 8:30] = [250, 20, 30]
img = Image.fromarray(rgb)
img.save("img/lossless.webp", lossless=True)
img.save("img/lossy.webp", quality=80)
img.save("img/rgb24.bmp")
img.convert("RGBA").save("img/rgba32.bmp")
img.convert("P", palette=Image.ADAPTIVE, colors=64).save("img/pal8.bmp")
img.convert("CMYK").save("img/cmyk.jpg", quality=95)  # PIL writes the Adobe marker: inverted CMYK
# The same CMYK data without the Adobe segment: PIL and OpenCV still read it as Adobe's inverted
# values, and so must effvit.
data = open("img/cmyk.jpg", "rb").read()
i = data.find(b"\xff\xee")
if i > 0:
    n = struct.unpack(">H", data[i + 2:i + 4])[0]
    open("img/cmyk_plain.jpg", "wb").write(data[:i] + data[i + 2 + n:])
for o in range(1, 9):
    exif = Image.Exif()
    exif[0x0112] = o
    img.save("img/orient%d.jpg" % o, quality=95, exif=exif.tobytes())
# A top-down BMP: negative height, rows stored first to last.
bmp = bytearray(open("img/rgb24.bmp", "rb").read())
off, width, height = struct.unpack("<I", bmp[10:14])[0], struct.unpack("<i", bmp[18:22])[0], struct.unpack("<i", bmp[22:26])[0]
row = (width * 3 + 3) // 4 * 4
rows = [bmp[off + r * row: off + (r + 1) * row] for r in range(height)]
bmp[22:26] = struct.pack("<i", -height)
bmp[off:] = b"".join(reversed(rows))
open("img/topdown.bmp", "wb").write(bmp)
# JPEG EXIF edge cases, built from orient6.jpg's Exif segment (PIL's reading is the reference):
data = open("img/orient6.jpg", "rb").read()
i = data.find(b"\xff\xe1")
n = struct.unpack(">H", data[i + 2:i + 4])[0]
app1 = data[i:i + 2 + n]
exif3 = Image.Exif()
exif3[0x0112] = 3
j3 = io.BytesIO()
img.save(j3, "JPEG", quality=95, exif=exif3.tobytes())
d3 = j3.getvalue()
k = d3.find(b"\xff\xe1")
app1_3 = d3[k:k + 2 + struct.unpack(">H", d3[k + 2:k + 4])[0]]
open("img/exif_twice.jpg", "wb").write(data[:i] + app1 + app1_3 + data[i + 2 + n:])  # the first (6) counts
open("img/exif_fill.jpg", "wb").write(data[:i] + b"\xff\xff" + data[i:])          # fill bytes before APP1
PY
# Broken files are errors, not black pixels: a truncated BMP, and a 54-byte header claiming 16384x16384.
"$python" - <<'PY'
import struct
b = open("img/rgb24.bmp", "rb").read()
open("trunc.bmp", "wb").write(b[:len(b) // 2])
h = bytearray(b[:54])
h[18:26] = struct.pack("<ii", 16384, 16384)
open("huge.bmp", "wb").write(h)
PY
for f in trunc.bmp huge.bmp; do
    if "$decode" "$f" out.npy 2>err.txt || ! grep -q "corrupt BMP" err.txt; then
        echo "FAIL: $f decoded or wrong error: $(cat err.txt)" >&2
        failures=$((failures + 1))
    else
        echo "ok: $f: $(cat err.txt)"
    fi
done

for f in img/*; do
    name=$(basename "$f")
    if ! "$decode" "$f" "img_$name.npy" 2>err.txt; then
        echo "FAIL: $f: $(cat err.txt)" >&2
        failures=$((failures + 1))
    fi
    case $name in orient*) "$decode" "$f" "img_$name.raw.npy" --no-exif ;; esac
done
"$python" - <<'PY' || failures=$((failures + 1))
import glob, os
import numpy as np
from PIL import Image, ImageOps
bad = 0
for f in sorted(glob.glob("img/*")):
    name = os.path.basename(f)
    pil = Image.open(f)
    want = np.asarray((ImageOps.exif_transpose(pil) if name.startswith(("orient", "exif")) else pil).convert("RGB"))
    got = np.load("img_%s.npy" % name)
    # JPEG: libjpeg-turbo's accurate DCT in both; PIL may upsample chroma differently (fancy
    # upsampling is on in both), so allow a unit or two. Everything else is lossless: identical.
    tol = 2 if name.endswith(".jpg") else 0
    ok = got.shape == want.shape and np.abs(got.astype(int) - want.astype(int)).max() <= tol
    print("%s %s: %s vs PIL %s%s" % ("ok" if ok else "FAIL", name, got.shape, want.shape,
          "" if got.shape != want.shape else ", max diff %d" % np.abs(got.astype(int) - want.astype(int)).max()))
    bad += not ok
    if name.startswith("orient"):
        raw = np.load("img_%s.raw.npy" % name)
        stored = np.asarray(pil.convert("RGB"))
        ok = raw.shape == stored.shape and np.abs(raw.astype(int) - stored.astype(int)).max() <= tol
        print("%s %s --no-exif: as stored" % ("ok" if ok else "FAIL", name))
        bad += not ok
assert bad == 0, bad
PY

# A test image stored rotated (as a phone stores a portrait shot) with orientation 6: the model
# must see it upright, as a gallery shows it, and classify it as it classifies the upright PNG.
rm -rf samples && "$effvit" eval "$models/efficientvit_m0_fashion_mnist.onnx" --data /usr/share/datasets/fashion-mnist \
    --limit 4 --save-images samples >/dev/null 2>&1
"$python" - <<'PY'
import glob
from PIL import Image
for i, f in enumerate(sorted(glob.glob("samples/*/*.png"))):
    img = Image.open(f).convert("RGB").resize((112, 112))
    img.save("upright%d.png" % i)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    img.transpose(Image.ROTATE_90).save("sideways%d.jpg" % i, quality=98, exif=exif.tobytes())
PY
for f in upright*.png; do
    i=${f#upright}; i=${i%.png}
    want=$("$effvit" classify "$models/efficientvit_m0_fashion_mnist.onnx" "$f" --topk 1 --json | "$python" -c "import json,sys; print(json.load(sys.stdin)[0]['top'][0]['label'])")
    got=$("$effvit" classify "$models/efficientvit_m0_fashion_mnist.onnx" "sideways$i.jpg" --topk 1 --json | "$python" -c "import json,sys; print(json.load(sys.stdin)[0]['top'][0]['label'])")
    if [ "$want" = "$got" ]; then echo "ok: sideways$i.jpg classified upright: $got"; else echo "FAIL: sideways$i.jpg: $got, upright $want" >&2; failures=$((failures + 1)); fi
done
finish
