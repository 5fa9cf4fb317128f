"""jaxbp.progress: reports from inside fit's compiled loop, without changing what it computes."""
import io

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxbp
from jaxbp import progress

NET = jaxbp.MLP((2, 3, 1))
X, Y = jaxbp.gates.truth_table("xor")


def _same(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for u, v in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def _recorder():
    calls = []
    return calls, lambda done, steps: calls.append((done, steps))


@pytest.mark.parametrize("steps", [1, 7, 10, 1005])
def test_scan_is_the_plain_scan_and_reports_in_order(steps):
    body = lambda c, i: (c * 0.5 + i, c + i)
    calls, report = _recorder()
    want = jax.lax.scan(body, jnp.float32(1.0), jnp.arange(steps, dtype=jnp.int32))
    got = jax.jit(lambda c: progress.scan(body, c, steps, report))(jnp.float32(1.0))
    _same(got, want)
    every = max(1, steps // progress.CHUNKS)
    expected = list(range(every, steps + 1, every))
    if expected[-1] != steps:
        expected.append(steps)
    assert calls == [(d, steps) for d in expected]


@pytest.mark.parametrize("kwargs", [
    pytest.param({}, id="full_batch"),
    pytest.param({"batch_size": 2, "key": jax.random.key(3)}, id="minibatch",
                 marks=pytest.mark.slow)])
def test_fit_with_progress_equals_fit_without(kwargs):
    params = NET.init(jax.random.key(0))
    calls, report = _recorder()
    plain = jaxbp.fit(NET, params, X, Y, "quadratic", 0.5, 253, **kwargs)
    reported = jaxbp.fit(NET, params, X, Y, "quadratic", 0.5, 253, progress=report, **kwargs)
    _same(reported, plain)
    assert calls[-1] == (253, 253) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) == progress.CHUNKS + 1  # 253 // CHUNKS steps a chunk, and the rest


@pytest.mark.parametrize("grad, optimizer", [
    pytest.param("manual", 0.5, id="runs_last_kernel"),
    pytest.param("autodiff", "adam", id="plain_vmap", marks=pytest.mark.slow)])
def test_under_jit_and_vmap_one_report_per_chunk_for_all_runs(grad, optimizer):
    runs = jax.vmap(NET.init)(jax.random.split(jax.random.key(1), 16))
    opt = optax.adam(0.05) if optimizer == "adam" else optimizer
    calls, report = _recorder()

    def many(progress):
        return jax.jit(jax.vmap(lambda p: jaxbp.fit(NET, p, X, Y, "quadratic", opt, 120, grad=grad,
                                                   progress=progress)))(runs)
    _same(many(report), many(None))
    every = 120 // progress.CHUNKS
    assert calls == [(d, 120) for d in range(every, 121, every)]


def test_progress_true_prints_lines_ending_at_all_steps(monkeypatch):
    err = io.StringIO()  # not a terminal: one line per report
    monkeypatch.setattr("sys.stderr", err)
    jaxbp.fit(NET, NET.init(jax.random.key(0)), X, Y, "quadratic", 0.5, 100, progress=True)
    lines = err.getvalue().splitlines()
    assert len(lines) == progress.CHUNKS
    every = 100 // progress.CHUNKS
    assert lines[0].startswith(f"fit: {every}/100 steps ({every}%)")
    assert lines[-1] == "fit: 100/100 steps (100%)"
    assert all("s left" in line for line in lines[1:-1])


def test_print_progress_rewrites_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    out = Terminal()
    for done in (50, 100, 150, 200):
        progress.print_progress(done, 200, file=out)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("fit: 200/200 steps (100%)\n")
    assert text.count("\r\033[K") == 4


@pytest.mark.parametrize("bad", ["yes", 1, 0.5])
def test_a_bad_progress_is_a_type_error_naming_it(bad):
    with pytest.raises(TypeError, match=r"fit: progress must be True, False, None or a callable"):
        jaxbp.fit(NET, NET.init(jax.random.key(0)), X, Y, "quadratic", 0.5, 10, progress=bad)
