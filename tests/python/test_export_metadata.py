"""python/export_onnx.py checks --metadata-json against what effvit reads, at export: a bad value
fails there, in one line, instead of in a later classify or serve."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import export_onnx  # noqa: E402


def test_values_effvit_reads_pass_as_effvit_reads_them():
    export_onnx.merged_metadata("timm", {"effvit.resize_shorter": " 256 ", "effvit.mean": " .5\t-0.5 1e-1\n", "effvit.std": "1 2 3"}, 10)


def test_the_bundled_models_metadata_passes():
    with open(os.path.join(ROOT, "models", "fashion_mnist_metadata.json")) as f:
        meta = export_onnx.merged_metadata("timm", json.load(f), num_classes=10)
    assert json.loads(meta["effvit.classes"])[9] == "Ankle boot"


@pytest.mark.parametrize("overrides,needle", [
    ({"effvit.classes": ["a", "b"]}, "effvit.classes is a JSON array written inside a string"),
    ({"effvit.classes": "a,b,c"}, "metadata effvit.classes is 'a,b,c'; expected a JSON array of strings"),
    ({"effvit.classes": json.dumps(["a", "b"])}, "effvit.classes has 2 names for the model's 10 classes"),
    ({"effvit.mean": "0.5 0.5"}, "metadata effvit.mean is '0.5 0.5'; expected 3 numbers"),
    ({"effvit.std": "0.2 0 0.2"}, "expected 3 positive numbers"),
    ({"effvit.resize_shorter": "256px"}, "a whole number of pixels"),
    ({"effvit.resize_shorter": "100"}, "at least the crop, 224"),
    ({"effvit.mean": "123.675 116.28 103.53"}, "divide an RDK mean_value by 255"),
    ({"effvit.mean": "+0.485 0.456 0.406"}, "expected 3 numbers"),
    ({"effvit.mean": "0.485\n0.456 0.406"}, "expected 3 numbers"),
    ({"effvit.std": "0.2_29 0.224 0.225"}, "expected 3 positive numbers"),
    ({"effvit.crop": "256"}, "effvit.crop must be 224"),
    ({"effvit.stdd": "1 1 1"}, "effvit.stdd is not a key effvit reads (did you mean effvit.std?)"),
    ({"effvit.input_type_rt": "yuv"}, "nv12, rgb, bgr, gray or featuremap"),
])
def test_bad_metadata_is_refused_naming_the_key(overrides, needle):
    with pytest.raises(ValueError) as info:
        export_onnx.merged_metadata("timm", overrides, num_classes=10)
    assert needle in str(info.value), str(info.value)


def test_a_bad_file_fails_before_anything_is_built_or_written(tmp_path):
    bad = tmp_path / "meta.json"
    bad.write_text(json.dumps({"effvit.classes": "cat,dog"}))
    out = tmp_path / "m.onnx"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "python", "export_onnx.py"), "--variant", "m0", "--metadata-json", str(bad),
                        "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        "export_onnx: metadata effvit.classes is 'cat,dog'; expected a JSON array of strings inside the string, e.g. \"[\\\"cat\\\", \\\"dog\\\"]\""], r.stderr
    assert not out.exists()
    helped = subprocess.run([sys.executable, os.path.join(ROOT, "python", "export_onnx.py"), "--help"], capture_output=True, text=True).stdout
    assert "effvit.classes" in helped and "JSON array" in helped
