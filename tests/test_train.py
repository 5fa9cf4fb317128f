"""jaxbp.fit and jaxbp.train.fit_epochs: correctness against independent references,
mini-batch coverage, masks, compilation counts (G8), errors (E31, E32), jit/vmap."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxbp
from jaxbp import train
from jaxbp.costs import Cost, cross_entropy, quadratic

X = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
Y = np.array([[0.], [1.], [1.], [0.]])
NET = jaxbp.MLP((2, 3, 1))
STEPS = 10  # most runs share this (and NET, X, Y, quadratic): fewer programs to compile


def params64(seed=0, net=NET):
    return net.init(jax.random.key(seed), dtype=jnp.float64)


def leaves(tree):
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(tree)]


def regression(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)), rng.uniform(0.1, 0.9, (n, 1))


# --- the numbers ------------------------------------------------------------------------------

def test_full_batch_sgd_equals_hand_loop_with_jax_grad():
    """Plain gradient descent, l2 on the weights only: history[t] is the loss before step t."""
    lr, l2, steps = 0.7, 0.05, STEPS
    params, history = jaxbp.fit(NET, params64(), X, Y, "quadratic", lr, steps=steps, l2=l2)

    def loss(p):
        h = jax.nn.sigmoid(X @ p[0]["W"] + p[0]["b"][None, :])
        a = jax.nn.sigmoid(h @ p[1]["W"] + p[1]["b"][None, :])
        return jnp.mean(0.5 * jnp.sum((a - Y) ** 2, axis=1)) \
            + 0.5 * l2 * (jnp.sum(p[0]["W"] ** 2) + jnp.sum(p[1]["W"] ** 2))

    p, value_and_grad = params64(), jax.jit(jax.value_and_grad(loss))
    for t in range(steps):
        value, grads = value_and_grad(p)
        np.testing.assert_allclose(history[t], value, rtol=1e-13)
        p = jax.tree_util.tree_map(lambda a, g: a - lr * g, p, grads)
    for a, b in zip(leaves(params), leaves(p)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", ["quadratic_sgd_full_batch", "softmax_adam_minibatch"])
def test_manual_equals_autodiff_history(case):
    if case == "quadratic_sgd_full_batch":
        net, x, y, cost, opt, kw = NET, X, Y, "quadratic", 2.0, dict(steps=STEPS, l2=0.01)
    else:
        net, cost, opt = jaxbp.MLP((2, 4, 3), "tanh", "softmax"), "softmax_cross_entropy", \
            jaxbp.optimizer("adam", 0.05)
        x, _ = regression(12)
        y = (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 0).astype(np.int32)
        kw = dict(steps=40, batch_size=5, key=jax.random.key(3), l2=0.01)
    p0 = params64(1, net)
    pm, hm = jaxbp.fit(net, p0, x, y, cost, opt, grad="manual", **kw)
    pa, ha = jaxbp.fit(net, p0, x, y, cost, opt, grad="autodiff", **kw)
    np.testing.assert_allclose(hm, ha, rtol=1e-10)
    for a, b in zip(leaves(pm), leaves(pa)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert np.mean(hm[-3:]) < np.mean(hm[:3])


# --- mini-batches -----------------------------------------------------------------------------

SEEN = []  # filled by PROBE: the sample numbers of every batch, in order


def _probe_value(z, y, act):
    jax.debug.callback(lambda ids: SEEN.append(np.asarray(ids).astype(int).tolist()),
                       y[:, 0], ordered=True)
    return quadratic.value(z, y, act)


# A quadratic cost that records which samples each step used: the targets are their numbers.
PROBE = Cost("probe", _probe_value, quadratic.delta)


def probe():
    SEEN.clear()
    return PROBE, SEEN


PROBE_NET = jaxbp.MLP((1, 1), output="identity")
PROBE_PARAMS = ({"W": jnp.zeros((1, 1)), "b": jnp.zeros((1,))},)


def ids(n):
    x = np.arange(n, dtype=np.float64)[:, None]
    return x, x.copy()


def test_minibatches_cover_every_sample_once_per_epoch():
    cost, seen = probe()
    x, y = ids(12)
    jaxbp.fit(PROBE_NET, PROBE_PARAMS, x, y, cost, 1e-3, steps=9, batch_size=3,
              key=jax.random.key(0))
    assert [len(b) for b in seen] == [3] * 9
    epochs = [sum(seen[e * 4:(e + 1) * 4], []) for e in range(2)]
    for order in epochs:
        assert sorted(order) == list(range(12))
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    assert seen[8] != seen[0]


def test_drop_last_when_batch_size_does_not_divide_n():
    cost, seen = probe()
    x, y = ids(10)
    jaxbp.fit(PROBE_NET, PROBE_PARAMS, x, y, cost, 1e-3, steps=9, batch_size=3,
              key=jax.random.key(1))
    for e in range(3):
        order = sum(seen[e * 3:(e + 1) * 3], [])
        assert len(order) == len(set(order)) == 9  # one sample sits each epoch out


def test_fit_epochs_short_last_batch_two_shapes_one_compile():
    """E31: with drop_last=False every sample is used once per epoch, in batches of 3 and a
    last one of 1 -- two batch shapes, one compiled epoch program."""
    cost, seen = probe()
    x, y = ids(10)
    before = train.TRACES["fit_epochs"]
    train.fit_epochs(PROBE_NET, PROBE_PARAMS, x, y, cost, 1e-3, 3, 3, jax.random.key(1))
    assert train.TRACES["fit_epochs"] == before + 1
    assert [len(b) for b in seen] == [3, 3, 3, 1] * 3
    for e in range(3):
        assert sorted(sum(seen[e * 4:(e + 1) * 4], [])) == list(range(10))
    # The same key gives fit's epochs, plus the short batch.
    with_short = list(seen)
    probe()
    jaxbp.fit(PROBE_NET, PROBE_PARAMS, x, y, cost, 1e-3, steps=9, batch_size=3,
              key=jax.random.key(1))
    assert seen == [b for b in with_short if len(b) == 3]


def test_fit_epochs_drop_last_equals_fit():
    x, y = regression(11, seed=2)
    opt = jaxbp.optimizer("adam", 0.02)
    pe, he = train.fit_epochs(NET, params64(), x, y, "quadratic", opt, 4, 3, jax.random.key(5),
                              drop_last=True)
    pf, hf = jaxbp.fit(NET, params64(), x, y, "quadratic", opt, steps=12, batch_size=3,
                       key=jax.random.key(5))
    np.testing.assert_allclose(he.losses.reshape(-1), hf, rtol=1e-12)
    np.testing.assert_allclose(he.train_cost, hf.reshape(4, 3).mean(axis=1), rtol=1e-12)
    for a, b in zip(leaves(pe), leaves(pf)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_fit_epochs_scores_the_test_set(capsys):
    x, y = regression(16, seed=3)
    xt, yt = regression(9, seed=4)
    params, h = train.fit_epochs(NET, params64(), x, y, "quadratic", 1.0, 3, 4,
                                 jax.random.key(0), test=(xt, yt), progress=True)
    assert h.train_cost.shape == (3,) and h.losses.shape == (3, 4) and h.test_total == 9
    out = NET.apply(params, xt)
    expected = int(np.sum((out[:, 0] > 0.5) == (yt[:, 0] > 0.5)))
    assert h.test_correct[-1] == expected
    cost = np.mean(0.5 * np.sum((np.asarray(out) - yt) ** 2, axis=1))
    np.testing.assert_allclose(h.test_cost[-1], cost, rtol=1e-12)
    np.testing.assert_allclose(h.test_accuracy, h.test_correct / 9)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Epoch {e}: {c} / 9" for e, c in enumerate(h.test_correct)]
    assert h.compile_seconds >= 0 and h.train_seconds > 0


def test_fit_epochs_argmax_accuracy_and_no_recompile():
    net = jaxbp.MLP((2, 5, 3), "tanh", "softmax")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 2))
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    run = lambda lr: train.fit_epochs(net, params64(0, net), x, labels, "softmax_cross_entropy",
                                      lr, 2, 7, jax.random.key(2), test=(x, labels))
    params, h = run(0.5)
    predicted = np.asarray(net.apply(params, x)).argmax(axis=1)
    assert h.test_correct[-1] == np.sum(predicted == labels)
    before = train.TRACES["fit_epochs"]
    run(0.5)
    run(0.25)  # a new learning rate: same program
    assert train.TRACES["fit_epochs"] == before


# --- trainable masks --------------------------------------------------------------------------

def test_frozen_leaves_are_bit_identical():
    p0 = params64()
    p0 = (dict(p0[0], b=p0[0]["b"].at[0].set(-0.0)), p0[1])  # -0.0 + 0.0 would be +0.0
    trainable = ({"W": True, "b": False}, {"W": False, "b": True})
    params, _ = jaxbp.fit(NET, p0, X, Y, "quadratic", optax.adam(0.1), steps=STEPS,
                          trainable=trainable, l2=0.1)
    assert np.asarray(params[0]["b"]).tobytes() == np.asarray(p0[0]["b"]).tobytes()
    assert np.asarray(params[1]["W"]).tobytes() == np.asarray(p0[1]["W"]).tobytes()
    assert not np.array_equal(params[0]["W"], p0[0]["W"])
    assert not np.array_equal(params[1]["b"], p0[1]["b"])


def test_mask_prefix_one_bool_per_layer_and_hand_reference():
    """Freezing layer 0 entirely == gradient descent on layer 1 alone (jax.grad)."""
    lr = 0.9
    params, history = jaxbp.fit(NET, params64(), X, Y, "quadratic", lr, steps=STEPS,
                                trainable=(False, True))
    p = params64()

    def loss(top):
        h = jax.nn.sigmoid(X @ p[0]["W"] + p[0]["b"][None, :])
        return jnp.mean(0.5 * jnp.sum((jax.nn.sigmoid(h @ top["W"] + top["b"][None, :]) - Y) ** 2, axis=1))

    top, grad = p[1], jax.jit(jax.grad(loss))
    for _ in range(STEPS):
        top = jax.tree_util.tree_map(lambda a, g: a - lr * g, top, grad(top))
    assert all(np.asarray(a).tobytes() == np.asarray(b).tobytes()
               for a, b in zip(leaves(params[0]), leaves(p[0])))
    for a, b in zip(leaves(params[1]), leaves(top)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_params_as_a_list_of_layers():
    p_list = list(params64())
    params, history = jaxbp.fit(NET, p_list, X, Y, "quadratic", 0.9, steps=STEPS,
                                trainable=[False, True])
    reference = jaxbp.fit(NET, params64(), X, Y, "quadratic", 0.9, steps=STEPS,
                          trainable=(False, True))
    assert isinstance(params, tuple)
    np.testing.assert_array_equal(history, reference[1])


def test_bad_trainable():
    with pytest.raises(ValueError, match=r"^fit: trainable must have the structure of params"):
        jaxbp.fit(NET, params64(), X, Y, "quadratic", 0.1, steps=1, trainable=(True,))
    with pytest.raises(TypeError, match=r"^fit: trainable must hold Python bools, got str"):
        jaxbp.fit(NET, params64(), X, Y, "quadratic", 0.1, steps=1, trainable=("yes", True))


# --- compilation (G8) -------------------------------------------------------------------------

def test_one_trace_per_shape_and_dtype_not_per_value():
    run = lambda p, x, y, opt, **kw: jaxbp.fit(NET, p, x, y, "quadratic", opt, steps=STEPS, **kw)
    run(params64(), X, Y, 0.5)
    count = lambda: (train.TRACES["fit"], train._run._cache_size())
    before = count()
    run(params64(1), X + 1, Y, 0.5)                         # other values
    run(params64(), X, Y, 0.7)                              # another learning rate
    run(params64(), X, Y, jaxbp.optimizer("sgd", 0.9))      # the same as a number
    run(params64(), X.astype(np.float32), Y.astype(int), 0.5)  # cast to the params dtype
    run(params64(), X, Y, 0.5, key=jax.random.key(3))       # key unused with full batch
    run(params64(), X, Y, 0.5, l2=0.25)                     # l2 is traced too
    assert count() == before
    p32 = NET.init(jax.random.key(0))
    run(p32, X, Y, 0.5)                                     # float32: one new program
    run(p32, X, Y, 0.25)
    assert count() == (before[0] + 1, before[1] + 1)


def test_a_concrete_zero_l2_on_a_big_net_compiles_a_loop_without_the_l2_term():
    """For nets whose weight_decay skips its sum at l2 == 0, a concrete zero is made a
    constant of the loop (no lax.cond reading every W each step); a nonzero l2 compiles
    one more program, after which l2 values are traced. The results are those of the
    traced-l2 program at l2 = 0."""
    from jaxbp.costs import skips_l2_sum
    big = jaxbp.MLP((40, 30, 2))
    p = big.init(jax.random.key(0), dtype=jnp.float64)
    assert skips_l2_sum(p) and not skips_l2_sum(params64())
    zero = jnp.zeros((), jnp.float64)
    assert train._loop_l2(p, 0.0, zero) is None and train._loop_l2(p, zero, zero) is None
    assert train._loop_l2(p, 0.1, zero + 0.1) is not None
    assert train._loop_l2(params64(), 0.0, zero) is zero     # small nets: l2 stays traced
    seen = []
    jax.make_jaxpr(lambda l2: seen.append(train._loop_l2(p, l2, l2)) or l2)(zero)
    assert isinstance(seen[0], jax.core.Tracer)               # a traced zero stays traced
    jax.make_jaxpr(lambda q: seen.append(train._loop_l2(q, 0, zero)) or q[0]["W"])(p)
    assert seen[1] is None                                    # a number, inside a user's jit

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 40)), rng.uniform(0.1, 0.9, (16, 2))
    run = lambda p, l2: jaxbp.fit(big, p, x, y, "quadratic", 0.5, STEPS, l2=l2)
    count = lambda: train.TRACES["fit"]
    p_const, h_const = run(p, 0.0)
    before = count()
    run(big.init(jax.random.key(1), dtype=jnp.float64), 0)    # another zero: same program
    assert count() == before
    p_traced, h_traced = jax.jit(run)(p, 0.0)                 # l2 traced: the lax.cond kept
    np.testing.assert_allclose(h_const, h_traced, rtol=1e-13)
    for a, b in zip(leaves(p_const), leaves(p_traced)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    from jaxbp import _checks
    from jaxbp.optim import resolve
    cost, xc, yc, l2 = _checks.prepare("fit", big, p, x, y, "quadratic")
    static, values, _ = resolve("fit", 0.5, xc.dtype)
    hlo = lambda l2: train._run.lower(
        p, xc, yc, None, l2, values, net=big, cost=cost, optimizer=static, labels=None,
        steps=STEPS, batch_size=None, grad="manual", guard=False).compile().as_text()
    assert "conditional" not in hlo(None) and "conditional" in hlo(l2)  # the cond is gone
    before = count()
    run(p, 0.1)
    assert count() == before + 1                              # nonzero: one more program
    run(p, 0.2)
    run(p, 0.0)
    assert count() == before + 1


def test_minibatch_key_styles_share_a_program():
    run = lambda key: jaxbp.fit(NET, params64(), X, Y, "quadratic", 0.5, steps=STEPS,
                                batch_size=2, key=key)[1]
    h_new = run(jax.random.key(4))
    before = train.TRACES["fit"]
    h_old = run(jax.random.PRNGKey(4))
    assert train.TRACES["fit"] == before
    np.testing.assert_array_equal(h_new, h_old)


def test_optax_objects_are_static():
    tx = optax.sgd(0.5)
    jaxbp.fit(NET, params64(), X, Y, "quadratic", tx, steps=STEPS)
    before = train.TRACES["fit"]
    jaxbp.fit(NET, params64(1), X, Y, "quadratic", tx, steps=STEPS)
    assert train.TRACES["fit"] == before
    jaxbp.fit(NET, params64(), X, Y, "quadratic", optax.sgd(0.5), steps=STEPS)  # documented
    assert train.TRACES["fit"] == before + 1


@pytest.mark.parametrize("dtype, tol", [(jnp.float64, 1e-12), (jnp.float32, 1e-6)])
def test_jitted_and_eager_agree(dtype, tol):
    """G8 both ways: jax.disable_jit() (the scan runs step by step in Python) and fit inside
    a user's jax.jit, against the plain call."""
    p0 = NET.init(jax.random.key(0), dtype=dtype)
    kw = dict(steps=3, l2=0.1)
    p_jit, h_jit = jaxbp.fit(NET, p0, X, Y, "quadratic", 0.5, **kw)
    with jax.disable_jit():
        p_eager, h_eager = jaxbp.fit(NET, p0, X, Y, "quadratic", 0.5, **kw)
    p_outer, h_outer = jax.jit(lambda p: jaxbp.fit(NET, p, X, Y, "quadratic", 0.5, **kw))(p0)
    assert h_jit.dtype == dtype
    for other_p, other_h in ((p_eager, h_eager), (p_outer, h_outer)):
        np.testing.assert_allclose(other_h, h_jit, rtol=tol, atol=tol)
        for a, b in zip(leaves(other_p), leaves(p_jit)):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# --- many runs at once ------------------------------------------------------------------------

