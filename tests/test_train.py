"""jaxbp.fit: correctness against independent references, mini-batch coverage, masks,
compilation counts (G8), errors (E31, E32), divergence after the scan, jit/vmap."""
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_drop_last_when_batch_size_does_not_divide_n():
    cost, seen = probe()
    x, y = ids(10)
    jaxbp.fit(PROBE_NET, PROBE_PARAMS, x, y, cost, 1e-3, steps=9, batch_size=3,
              key=jax.random.key(1))
    for e in range(3):
        order = sum(seen[e * 3:(e + 1) * 3], [])
        assert len(order) == len(set(order)) == 9  # one sample sits each epoch out


# --- trainable masks --------------------------------------------------------------------------

@pytest.mark.slow
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

@pytest.mark.slow
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
    assert count() == before
    run(params64(), X, Y, 0.5, l2=0.25)                     # a Python l2 is compiled in:
    run(params64(1), X, Y, 0.5, l2=0.25)                    # one program per value
    assert count() == (before[0] + 1, before[1] + 1)
    before = count()
    p32 = NET.init(jax.random.key(0))
    run(p32, X, Y, 0.5)                                     # float32: one new program
    run(p32, X, Y, 0.25)
    assert count() == (before[0] + 1, before[1] + 1)


@pytest.mark.slow
def test_minibatch_key_styles_share_a_program():
    run = lambda key: jaxbp.fit(NET, params64(), X, Y, "quadratic", 0.5, steps=STEPS,
                                batch_size=2, key=key)[1]
    h_new = run(jax.random.key(4))
    before = train.TRACES["fit"]
    h_old = run(jax.random.PRNGKey(4))
    assert train.TRACES["fit"] == before
    np.testing.assert_array_equal(h_new, h_old)


@pytest.mark.slow
def test_optax_objects_are_static():
    tx = optax.sgd(0.5)
    jaxbp.fit(NET, params64(), X, Y, "quadratic", tx, steps=STEPS)
    before = train.TRACES["fit"]
    jaxbp.fit(NET, params64(1), X, Y, "quadratic", tx, steps=STEPS)
    assert train.TRACES["fit"] == before
    jaxbp.fit(NET, params64(), X, Y, "quadratic", optax.sgd(0.5), steps=STEPS)  # documented
    assert train.TRACES["fit"] == before + 1


@pytest.mark.slow
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

@pytest.mark.slow
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
    with pytest.raises(jaxbp.NonFiniteError, match=r"non-finite loss at step 1 \(lr=20\.0\); "
                                                   r"last finite loss 0\.69") as info:
        jaxbp.fit(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, 20.0, steps=5)
    e = info.value
    assert str(e).startswith("fit: ") and "smaller learning rate" in str(e)
    assert e.step == 1 and np.isnan(e.history[1:]).all()
    np.testing.assert_allclose(e.history[0], np.log(2), rtol=1e-6)
    assert all(np.all(a == 0) for a in leaves(e.params))  # the step-0 params: loss ln 2
    with pytest.raises(jaxbp.NonFiniteError, match=r"step 1 \(lr=20\.0\)"):
        jaxbp.fit(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, jaxbp.optimizer("sgd", 20.0), steps=5)
    with pytest.raises(jaxbp.NonFiniteError, match=r"step 1 \(custom optimizer "):
        jaxbp.fit(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, optax.sgd(20.0), steps=5)


def test_non_finite_params_after_last_step_are_caught():
    """A finite loss whose update overflows: float32, inputs of 4000, learning rate 1e38."""
    with pytest.raises(jaxbp.NonFiniteError, match=r"^fit: non-finite parameters after the last "
                                                   r"step \(lr=1e\+38\); last finite "
                                                   r"loss 0\.125") as info:
        jaxbp.fit(UNIT, UNIT_PARAMS, OR_X * 1000, OR_Y, "quadratic", 1e38, steps=1)
    assert info.value.step == 1 and np.isfinite(info.value.history).all()
    assert all(np.all(a == 0) for a in leaves(info.value.params))


def test_e32_on_diverge_return():
    params, history = jaxbp.fit(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, 20.0, steps=5,
                                on_diverge="return")
    assert np.isfinite(history[0]) and np.isnan(history[1:]).all()
    assert all(np.all(a == 0) for a in leaves(params))
    assert int(jaxbp.diverged_at(history)) == 1


