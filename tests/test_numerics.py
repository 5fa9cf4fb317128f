"""Numbers stay finite and accurate at extreme inputs (RELIABILITY.md E23-E28, G5, G6).

Every test here turns RuntimeWarnings into errors: numpy overflow warnings fail the suite.
Expected values come from jax.grad, mpmath at 50 digits, optax, or hand computation.
"""
from functools import partial

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import optax
import pytest
from hypothesis import example, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import jaxbp
from jaxbp.activations import ACTIVATIONS
from jaxbp.autodiff import _value_and_grad
from jaxbp.backprop import _trace
from jaxbp.costs import COSTS

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

FIXED = [0.0, 1e-9, 17.0, 37.0, 88.7, 89.0, 100.0, 709.8, 710.0, 1e4, 1e9]
FIXED = FIXED + [-z for z in FIXED[1:]]                       # 21 points
ALL_FIXED = np.asarray(FIXED + [0.5, -0.5, 3.0]).reshape(4, 6)   # every fixed point, one array
HIDDEN = ("sigmoid", "tanh", "relu", "identity")
PAIRS = (("quadratic", "sigmoid"), ("quadratic", "tanh"), ("quadratic", "identity"),
         ("quadratic", "relu"), ("cross_entropy", "sigmoid"), ("softmax_cross_entropy", "softmax"))
DTYPES = (jnp.float32, jnp.float64)
values = st.one_of(st.floats(-1e4, 1e4, allow_nan=False), st.sampled_from(FIXED))
blocks = hnp.arrays(np.float64, (4, 6), elements=values)


def targets(dtype):
    """Targets for every cost: soft ones in [0, 1] and one-hot rows."""
    y = jnp.asarray(np.linspace(0, 1, 24).reshape(4, 6), dtype)
    return y, jax.nn.one_hot(jnp.asarray([0, 5, 2, 3]), 6, dtype=dtype)


def all_finite(tree):
    return all(bool(jnp.isfinite(a).all()) for a in jax.tree_util.tree_leaves(tree))


# ---------------------------------------------------------------- G5: elementwise

@jax.jit
def elementwise(z, y, one_hot):
    """Every activation and derivative at z, and every cost, its BP1 delta and the
    jax.grad of its value with respect to the logits z."""
    out = {}
    for name in HIDDEN:
        out[name] = (ACTIVATIONS[name].fn(z), ACTIVATIONS[name].prime(z))
    out["softmax"] = (ACTIVATIONS["softmax"].fn(z), None)
    for cost_name, output in PAIRS:
        cost, act = COSTS[cost_name], ACTIVATIONS[output]
        t = one_hot if cost_name == "softmax_cross_entropy" else y
        value = cost.value(z, t, act)
        auto = jax.grad(lambda u: jnp.sum(cost.value(u, t, act)))(z)
        out[cost_name + "/" + output] = (value, cost.delta(z, t, act), auto)
    return out


@pytest.mark.slow
@settings(max_examples=80)
@given(blocks)
@example(ALL_FIXED)
def test_G5_activations_and_costs_are_finite(z64):
    for dtype in DTYPES:
        z = jnp.asarray(z64, dtype)
        out = elementwise(z, *targets(dtype))
        assert all_finite(out), dtype
        s, ds = out["sigmoid"]
        assert (0 <= s).all() and (s <= 1).all() and (0 <= ds).all() and (ds <= 0.25).all()
        t, dt = out["tanh"]
        assert (jnp.abs(t) <= 1).all() and (0 <= dt).all() and (dt <= 1).all()
        r, dr = out["relu"]
        assert (r >= 0).all() and set(np.unique(dr)) <= {0.0, 1.0}
        np.testing.assert_allclose(out["softmax"][0].sum(axis=1), 1, rtol=4 * np.finfo(dtype).eps)
        for pair in ("cross_entropy/sigmoid", "softmax_cross_entropy/softmax"):
            value, delta, auto = out[pair]
            assert (value >= 0).all()
            assert (jnp.abs(delta) <= 1).all() and (jnp.abs(auto) <= 1).all()   # G6: in [-1, 1]
            np.testing.assert_allclose(delta, auto, rtol=0, atol=16 * np.finfo(dtype).eps)