def test_vmap_over_seeds_and_learning_rates_equals_separate_runs():
    """The sweep fast path: one vmapped fit over (seed, learning rate) pairs; each seed sets
    the initial params and the mini-batch order."""
    keys = jax.random.split(jax.random.key(0), 4)
    rates = jnp.array([0.5, 1.0, 2.0, 4.0])
    x, y = regression(10, seed=1)

    def run(key, lr):
        init_key, shuffle_key = jax.random.split(key)
        params = NET.init(init_key, dtype=jnp.float64)
        return jaxbp.fit(NET, params, x, y, "quadratic", lr, steps=STEPS, batch_size=4,
                         key=shuffle_key)

    params_b, hist_b = jax.jit(jax.vmap(run))(keys, rates)
    for i in range(4):
        p_i, h_i = run(keys[i], float(rates[i]))
        np.testing.assert_allclose(hist_b[i], h_i, rtol=1e-12)
        for a, b in zip(leaves(params_b), leaves(p_i)):
            np.testing.assert_allclose(a[i], b, rtol=1e-12, atol=1e-14)


# --- divergence (E32) -------------------------------------------------------------------------

def _naive_bce(z, y, act):
    a = jax.nn.sigmoid(z)
    return -jnp.sum(y * jnp.log(a) + (1 - y) * jnp.log(1 - a), axis=-1)


