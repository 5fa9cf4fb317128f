"""The benchmark in CI size: it runs, every implementation agrees, the report is complete.

No timing is asserted (speed is measured in bench/, never in unit tests).
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import impl_python, limits, workloads as wl  # noqa: E402

IMPLS = {"W1": {"jaxbp-manual", "jaxbp-autodiff", "jax-fused", "numpy-nielsen", "numpy-batch",
                "python"},
         "W2": {"jaxbp-manual", "jaxbp-autodiff", "jax-fused", "numpy-nielsen", "numpy-batch"},
         "W3": {"jaxbp-manual", "jaxbp-autodiff", "jax-fused", "numpy-nielsen", "numpy-batch",
                "python"},
         "W4": {"jaxbp-manual", "jaxbp-autodiff", "jax-fused", "numpy-nielsen", "numpy-batch"},
         "W5": {"jaxbp-manual", "jaxbp-autodiff", "jax-fused", "numpy-nielsen", "numpy-batch"}}
COLUMNS = ["implementation", "median", "min-max", "first call", "rate", "result", "agrees",
           "÷ jaxbp manual"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One CI-sized run of ``python -m bench`` (torch, the gates cold start and scaling are
    left out to stay fast; the OPENBLAS_* environment is left as it is)."""
    d = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--skip", "torch,gates,scaling",
         "--keep-blas-env", "--threads", "1", "--out", str(d / "results.md"), "--json", str(d / "results.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return proc, (d / "results.md").read_text() if (d / "results.md").exists() else "", \
        json.loads((d / "results.json").read_text()) if (d / "results.json").exists() else None


def test_bench_completes_and_every_implementation_agrees(smoke):
    proc, text, summary = smoke
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert summary["all_agree"] is True
    assert summary["notes"] == []
    for wid, names in IMPLS.items():
        rows = {r["name"]: r for r in summary["table"][wid]}
        assert names <= set(rows), (wid, sorted(rows))
        for r in rows.values():
            assert r["agree"] is True, (wid, r["name"], r["agree_text"])
            assert np.isfinite(r["result"]["loss"])
            assert r["median"] > 0 and r["first"] > 0


def test_report_has_every_workload_row_and_column(smoke):
    _, text, summary = smoke
    assert text.startswith("# jaxbp benchmark (smoke)")
    assert re.search(r"- Machine: .+, \d+ cores", text)
    header = "| " + " | ".join(COLUMNS) + " |"
    for wid in IMPLS:
        section = text.split(f"## {wid}:")[1].split("\n## ")[0]
        assert header in section
        for r in summary["table"][wid]:
            assert f"| {r['label']} |" in section
    assert "## Machine limit (W2, W5)" in text and "## Targets" in text
    assert "manual <= autodiff" in text


def test_reference_numbers_from_independent_sources():
    # The pure-Python peer reproduces Mazur's error after 10,000 full updates (the figure
    # the jaxbp.examples docstring derives; an independent float64 scalar implementation).
    w = wl.specs()["W3"]
    x, y, *_ = wl.data(w)
    params = impl_python.runner(w, wl.init_params(w), (x, y), None)()
    assert wl.evaluate(w, params)["loss"] == pytest.approx(wl.MAZUR_ERROR_10K, rel=1e-6)
    # W5's FLOPs per step, counted by hand: forward 128x784x100 + 128x100x10, BP4 the same,
    # BP2 128x10x100; 2 FLOPs per multiply-add.
    matmul, _, trans = limits.counts(wl.specs()["W5"])
    assert matmul == 2 * (2 * 128 * 784 * 100 + 3 * 128 * 100 * 10)
    assert trans == 128 * 110


def test_agreement_check_catches_a_wrong_result():
    w = wl.specs()["W1"]
    assert wl.agree(w, {"loss": 0.1}, {"loss": 0.1 * (1 + 1e-4)})[0]
    assert not wl.agree(w, {"loss": 0.1}, {"loss": 0.1 * 1.01})[0]
    w4 = wl.specs()["W4"]
    assert not wl.agree(w4, {"loss": 0.1, "accuracy": 0.9}, {"loss": 0.1, "accuracy": 0.87})[0]
    w2 = wl.specs()["W2"].replace(runs=4)
    ref = {"losses": [0.1, 0.2, 0.3, 0.001]}
    assert wl.agree(w2, ref, {"losses": [0.1, 0.2, 0.3, 0.001]})[0]
    assert not wl.agree(w2, ref, {"losses": [0.1, 0.2, 0.3, 0.1]})[0]
