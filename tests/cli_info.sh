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
tiers = ["sse41", "avx2", "avx2_vnni", "avx512", "avx512_vnni", "amx"]
assert info["isa"] in info["isa_supported"] and info["isa_native"] == info["isa_supported"][-1], info
assert all(t in tiers for t in info["isa_supported"]) and info["isa_supported"][0] == "sse41", info
assert info["cpu"], info
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