NAIVE_BCE = Cost("naive_bce", _naive_bce, cross_entropy.delta, "sigmoid")
OR_X = np.array([[0, 0], [0, 4], [4, 0], [4, 4]], np.float32)   # OR gate, inputs scaled by 4
OR_Y = np.array([[0], [1], [1], [1]], np.float32)
UNIT = jaxbp.MLP((2, 1))
UNIT_PARAMS = ({"W": jnp.zeros((2, 1), jnp.float32), "b": jnp.zeros((1,), jnp.float32)},)


def test_e32_divergence_raises_with_the_specified_message():
    """lr 20 with a naive-log BCE in float32: ln 2 at step 0, log(0) at step 1."""
    with pytest.raises(jaxbp.NonFiniteError, match=r"non-finite loss at step 1 \(learning_rate=20\.0\); "
                                                   r"last finite loss 0\.69") as info:
        jaxbp.fit(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, 20.0, steps=5)
    e = info.value
    assert str(e).startswith("fit: ") and "smaller learning rate" in str(e)
    assert e.step == 1 and np.isnan(e.history[1:]).all()
    np.testing.assert_allclose(e.history[0], np.log(2), rtol=1e-6)
    assert all(np.all(a == 0) for a in leaves(e.params))  # the step-0 params: loss ln 2
    with pytest.raises(jaxbp.NonFiniteError, match=r"step 1 \(learning_rate=20\.0\)"):
        jaxbp.fit(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, jaxbp.optimizer("sgd", 20.0), steps=5)
    with pytest.raises(jaxbp.NonFiniteError, match=r"step 1 \(custom optimizer "):
        jaxbp.fit(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, optax.sgd(20.0), steps=5)


