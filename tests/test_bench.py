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

from bench import impl_python, limits, report, workloads as wl  # noqa: E402

BASIC = {"jaxbp-manual", "jaxbp-autodiff", "jax-fused", "numpy-nielsen", "numpy-batch"}
# W2 and W5 also on every path a user takes, next to the plain JAX peers
USER = {"jaxbp-optax-manual", "jaxbp-optax-autodiff", "jax-autodiff", "jax-manual"}
IMPLS = {"W1": BASIC | {"python"}, "W2": BASIC | USER | {"jaxbp-train_many"},
         "W3": BASIC | {"python"}, "W4": BASIC, "W5": BASIC | USER}
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


@pytest.mark.slow
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


@pytest.mark.slow
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
    assert "manual <= 1.05x autodiff" in text
    assert "<= 1.0x the plain JAX peer" in text and "within 5% of `fit` with a number" in text


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


@pytest.mark.slow
def test_plain_jax_peers_gradient_is_jax_grad():
    # The hand-written BP1-BP4 of the manual peer against jax.value_and_grad of the same cost
    # (an independent source), on W5's net at a small batch.
    import jax
    import jax.numpy as jnp
    from bench import impl_jax
    w = wl.specs()["W5"]
    params = tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in wl.init_params(w))
    x, y = (jnp.asarray(a[:16]) for a in wl.data(w.replace(n=64))[:2])
    with jax.numpy_rank_promotion("allow"):    # the peers add b as users do: z = a @ W + b
        both = jax.jit(lambda p, x, y: (impl_jax.manual_value_and_grad(p, x, y),
                                        jax.value_and_grad(impl_jax.cost)(p, x, y)))
        (loss, grads), (ref_loss, ref_grads) = both(params, x, y)   # one compilation
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-6)
    for g, r in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(ref_grads)):
        np.testing.assert_allclose(g, r, rtol=2e-4, atol=1e-7)


def test_targets_are_ratios_of_medians_in_one_run():
    def rows(**medians):
        return [{"name": n.replace("_", "-"), "median": m} for n, m in medians.items()]
    table = {"W2": rows(jaxbp_manual=1.0, jaxbp_autodiff=1.0, jaxbp_optax_manual=1.2,
                        jaxbp_optax_autodiff=1.0, jax_autodiff=1.3, jax_manual=1.0),
             "W5": rows(jaxbp_manual=1.0, jaxbp_autodiff=0.9, jaxbp_optax_manual=1.06,
                        jaxbp_optax_autodiff=1.2, jax_autodiff=1.1)}
    gates = {"gates": [6.0, 2.9, 3.1], "import": [2.0, 1.9, 2.1]}  # first 3.0x, then 1.5x
    summary = {"meta": {"mode": "quick"}, "table": table, "limits": {}, "gates": (gates, None)}
    met = {name: ok for name, _, ok in report._targets(summary)}
    assert met["W2: manual <= 1.05x autodiff (`fit`, lr a number)"] is True        # 1.00
    assert met["W2: manual <= 1.05x autodiff (`fit`, `optax.sgd`, in `jit`)"] is False  # 1.20
    assert met["W5: manual <= 1.05x autodiff (`fit`, lr a number)"] is False       # 1.11
    assert met["W2: `vmap(fit)`, `optax.sgd` <= 1.0x the plain JAX peer (autodiff)"] is True
    assert met["W2: `vmap(fit)`, `optax.sgd` <= 1.15x the hand-written manual step"] is False
    assert met["W5: `fit`, `optax.sgd`, in `jit` <= 1.0x the plain JAX peer (autodiff)"] is True
    assert met["W5: `fit` with `optax.sgd` in `jit` within 5% of `fit` with a number"] is False
    assert met["`jaxbp gates`, first run (empty cache) <= 2.5x `import jax, jaxbp`"] is False
    assert met["`jaxbp gates`, a second run <= 1.5x `import jax, jaxbp`"] is True