# ---------------------------------------------------------------- G5: whole networks

def _nets():
    """Every hidden activation x (cost, output) pair as a 6-6-6 net whose hidden weighted
    inputs are exactly x (W0 = I, b0 = 0), and every pair as a one-layer 6-6 net whose
    logits are exactly x."""
    for hidden in HIDDEN:
        for cost, output in PAIRS:
            yield jaxbp.MLP((6, 6, 6), hidden, output), cost
    for cost, output in PAIRS:
        yield jaxbp.MLP((6, 6), output=output), cost


def _params(net, dtype):
    eye = {"W": jnp.eye(6, dtype=dtype), "b": jnp.zeros(6, dtype)}
    mix = {"W": jnp.asarray(np.linspace(-1, 1, 36).reshape(6, 6) / 6, dtype), "b": jnp.zeros(6, dtype)}
    return (eye,) if len(net.sizes) == 2 else (eye, mix)


@jax.jit
def network_grads_finite(x, y, one_hot):
    """For every net of :func:`_nets`: are the manual trace (loss, zs, activations, deltas,
    grads) and the autodiff (loss, grads) all finite? One bool per net and kernel."""
    flags = []
    for net, cost_name in _nets():
        cost = COSTS[cost_name]
        t = one_hot if cost_name == "softmax_cross_entropy" else y
        params, l2 = _params(net, x.dtype), jnp.asarray(0.1, x.dtype)
        for result in (_trace(net, cost, params, x, t, l2), _value_and_grad(net, cost, params, x, t, l2)):
            flags.append(jnp.all(jnp.asarray([jnp.isfinite(a).all() for a in jax.tree_util.tree_leaves(result)])))
    return jnp.stack(flags).reshape(-1, 2)


@pytest.mark.slow
@settings(max_examples=40)
@given(blocks)
@example(ALL_FIXED)
def test_G5_manual_and_autodiff_grads_are_finite(x64):
    for dtype in DTYPES:
        finite = np.asarray(network_grads_finite(jnp.asarray(x64, dtype), *targets(dtype)))
        bad = [(net, cost, kernel) for (net, cost), row in zip(_nets(), finite)
               for kernel, ok in zip(("manual", "autodiff"), row) if not ok]
        assert not bad, (dtype, bad)


# ---------------------------------------------------------------- G6: accuracy

def _bce_reference(z, y):
    """-(y ln sigmoid z + (1 - y) ln(1 - sigmoid z)), the textbook formula, to 50 significant
    digits. 1 - sigmoid(z) cancels down to exp(-|z|), so the working precision is raised by
    |z| / ln 10 digits to keep 50 digits in the result."""
    with mpmath.workdps(60 + int(abs(z) / 2.302585)):
        z, y = mpmath.mpf(z), mpmath.mpf(y)
        sigmoid = 1 / (1 + mpmath.exp(-z))
        return float(-(y * mpmath.log(sigmoid) + (1 - y) * mpmath.log(1 - sigmoid)))


@pytest.mark.slow
@pytest.mark.parametrize("dtype, rtol, atol", [(np.float32, 1e-6, 1e-37), (np.float64, 1e-13, 1e-300)])
def test_G6_bce_matches_50_digit_reference(dtype, rtol, atol):
    magnitudes = np.logspace(-9, 4, 53)
    z = np.concatenate([magnitudes, -magnitudes]).astype(dtype)
    for y in (0.0, 0.3, 1.0):
        t = np.full_like(z, y)
        got = np.asarray(jaxbp.cross_entropy.value(jnp.asarray(z)[:, None], jnp.asarray(t)[:, None],
                                                   jaxbp.activations.sigmoid))
        want = np.asarray([_bce_reference(float(u), float(v)) for u, v in zip(z, t)])
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"y={y}")
        np.testing.assert_allclose(got, optax.sigmoid_binary_cross_entropy(z, t), rtol=1e-6,
                                   atol=atol)                                      # E24


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [2, 3, 8])
def test_G6_softmax_ce_uniform_rows_is_log_k(dtype, k):
    z = jnp.asarray([[1e4] * k, [-1e4] * k, [0.0] * k], dtype)
    y = jax.nn.one_hot(jnp.asarray([0, k - 1, 1]), k, dtype=dtype)
    value = jaxbp.softmax_cross_entropy.value(z, y, jaxbp.activations.softmax)
    np.testing.assert_allclose(value, np.log(k), rtol=2 * np.finfo(dtype).eps, atol=0)


