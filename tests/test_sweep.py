"""jaxbp.sweep: many XOR runs in one compiled call, and the `jaxbp sweep` demo.

References: jaxbp.fit run one at a time; hand-set weights whose outputs are known; the
Wilson interval computed by hand and from published tables; the XOR literature's
success rates (2-2-1 sigmoid, full-batch GD, ~75-83% at 10,000 steps from unit-scale inits).
"""
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp
from jaxbp import sweep
from jaxbp.demos import sweep as demo

X = jnp.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
Y = jnp.array([[0.], [1.], [1.], [0.]])


def test_wilson_interval_by_hand():
    z = 1.959963984540054
    for k, n in [(8, 10), (0, 10), (10, 10), (37, 200)]:
        p = k / n
        center = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        lo, hi = sweep.wilson_interval(k, n)
        assert lo == pytest.approx(max(0.0, center - half), abs=1e-12)
        assert hi == pytest.approx(min(1.0, center + half), abs=1e-12)
    # published table values (Wilson 1927 score interval, 95%)
    assert sweep.wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert sweep.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    with pytest.raises(ValueError, match=r"^wilson_interval: expected 0 <= k <= n and n > 0, got k=11, n=10"):
        sweep.wilson_interval(11, 10)
    with pytest.raises(TypeError, match=r"^wilson_interval: k must be an int, got float"):
        sweep.wilson_interval(1.0, 10)


