"""jaxbp.sweep: many XOR runs in one compiled call.

References: jaxbp.fit run one at a time; plain jax.vmap of one run's loop; hand-set weights
whose outputs are known; the Wilson interval computed by hand and from published tables;
the XOR literature's success rates (2-2-1 sigmoid, full-batch GD, ~75-83% at 10,000 steps
from unit-scale inits). The demo table (demos/sweep_grid.py) is tested in test_sweep_grid.py.
"""
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp
from jaxbp import runs_last, sweep

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


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("net, cost", [
    (jaxbp.MLP((2, 2, 1)), "quadratic"),
    (jaxbp.MLP((2, 4, 3, 1), hidden="tanh"), "cross_entropy"),
])
def test_train_many_equals_plain_vmap_of_one_run(net, cost):
    """train_many runs jax.vmap of run_one, which custom_vmap turns into the runs-last
    kernel; plain jax.vmap of the same run_one (no rule attached) must give the same runs
    and the same solved steps -- up to rounding: the unrolled sums round like XLA's dot
    but not bit for bit, and a sensitive run amplifies that (hence 60 steps here)."""
    params_batch = sweep.init_batch(net, jax.random.key(7), 16, "uniform", dtype=jnp.float64)
    lr = np.geomspace(0.2, 0.8, 16)
    before = runs_last.TRACES["runs_last"]
    fast = sweep.train_many(net, params_batch, X, Y, cost, lr, 60)
    assert runs_last.TRACES["runs_last"] == before + 1   # the kernel ran (a new program)
    c = jaxbp.COSTS[cost]
    one = partial(sweep.run_one, net=net, cost=c, optimizer=jaxbp.make_step(net, c, 1.0).optimizer,
                  steps=60, threshold=0.5)
    params, solved = jax.jit(jax.vmap(
        lambda p, rate: one(p, X, Y, None, {"lr": rate}, None)))(params_batch, lr)
    slow = jax.jit(jax.vmap(partial(sweep._finish, net, c, x=X, y=Y, threshold=0.5)))(params, solved)
    for a, b in zip(jax.tree_util.tree_leaves(fast.params), jax.tree_util.tree_leaves(slow.params)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    np.testing.assert_array_equal(fast.steps_to_solve, slow.steps_to_solve)
    np.testing.assert_array_equal(fast.mode, slow.mode)


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_small_init_wide_net_nearly_always_solves():
    # small init U(-0.12, 0.12), cross-entropy, lr 2, 50,000 steps, 2-3-1: > 99% expected
    net = jaxbp.MLP((2, 3, 1))
    params = sweep.init_batch(net, jax.random.key(5), 200, "small")
    assert float(jnp.max(jnp.abs(params[0]["W"]))) <= 0.12
    res = sweep.train_many(net, params, X.astype(jnp.float32), Y.astype(jnp.float32),
                           "cross_entropy", 2.0, 50000)
    assert int(res.solved.sum()) >= 197


@pytest.mark.slow
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
])
def test_bad_input(call, error, match):
    net = jaxbp.MLP((2, 2, 1))
    with pytest.raises(error, match=match):
        call(net, sweep.init_batch(net, jax.random.key(0), 3))


@pytest.mark.slow
def test_default_sweep_takes_the_runs_last_path():
    """The demo's nets must take the runs-last kernel (the rule says so, and train_many
    really runs it): a change that lost it would only make the sweep slower, silently."""
    for width in (2, 3, 4, 8):
        assert runs_last.unsupported(jaxbp.MLP((2, width, 1)), "manual", 4) is None
    net = jaxbp.MLP((2, 8, 1))
    params_batch = sweep.init_batch(net, jax.random.key(0), 4, "uniform")
    before = runs_last.TRACES["runs_last"]
    sweep.train_many(net, params_batch, X.astype(jnp.float32), Y.astype(jnp.float32),
                     "cross_entropy", 0.5, 7)
    assert runs_last.TRACES["runs_last"] == before + 1


def test_wilson_interval_takes_a_jax_count():
    assert sweep.wilson_interval(jnp.sum(jnp.array([True, True, False])), 3) == \
        sweep.wilson_interval(2, 3)