@settings(max_examples=80)
@given(hnp.arrays(np.float64, (4, 5), elements=st.floats(-30, 30)),
       st.lists(st.integers(0, 4), min_size=4, max_size=4))
def test_G6_softmax_ce_is_shift_invariant(z, labels):
    y = jax.nn.one_hot(jnp.asarray(labels), 5, dtype=jnp.float64)
    value = lambda u: jaxbp.softmax_cross_entropy.value(jnp.asarray(u), y, jaxbp.activations.softmax)
    np.testing.assert_allclose(value(z + 1e6), value(z), rtol=0, atol=1e-9)


def test_G6_bce_large_logits_anchor_in_both_dtypes():
    # wrong by |z| costs |z|; right costs exp(-|z|) (0 after underflow), never NaN
    for dtype in DTYPES:
        z = jnp.asarray([[1e4], [-1e4], [1e9], [-1e9]], dtype)
        y = jnp.asarray([[0.0], [1.0], [1.0], [0.0]], dtype)
        value = jaxbp.cross_entropy.value(z, y, jaxbp.activations.sigmoid)
        np.testing.assert_allclose(value, [1e4, 1e4, 0.0, 0.0], rtol=1e-7, atol=0)


# ---------------------------------------------------------------- E27 / E28 through the net

@pytest.mark.parametrize("dtype", DTYPES)
def test_E27_saturated_quadratic_grads_finite_and_equal_to_autodiff(dtype):
    net = jaxbp.MLP((1, 2, 1))
    p = ({"W": jnp.asarray([[30.0, -30.0]], dtype), "b": jnp.zeros(2, dtype)},
         {"W": jnp.asarray([[20.0], [20.0]], dtype), "b": jnp.zeros(1, dtype)})
    x, y = jnp.asarray([[1.0], [-1.0]], dtype), jnp.asarray([[0.0], [0.0]], dtype)
    loss, grads = jaxbp.backprop(net, p, x, y, "quadratic")
    _, auto = jaxbp.autodiff(net, p, x, y, "quadratic")
    assert all_finite((loss, grads))
    np.testing.assert_allclose(loss, 0.5, rtol=1e-6)               # output stuck at 1
    for g, a in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(auto)):
        assert np.abs(g).max() < 1e-7                                # learning slowdown
        np.testing.assert_allclose(g, a, rtol=1e-5 if dtype == jnp.float32 else 1e-12, atol=1e-30)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_E28_relu_at_zero_matches_jax_grad_on_gate(dtype):
    net = jaxbp.MLP((2, 3, 1), hidden="relu")
    p = net.init(jax.random.key(4), dtype=dtype)
    p = ({"W": p[0]["W"], "b": jnp.zeros(3, dtype)}, p[1])            # (0, 0) -> z == 0
    x = jnp.asarray([[0, 0], [0, 1], [1, 0], [1, 1]], dtype)
    y = jnp.asarray([[0], [0], [0], [1]], dtype)
    for cost in ("quadratic", "cross_entropy"):
        manual, auto = jaxbp.backprop(net, p, x, y, cost), jaxbp.autodiff(net, p, x, y, cost)
        for g, a in zip(jax.tree_util.tree_leaves(manual), jax.tree_util.tree_leaves(auto)):
            np.testing.assert_allclose(g, a, rtol=4 * np.finfo(dtype).eps, atol=4 * np.finfo(dtype).eps)
    z = jnp.asarray([-1.0, 0.0, 1e-30, 1.0], dtype)
    np.testing.assert_array_equal(ACTIVATIONS["relu"].prime(z), [0, 0, 1, 1])
    np.testing.assert_array_equal(jax.vmap(jax.grad(jax.nn.relu))(z), [0, 0, 1, 1])