def test_e32_on_diverge_return_and_under_vmap():
    params, history = jaxbp.fit(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, 20.0, steps=5,
                                on_diverge="return")
    assert np.isfinite(history[0]) and np.isnan(history[1:]).all()
    assert all(np.all(a == 0) for a in leaves(params))
    # Under jit the per-step bookkeeping gives the same result as fit's replay.
    p_jit, h_jit = jax.jit(lambda p: jaxbp.fit(UNIT, p, OR_X, OR_Y, NAIVE_BCE, 20.0, steps=5))(UNIT_PARAMS)
    np.testing.assert_array_equal(h_jit, history)
    assert all(np.array_equal(a, b) for a, b in zip(leaves(p_jit), leaves(params)))
    # vmap: the diverging run freezes, the others are untouched.
    run = lambda lr: jaxbp.fit(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, lr, steps=5)
    p_b, h_b = jax.vmap(run)(jnp.array([0.1, 20.0], jnp.float32))
    assert np.isnan(h_b[1, 1:]).all() and all(np.all(a[1] == 0) for a in leaves(p_b))
    p_ok, h_ok = run(0.1)
    np.testing.assert_array_equal(h_b[0], h_ok)


def test_guard_under_jit_and_vmap_equals_eager_divergence_handling():
    """Under jit/vmap the plain loop only raises an alarm (a cheap sufficient condition for
    a finite loss) and alarmed runs are replayed with the per-step bookkeeping; every way a
    run can diverge must give exactly what eager fit's replay gives: a NaN loss (lr 20 on
    the naive cross-entropy), an inf loss from the L2 term alone (weights of 1e20 squared
    overflow float32), finite losses but non-finite params after the last update, and
    shuffled mini-batches (the replay must redraw the same permutations)."""
    huge = ({"W": jnp.full((2, 1), 1e20, jnp.float32), "b": jnp.zeros((1,), jnp.float32)},)
    cases = [
        (UNIT_PARAMS, OR_X, NAIVE_BCE, 20.0, dict(steps=5)),
        (huge, OR_X, "quadratic", 0.1, dict(steps=3, l2=1.0)),
        (UNIT_PARAMS, OR_X * 1000, "quadratic", 1e38, dict(steps=1)),
        (UNIT_PARAMS, OR_X, NAIVE_BCE, 20.0, dict(steps=6, batch_size=2,
                                                  key=jax.random.key(3))),
    ]
    for params, x, cost, lr, kw in cases:
        want_p, want_h = jaxbp.fit(UNIT, params, x, OR_Y, cost, lr, on_diverge="return", **kw)
        assert np.isnan(want_h).any() or kw["steps"] == 1
        got_p, got_h = jax.jit(lambda p: jaxbp.fit(UNIT, p, x, OR_Y, cost, lr, **kw))(params)
        np.testing.assert_array_equal(got_h, want_h)
        assert all(np.array_equal(a, b) for a, b in zip(leaves(got_p), leaves(want_p)))
        # vmap with a run that never diverges: it is untouched, the other one frozen
        ok_p, ok_h = jaxbp.fit(UNIT, params if params is UNIT_PARAMS else UNIT_PARAMS, x, OR_Y,
                               cost, 1e-3, **kw)
        batch = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]),
                                       UNIT_PARAMS if params is not UNIT_PARAMS else params,
                                       params)
        p_b, h_b = jax.vmap(lambda p, r: jaxbp.fit(UNIT, p, x, OR_Y, cost, r, **kw))(
            batch, jnp.array([1e-3, lr], jnp.float32))
        np.testing.assert_array_equal(h_b[1], want_h)
        np.testing.assert_allclose(h_b[0], ok_h, rtol=1e-6)
        assert all(np.array_equal(a[1], b) for a, b in zip(leaves(p_b), leaves(want_p)))