HUGE = ({"W": jnp.full((2, 1), 1e20, jnp.float32), "b": jnp.zeros((1,), jnp.float32)},)
DIVERGING = [  # every way a run can diverge: (params, x, cost, lr, fit's keywords)
    (UNIT_PARAMS, OR_X, NAIVE_BCE, 20.0, dict(steps=5)),                # a NaN loss
    (HUGE, OR_X, "quadratic", 0.1, dict(steps=3, l2=1.0)),              # inf from the L2 term
    (UNIT_PARAMS, OR_X, NAIVE_BCE, 20.0, dict(steps=6, batch_size=2,    # shuffled mini-batches
                                              key=jax.random.key(3))),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", range(len(DIVERGING)))
def test_divergence_under_jit_and_vmap(case):
    """Under jit/vmap nothing can be raised: the history is NaN from the failing step on --
    exactly the history eager fit reports -- diverged_at names that step per run, and a run
    that does not diverge is untouched by one that does."""
    params, x, cost, lr, kw = DIVERGING[case]
    with pytest.raises(jaxbp.NonFiniteError) as info:
        jaxbp.fit(UNIT, params, x, OR_Y, cost, lr, **kw)
    k = info.value.step
    _, h_jit = jax.jit(lambda p: jaxbp.fit(UNIT, p, x, OR_Y, cost, lr, **kw))(params)
    np.testing.assert_array_equal(h_jit, info.value.history)
    assert int(jaxbp.diverged_at(h_jit)) == k
    batch = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), UNIT_PARAMS, params)
    p_b, h_b = jax.vmap(lambda p, r: jaxbp.fit(UNIT, p, x, OR_Y, cost, r, **kw))(
        batch, jnp.array([1e-3, lr], jnp.float32))
    np.testing.assert_array_equal(np.asarray(jaxbp.diverged_at(h_b)), [-1, k])
    np.testing.assert_array_equal(h_b[1], info.value.history)
    ok_p, ok_h = jaxbp.fit(UNIT, UNIT_PARAMS, x, OR_Y, cost, 1e-3, **kw)
    np.testing.assert_allclose(h_b[0], ok_h, rtol=1e-6)
    for a, b in zip(leaves(p_b), leaves(ok_p)):
        np.testing.assert_allclose(a[0], b, rtol=1e-6)


@pytest.mark.slow
def test_diverged_at_on_hand_written_histories():
    h = np.array([[1.0, 0.5, 0.2], [1.0, np.nan, np.nan], [np.inf, np.nan, 3.0]])
    np.testing.assert_array_equal(np.asarray(jaxbp.diverged_at(h)), [-1, 1, 0])
    assert int(jaxbp.diverged_at(np.array([0.3, np.inf]))) == 1


@pytest.mark.slow
def test_a_python_zero_l2_drops_the_term_from_the_program():
    """l2 has one mechanism: a Python number is a constant of the program, and zero drops
    the sum of W**2 from it entirely (one integer_pow per layer fewer in the step)."""
    x, y = jnp.asarray(X), jnp.asarray(Y)
    p = params64()
    def count(l2):
        step = jaxbp.make_step(NET, "quadratic", 0.5, l2=l2)
        return str(jax.make_jaxpr(step)(p, step.init(p), x, y)).count("integer_pow")
    assert count(0.0) + len(p) == count(0.1)
    _, h0 = jaxbp.fit(NET, p, X, Y, "quadratic", 0.5, steps=3, l2=0.0)
    _, ht = jax.jit(lambda l2: jaxbp.fit(NET, p, X, Y, "quadratic", 0.5, steps=3, l2=l2))(0.0)
    np.testing.assert_allclose(h0, ht, rtol=1e-13)          # a traced zero: same numbers


def test_steps_that_cannot_run_are_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match=r"^fit: steps must be at most 2147483647 \(the step "
                                         r"counter is an int32\), got 1000000000000"):
        jaxbp.fit(NET, params64(), X, Y, "quadratic", 0.1, steps=10**12)
    with pytest.raises(ValueError, match=r"^fit: a history of 2000000000 losses .* does not fit"):
        monkeypatch.setattr(train, "_physical_memory", lambda: 2**30)
        jaxbp.fit(NET, params64(), X, Y, "quadratic", 0.1, steps=2 * 10**9)


def test_non_finite_params_are_rejected_before_training():
    bad = (dict(params64()[0], b=params64()[0]["b"].at[1].set(np.nan)), params64()[1])
    with pytest.raises(ValueError, match=r"^fit: params\[0\]\['b'\] contains 1 non-finite "
                                         r"value\(s\) \(first at index 1\)"):
        jaxbp.fit(NET, bad, X, Y, "quadratic", 0.1, steps=1)
    with pytest.raises(ValueError, match=r"^backprop: params\[0\]\['b'\] contains 1 non-finite"):
        jaxbp.backprop(NET, bad, X, Y, "quadratic")


def test_fit_is_keyword_only_after_steps():
    with pytest.raises(TypeError):
        jaxbp.fit(NET, params64(), X, Y, "quadratic", 0.1, 3, None)


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


@pytest.mark.slow
def test_inf_weights_behind_a_finite_loss_are_a_divergence():
    """With l2 == 0 there is no sum of W**2 to turn an inf weight into a NaN loss, and a
    saturated sigmoid can keep the loss finite with inf weights: the failure path checks
    the weights too. An optimizer that sets every weight to +inf in update 2 makes step 3
    the failing one, and the returned params are the finite ones of step 2."""
    net = jaxbp.MLP((40, 30, 1))
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
    # under jit the first non-finite *loss* is what shows: a step or two later
    _, h_jit = jax.jit(lambda p: jaxbp.fit(net, p, x, y, "quadratic", blow_up, steps=6))(params)
    assert int(jaxbp.diverged_at(h_jit)) >= 3 and np.isnan(h_jit[-1])