def test_train_many_equals_fit_one_run_at_a_time():
    net = jaxbp.MLP((2, 3, 1))
    params_batch = sweep.init_batch(net, jax.random.key(4), 3, "uniform", dtype=jnp.float64)
    lr = np.array([0.5, 2.0, 4.0])
    res = sweep.train_many(net, params_batch, X, Y, "quadratic", lr, 400)
    for r in range(3):
        params = jax.tree_util.tree_map(lambda a: a[r], params_batch)
        want, _ = jaxbp.fit(net, params, X, Y, "quadratic", float(lr[r]), steps=400)
        for got_leaf, want_leaf in zip(jax.tree_util.tree_leaves(res.params),
                                       jax.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(got_leaf[r], want_leaf, rtol=1e-12, atol=1e-14)
        out = net.apply(want, X)
        np.testing.assert_allclose(res.outputs[r], out, rtol=1e-12)
        assert res.loss[r] == pytest.approx(float(jaxbp.loss(net, want, X, Y, "quadratic")), rel=1e-12)
        assert bool(res.solved[r]) == bool(np.all((out > 0.5) == (Y > 0.5)))


@pytest.mark.parametrize("net, cost, l2_cond", [
    (jaxbp.MLP((2, 2, 1)), "quadratic", False),
    (jaxbp.MLP((2, 4, 3, 1), hidden="tanh"), "cross_entropy", False),
    (jaxbp.MLP((2, 3, 1)), "quadratic", True),
])
def test_runs_last_loop_equals_vmap_fallback(net, cost, l2_cond, monkeypatch):
    """train_many runs its loop with the runs on the last axis (an interpreter over the
    per-run step's jaxpr); with that path switched off it falls back to jax.vmap of
    train_one. Both must give the same runs and the same solved steps -- up to rounding:
    the unrolled sums round like XLA's dot but not always bit for bit, and a sensitive
    run amplifies that over hundreds of steps (hence 60 steps here). ``l2_cond``: the
    net is treated as big enough for weight_decay's ``lax.cond``, which the interpreter
    must handle too."""
    from jaxbp import costs
    train_one = sweep.train_one
    calls = []
    monkeypatch.setattr(sweep, "train_one", lambda *a, **k: calls.append(1) or train_one(*a, **k))
    if l2_cond:
        monkeypatch.setattr(costs, "SKIP_L2_MIN_WEIGHTS", 1)
    params_batch = sweep.init_batch(net, jax.random.key(7), 16, "uniform", dtype=jnp.float64)
    lr = np.geomspace(0.2, 0.8, 16)
    sweep._train_many.clear_cache()   # trace again, and once more after the test
    try:
        fast = sweep.train_many(net, params_batch, X, Y, cost, lr, 60)
        assert not calls  # the runs-last path was taken
        monkeypatch.setattr(sweep, "_MAX_UNROLL", 0)   # every dot_general is "unsupported"
        sweep._train_many.clear_cache()
        slow = sweep.train_many(net, params_batch, X, Y, cost, lr, 60)
    finally:
        sweep._train_many.clear_cache()
    assert calls  # the fallback ran
    for a, b in zip(jax.tree_util.tree_leaves(fast.params), jax.tree_util.tree_leaves(slow.params)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    np.testing.assert_array_equal(fast.steps_to_solve, slow.steps_to_solve)
    np.testing.assert_array_equal(fast.mode, slow.mode)


def test_steps_to_solve_is_the_first_solved_step():
    net = jaxbp.MLP((2, 2, 1))
    params_batch = sweep.init_batch(net, jax.random.key(1), 6, "uniform", dtype=jnp.float64)
    res = sweep.train_many(net, params_batch, X, Y, "cross_entropy", 2.0, 1500)
    solved_runs = np.flatnonzero(np.asarray(res.steps_to_solve) > 1)
    assert solved_runs.size >= 2
    r = solved_runs[0]
    s = int(res.steps_to_solve[r])
    before, _ = jaxbp.fit(net, jax.tree_util.tree_map(lambda a: a[r], params_batch), X, Y,
                          "cross_entropy", 2.0, steps=s - 1)
    after, _ = jaxbp.fit(net, before, X, Y, "cross_entropy", 2.0, steps=1)
    right = [bool(np.all((net.apply(p, X) > 0.5) == (Y > 0.5))) for p in (before, after)]
    assert right == [False, True]
    never = np.asarray(res.steps_to_solve) < 0
    assert not np.asarray(res.solved)[never].any()


def _hand_params(W1, b1, W2, b2):
    """One hand-set 2-2-1 net as a batch of one run."""
    layer = lambda W, b: {"W": jnp.asarray(W, jnp.float64)[None], "b": jnp.asarray(b, jnp.float64)[None]}
    return (layer(W1, b1), layer(W2, b2))


@pytest.mark.parametrize("name, params", [
    # XOR = AND(OR, NAND): outputs ~0/1/1/0
    ("solved", _hand_params([[20, -20], [20, -20]], [-10, 30], [[20], [20]], [-30])),
    # OR: (1,1) gives ~1, clearly wrong; the other three right
    ("one-wrong", _hand_params([[20, 0], [20, 0]], [-10, 0], [[20], [0]], [-10])),
    # only (1,0) switches h1 on: output ~1 there, exactly 0.5 on the other three
    ("undecided", _hand_params([[20, 0], [-20, 0]], [-10, 0], [[20], [0]], [0])),
    # all weights zero: every output 0.5
    ("plateau", _hand_params([[0, 0], [0, 0]], [0, 0], [[0], [0]], [0])),
    # XNOR: all four clearly wrong
    ("other", _hand_params([[20, -20], [20, -20]], [-30, 10], [[20], [20]], [-10])),
    ("diverged", _hand_params([[np.nan, 0], [0, 0]], [0, 0], [[1], [1]], [0])),
])
def test_failure_modes_on_hand_set_weights(name, params):
    net = jaxbp.MLP((2, 2, 1))
    res = sweep.train_many(net, params, X, Y, "quadratic", 1e-12, 1)   # lr ~0: weights stay
    assert sweep.MODES[int(res.mode[0])] == name
    assert bool(res.solved[0]) == (name == "solved")
    assert int(res.steps_to_solve[0]) == (0 if name == "solved" else -1)


def test_xor_success_rate_is_in_the_literature_ballpark():
    # 2-2-1 sigmoid, full-batch GD, quadratic cost (mean over the 4 patterns), lr 2,
    # U(-1, 1) init, 10,000 steps: the literature reports about 75-83% solved.
    net = jaxbp.MLP((2, 2, 1))
    params = sweep.init_batch(net, jax.random.key(11), 200, "uniform")
    x, y = X.astype(jnp.float32), Y.astype(jnp.float32)
    res = sweep.train_many(net, params, x, y, "quadratic", 2.0, 10000)
    k = int(res.solved.sum())
    lo, hi = sweep.wilson_interval(k, 200)
    assert lo <= 0.83 and hi >= 0.75, (k, lo, hi)       # the CI overlaps the ballpark
    assert 0.6 <= k / 200 <= 0.95
    modes = np.bincount(np.asarray(res.mode), minlength=len(sweep.MODES))
    assert modes[sweep.MODES.index("undecided")] > modes[sweep.MODES.index("one-wrong")]


def test_small_init_wide_net_nearly_always_solves():
    # small init U(-0.12, 0.12), cross-entropy, lr 2, 50,000 steps, 2-3-1: > 99% expected
    net = jaxbp.MLP((2, 3, 1))
    params = sweep.init_batch(net, jax.random.key(5), 200, "small")
    assert float(jnp.max(jnp.abs(params[0]["W"]))) <= 0.12
    res = sweep.train_many(net, params, X.astype(jnp.float32), Y.astype(jnp.float32),
                           "cross_entropy", 2.0, 50000)
    assert int(res.solved.sum()) >= 197


def test_init_batch_runs_equal_net_init():
    net = jaxbp.MLP((2, 4, 1))
    key = jax.random.key(2)
    for init in ("uniform", "default"):
        scale, dist = sweep.INITS[init]
        batch = sweep.init_batch(net, key, 2, init)
        for r, k in enumerate(jax.random.split(key, 2)):
            want = net.init(k, scale=scale, distribution=dist)
            for a, b in zip(jax.tree_util.tree_leaves(batch), jax.tree_util.tree_leaves(want)):
                np.testing.assert_array_equal(a[r], b)
    small = sweep.init_batch(net, key, 500, "small")
    leaves = np.concatenate([np.ravel(a) for a in jax.tree_util.tree_leaves(small)])
    assert leaves.min() >= -0.12 and leaves.max() <= 0.12 and leaves.std() > 0.05


@pytest.mark.parametrize("call, error, match", [
    (lambda n, p: sweep.train_many(n, p, X, Y, "quadratic", np.ones(2), 5), ValueError,
     r"^train_many: lr must be a scalar or have shape \(3,\) \(one per run\), got shape \(2,\)"),
    (lambda n, p: sweep.train_many(n, p, X, Y, "quadratic", np.array([1., -1., 1.]), 5), ValueError,
     r"^train_many: lr must be finite and > 0, got -1\.0 for run 1"),
    (lambda n, p: sweep.train_many(n, p, X, Y, "quadratic", 1.0, 0), ValueError,
     r"^train_many: steps must be an int > 0, got 0"),
    (lambda n, p: sweep.train_many(n, p, X, Y[:, 0], "quadratic", 1.0, 5), ValueError,
     r"^train_many: y shape \(4,\) does not match network output shape \(4, 1\)"),
    (lambda n, p: sweep.train_many(n, p[0], X, Y, "quadratic", 1.0, 5), TypeError,
     r"^train_many: params must be a tuple"),
    (lambda n, p: sweep.init_batch(n, jax.random.key(0), 3, "smal"), ValueError,
     r"^init_batch: unknown init 'smal'.*\(did you mean 'small'\?\)"),
    (lambda n, p: sweep.run_grid(widths=[0]), ValueError, r"^run_grid: widths\[i\] must be an int > 0, got 0"),
])
def test_bad_input(call, error, match):
    net = jaxbp.MLP((2, 2, 1))
    with pytest.raises(error, match=match):
        call(net, sweep.init_batch(net, jax.random.key(0), 3))


def test_demo_table_states_its_conditions_and_plots(tmp_path, capsys):
    png = tmp_path / "rate.png"
    argv = ["--runs", "40", "--steps", "300", "--widths", "2", "4", "--init", "uniform",
            "--cost", "cross_entropy", "--lr", "2", "--seed", "3", "--plot", str(png)]
    assert demo.main(argv) == 0
    out = capsys.readouterr().out
    assert "all four XOR outputs are on the right side of 0.5" in out       # criterion, once
    rows = re.findall(r"^\s*(\d) +(\w+) +(\w+) +(\S+) +(\d+) +(\d+) +(\S+)% \[ *(\S+), *(\S+)\]%",
                      out, re.M)
    assert [r[:6] for r in rows] == [("2", "uniform", "cross_entropy", "2", "300", "40"),
                                     ("4", "uniform", "cross_entropy", "2", "300", "40")]
    for r in rows:            # rate, then its Wilson interval, both in percent
        k = round(float(r[6]) * 40 / 100)
        lo, hi = sweep.wilson_interval(k, 40)
        assert float(r[7]) == pytest.approx(100 * lo, abs=0.051)
        assert float(r[8]) == pytest.approx(100 * hi, abs=0.051)
    image = pytest.importorskip("matplotlib.image").imread(png)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert float(np.std(image[..., :3])) > 0.01          # not blank


def test_demo_rejects_bad_options(capsys):
    assert demo.main(["--runs", "0"]) == 2
    assert "runs must be an int > 0, got 0" in capsys.readouterr().err


def test_default_sweep_takes_the_runs_last_path(monkeypatch):
    """The fast path must really be taken for the demo's nets: a jax upgrade that breaks the
    interpreter would otherwise only make the sweep slower, silently."""
    calls = []
    train_one = sweep.train_one
    monkeypatch.setattr(sweep, "train_one", lambda *a, **k: calls.append(1) or train_one(*a, **k))
    sweep._train_many.clear_cache()
    try:
        for width in (2, 8):
            net = jaxbp.MLP((2, width, 1))
            params_batch = sweep.init_batch(net, jax.random.key(0), 4, "uniform")
            for cost in ("quadratic", "cross_entropy"):
                sweep.train_many(net, params_batch, X, Y, cost, 0.5, 3)
    finally:
        sweep._train_many.clear_cache()
    assert not calls


def test_wilson_interval_takes_a_jax_count():
    assert sweep.wilson_interval(jnp.sum(jnp.array([True, True, False])), 3) == \
        sweep.wilson_interval(2, 3)