def test_non_finite_params_after_last_step_are_caught():
    """A finite loss whose update overflows: float32, inputs of 4000, learning rate 1e38."""
    with pytest.raises(jaxbp.NonFiniteError, match=r"^fit: non-finite parameters after the last "
                                                   r"step \(learning_rate=1e\+38\); last finite "
                                                   r"loss 0\.125") as info:
        jaxbp.fit(UNIT, UNIT_PARAMS, OR_X * 1000, OR_Y, "quadratic", 1e38, steps=1)
    assert info.value.step == 1 and np.isfinite(info.value.history).all()
    assert all(np.all(a == 0) for a in leaves(info.value.params))


def test_fit_epochs_divergence():
    """One step per epoch (batch_size = n = 4): step 1 is epoch 1's."""
    with pytest.raises(jaxbp.NonFiniteError, match=r"^fit_epochs: non-finite loss at step 1 "
                                                   r"\(epoch 1\) \(learning_rate=20\.0\); last finite loss 0\.69"):
        train.fit_epochs(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, 20.0, 3, 4, jax.random.key(0))
    params, h = train.fit_epochs(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, 20.0, 3, 4,
                                 jax.random.key(0), on_diverge="return")
    assert h.losses.shape == (2, 1) and np.isnan(h.losses[1, 0])
    assert all(np.all(a == 0) for a in leaves(params))


