"""Typical ONNX Runtime scripts (tests/python/ort_scripts) run with effvit, with their imports
changed and nothing else: `import onnxruntime as ort` -> `import effvit as ort`, `import
onnxruntime` -> `import effvit as onnxruntime`, `from onnxruntime.X import Y` -> `from effvit.X
import Y`."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPTS = os.path.join(os.path.dirname(__file__), "ort_scripts")
MODEL = os.path.join(ROOT, "models", "efficientvit_m0_fashion_mnist.onnx")
WORK = os.environ.get("EFFVIT_WORKDIR", "/tmp/effvit_python_tests")


def ported(source):
    """The script with only its import lines changed."""
    lines = source.splitlines(keepends=True)
    out = []
    for line in lines:
        if re.match(r"\s*import onnxruntime\s*$", line):
            line = line.replace("import onnxruntime", "import effvit as onnxruntime", 1)
        elif re.match(r"\s*(import onnxruntime as |from onnxruntime[.\s])", line):
            line = line.replace("onnxruntime", "effvit", 1)
        out.append(line)
    changed = [(a, b) for a, b in zip(lines, out) if a != b]
    assert changed and all(re.match(r"\s*(import|from) ", a) for a, _ in changed), changed
    return "".join(out)


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(SCRIPTS) if f.endswith(".py")))
def test_an_onnxruntime_script_runs_unchanged_but_its_import(name):
    os.makedirs(WORK, exist_ok=True)
    script = os.path.join(WORK, "ported_" + name)
    with open(os.path.join(SCRIPTS, name)) as f:
        source = f.read()
    assert not re.search(r"^\s*(import|from) effvit", source, re.M), "the script must be ONNX Runtime's, not already ported"
    with open(script, "w") as f:
        f.write(ported(source))
    r = subprocess.run([sys.executable, script, MODEL], capture_output=True, text=True, timeout=300, cwd=WORK,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert r.returncode == 0, r.stdout + r.stderr


def test_there_are_at_least_ten_scripts():
    assert len([f for f in os.listdir(SCRIPTS) if f.endswith(".py")]) >= 10
