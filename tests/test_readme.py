"""The README's Python examples run, in order, and print what the README says they print."""
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Each ```python block, and the plain ``` block after it (its printed output) when one
# follows before the next ```python block.
BLOCK = re.compile(r"```python\n(.*?)```\n(?:(?:(?!```python).)*?```\n(.*?)```)?", re.S)

RUNNER = r"""
import contextlib, io, json, sys
blocks = json.loads(sys.stdin.read())
namespace, outputs = {}, []
for code in blocks:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), namespace)
    outputs.append(out.getvalue())
print(json.dumps(outputs))
"""


def _lines(text):
    return [line.rstrip() for line in text.strip().splitlines()]


@pytest.mark.slow
def test_readme_examples_print_what_the_readme_shows():
    blocks = BLOCK.findall((ROOT / "README.md").read_text())
    assert len(blocks) >= 4
    env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "")
                                      + " --xla_force_host_platform_device_count=4").strip())
    env.pop("JAX_ENABLE_X64", None)
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps([c for c, _ in blocks]),
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    outputs = json.loads(proc.stdout.strip().splitlines()[-1])
    checked = 0
    for (code, expected), got in zip(blocks, outputs):
        if expected.strip():
            assert _lines(got) == _lines(expected), code.splitlines()[0]
            checked += 1
    assert checked >= 3