# --- bad input (E31 and the rest of fit's arguments) ------------------------------------------

@pytest.mark.parametrize("kw, error, pattern", [
    (dict(steps=0), ValueError, r"^fit: steps must be an int > 0, got 0$"),
    (dict(steps=-3), ValueError, r"^fit: steps must be an int > 0, got -3$"),
    (dict(steps=2.0), TypeError, r"^fit: steps must be an int, got float 2\.0$"),
    (dict(steps=True), TypeError, r"^fit: steps must be an int, got bool True$"),
    (dict(steps="5"), TypeError, r"^fit: steps must be an int, got str '5'$"),
    (dict(steps=5, batch_size=0, key=jax.random.key(0)), ValueError,
     r"^fit: batch_size must be an int in \[1, 4\], got 0$"),
    (dict(steps=5, batch_size=5, key=jax.random.key(0)), ValueError,
     r"^fit: batch_size must be an int in \[1, 4\], got 5$"),
    (dict(steps=5, batch_size=2.5, key=jax.random.key(0)), TypeError,
     r"^fit: batch_size must be an int, got float 2\.5$"),
    (dict(steps=5, batch_size=2), ValueError, r"^fit: batch_size=2 shuffles mini-batches and needs key"),
    (dict(steps=5, batch_size=2, key=3), TypeError, r"^fit: key must be a PRNG key"),
    (dict(steps=5, grad="manaul"), ValueError, r"^fit: unknown grad 'manaul'; expected one of "
                                               r"\['autodiff', 'manual'\] \(did you mean 'manual'\?\)"),
    (dict(steps=5, on_diverge="ignore"), ValueError, r"^fit: on_diverge must be 'raise' or 'return'"),
    (dict(steps=5, l2=-0.1), ValueError, r"^fit: l2 must be a finite float >= 0, got -0\.1"),
])
def test_fit_bad_arguments(kw, error, pattern):
    with pytest.raises(error, match=pattern):
        jaxbp.fit(NET, params64(), X, Y, "quadratic", 0.1, **kw)


@pytest.mark.parametrize("kw, error, pattern", [
    (dict(epochs=0), ValueError, r"^fit_epochs: epochs must be an int > 0, got 0$"),
    (dict(epochs=1.5), TypeError, r"^fit_epochs: epochs must be an int, got float 1\.5$"),
    (dict(batch_size=0), ValueError, r"^fit_epochs: batch_size must be an int in \[1, 4\], got 0$"),
    (dict(batch_size=9), ValueError, r"^fit_epochs: batch_size must be an int in \[1, 4\], got 9$"),
    (dict(key=None), ValueError, r"^fit_epochs: batch_size=2 shuffles mini-batches and needs key"),
    (dict(test=X), TypeError, r"^fit_epochs: test must be a pair \(x_test, y_test\)"),
    (dict(test=(X, Y[:3])), ValueError, r"^fit_epochs \(test data\): x has 4 rows but y has 3"),
    (dict(drop_last="no"), TypeError, r"^fit_epochs: drop_last must be a bool"),
])
def test_fit_epochs_bad_arguments(kw, error, pattern):
    args = dict(epochs=2, batch_size=2, key=jax.random.key(0))
    args.update(kw)
    with pytest.raises(error, match=pattern):
        train.fit_epochs(NET, params64(), X, Y, "quadratic", 0.1, **args)


def test_fit_epochs_refuses_to_be_traced():
    with pytest.raises(TypeError, match=r"^fit_epochs: params, x and y must be concrete arrays"):
        jax.jit(lambda p: train.fit_epochs(NET, p, X, Y, "quadratic", 0.1, 1, 2,
                                           jax.random.key(0))[1].train_cost)(params64())


# --- data-parallel hook -----------------------------------------------------------------------

def test_mesh_of_one_device_changes_nothing():
    parallel = pytest.importorskip("jaxbp.parallel")
    x, y = regression(8, seed=5)
    kw = dict(steps=10, batch_size=4, key=jax.random.key(0))
    p1, h1 = jaxbp.fit(NET, params64(), x, y, "quadratic", 0.5, **kw)
    p2, h2 = jaxbp.fit(NET, params64(), x, y, "quadratic", 0.5, mesh=parallel.make_mesh(1), **kw)
    np.testing.assert_allclose(h1, h2, rtol=1e-12)
    _, he = train.fit_epochs(NET, params64(), x, y, "quadratic", 0.5, 2, 3, jax.random.key(0),
                             mesh=parallel.make_mesh(1))
    assert he.losses.shape == (2, 3) and np.isfinite(he.losses).all()


def test_fit_epochs_inside_jit_with_everything_closed_over_is_a_clear_error():
    net = jaxbp.MLP((2, 2, 1))
    params = net.init(jax.random.key(0))
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    with pytest.raises(TypeError, match=r"fit_epochs: .*cannot run inside jax\.jit"):
        jax.jit(lambda: train.fit_epochs(net, params, x, y, "quadratic", 0.5, 2, 2,
                                         jax.random.key(0), progress=False))()


def test_debug_names_the_operation_that_makes_the_first_nan():  # E15's opt-in debug mode
    net = jaxbp.MLP((1, 1), output="identity")
    params = ({"W": jnp.ones((1, 1), jnp.float32), "b": jnp.zeros(1, jnp.float32)},)
    x, y = np.array([[1e20]], np.float32), np.array([[0.0]], np.float32)
    # (1e20 - 0)**2 overflows to inf; the gradient step then makes inf - inf = nan.
    with pytest.raises(FloatingPointError, match=r"invalid value \(nan\) encountered in") as info:
        jaxbp.fit(net, params, x, y, "quadratic", 1.0, steps=3, debug=True)
    assert not isinstance(info.value, jaxbp.NonFiniteError)
    with pytest.raises(jaxbp.NonFiniteError):
        jaxbp.fit(net, params, x, y, "quadratic", 1.0, steps=3)


def test_inf_weights_behind_a_finite_loss_are_a_divergence():
    """With l2 == 0 a big net's weight_decay skips its sum of W**2 -- which used to turn an inf
    weight into a NaN loss (0 * inf). A saturated sigmoid can keep the loss finite with inf
    weights, so the bookkeeping checks the weights itself: an optimizer that sets every
    weight to +inf in update 2 makes step 3 the failing one, as before, and the returned
    params are the finite ones of step 2."""
    from jaxbp import costs
    net = jaxbp.MLP((40, 30, 1))
    assert 40 * 30 + 30 >= costs.SKIP_L2_MIN_WEIGHTS
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    x = jax.random.uniform(jax.random.key(1), (8, 40), jnp.float64, 0.1, 1.0)   # all > 0
    y = jnp.ones((8, 1))

    def init(p):
        return jnp.zeros((), jnp.int32)

    def update(grads, count, p=None):
        inf = jnp.where(count == 2, jnp.inf, 0.0)
        return tuple({"W": -0.1 * g["W"] + inf, "b": -0.1 * g["b"]} for g in grads), count + 1

    blow_up = optax.GradientTransformation(init, update)
    with pytest.raises(jaxbp.NonFiniteError, match=r"non-finite loss at step 3") as info:
        jaxbp.fit(net, params, x, y, "quadratic", blow_up, steps=6)
    assert info.value.step == 3
    assert np.isfinite(info.value.history[:3]).all() and np.isnan(info.value.history[3:]).all()
    assert all(np.isfinite(a).all() for a in leaves(info.value.params))
    # the same under jit (the traced guard's alarm, then the replay)
    p_jit, h_jit = jax.jit(lambda p: jaxbp.fit(net, p, x, y, "quadratic", blow_up, steps=6))(params)
    np.testing.assert_array_equal(h_jit, info.value.history)
