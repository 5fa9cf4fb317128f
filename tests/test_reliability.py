"""RELIABILITY.md E1-E28, E33, E36-E40: one test per case, each asserting the exception type
and the message regex of the spec (G7), plus the sweep that no raw jax/numpy error reaches
the user and that every gradient function works under jit and vmap.

The numerics cases E23-E28 have their anchors here; the hypothesis sweeps are in
test_numerics.py. The file cases E36-E39 are covered in depth in test_io.py.
"""
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxbp
from jaxbp import MLP, ParamsFileError

KEY = jax.random.key(0)
NET = MLP((2, 3, 1))
PARAMS = NET.init(KEY, dtype=jnp.float64)
X = jnp.asarray([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = jnp.asarray([[0.0], [1.0], [1.0], [0.0]])
SOFT = MLP((2, 3, 3), output="softmax")
SOFT_PARAMS = SOFT.init(KEY, dtype=jnp.float64)
X3 = X[:3]
GRAD_FNS = ("backprop", "autodiff", "loss", "trace", "check_grads")


def call(name, *args, **kwargs):
    return getattr(jaxbp, name)(*args, **kwargs)


def assert_same_tree(a, b, **tol):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), **tol)


# ---------------------------------------------------------------- architecture (E1-E9)

@pytest.mark.parametrize("sizes, shown", [([3], r"\[3\]"), ([], r"\[\]")])
def test_E1_too_few_sizes(sizes, shown):
    with pytest.raises(ValueError, match=r"^MLP: sizes must have at least 2 entries \(input and "
                                         r"output\), got " + shown):
        MLP(sizes)


@pytest.mark.parametrize("bad", [0, -1])
def test_E2_non_positive_size(bad):
    with pytest.raises(ValueError, match=rf"sizes\[1\] must be a positive int, got {bad}"):
        MLP([3, bad, 1])


@pytest.mark.parametrize("bad, name", [(True, "bool"), (2.0, "float"), ("3", "str"),
                                       (np.bool_(True), "bool")])
def test_E3_non_int_size(bad, name):
    with pytest.raises(TypeError, match=rf"^MLP: sizes\[0\] must be an int, got {name}"):
        MLP([bad, 3])
    assert MLP([np.int64(2), np.int32(3)]).sizes == (2, 3)   # numpy ints are ints


def test_E4_unknown_activation_with_hint():
    with pytest.raises(ValueError, match=r"unknown activation 'sigmoud'; expected one of "
                                         r"\['identity', 'relu', 'sigmoid', 'softmax', 'tanh'\] "
                                         r"\(did you mean 'sigmoid'\?\)"):
        MLP((2, 2, 1), hidden="sigmoud")
    with pytest.raises(ValueError, match=r"unknown activation 'ReLU '.*did you mean 'relu'"):
        MLP((2, 1), output="ReLU ")
    with pytest.raises(TypeError, match=r"^MLP: activations must be a sequence of names"):
        MLP((2, 1), activations="sigmoid")      # a bare str is not one name per layer


def test_E5_activation_count():
    with pytest.raises(ValueError, match=r"got 3 activations for 2 layers"):
        MLP((2, 2, 1), activations=("tanh", "tanh", "sigmoid"))


def test_E6_softmax_placement():
    with pytest.raises(ValueError, match=r"softmax is only valid on the output layer with >= 2 "
                                         r"units \(layer 1 has 1 unit\)"):
        MLP((2, 2, 1), output="softmax")
    with pytest.raises(ValueError, match=r"softmax is only valid on the output layer.*layer 0"):
        MLP((2, 2, 3), hidden="softmax", output="softmax")


def test_E7_cost_output_pairing():
    with pytest.raises(ValueError, match=r"^backprop: cost 'softmax_cross_entropy' requires a "
                                         r"'softmax' output layer, got 'sigmoid'"):
        jaxbp.backprop(NET, PARAMS, X, Y, "softmax_cross_entropy")
    linear = MLP((2, 3, 1), output="identity")
    with pytest.raises(ValueError, match=r"cost 'cross_entropy' requires a 'sigmoid' output "
                                         r"layer, got 'identity'"):
        jaxbp.loss(linear, linear.init(KEY), X, Y, "cross_entropy")
    with pytest.raises(ValueError, match=r"cost 'quadratic' cannot follow a 'softmax' output"):
        jaxbp.autodiff(SOFT, SOFT_PARAMS, X3, jnp.eye(3), "quadratic")


def test_E8_unknown_cost_with_hint():
    with pytest.raises(ValueError, match=r"^autodiff: unknown cost 'quadratc'; expected one of "
                                         r"\['cross_entropy', 'quadratic', "
                                         r"'softmax_cross_entropy'\] \(did you mean 'quadratic'\?\)"):
        jaxbp.autodiff(NET, PARAMS, X, Y, "quadratc")
    with pytest.raises(TypeError, match=r"^backprop: cost must be a name \(str\), got int"):
        jaxbp.backprop(NET, PARAMS, X, Y, 3)


@pytest.mark.parametrize("l2, exc, shown", [(-0.1, ValueError, r"-0\.1"), (float("nan"), ValueError, "nan"),
                                            (float("inf"), ValueError, "inf"),
                                            ("0.1", TypeError, "str '0.1'"), (True, TypeError, "bool True")])
def test_E9_bad_l2(l2, exc, shown):
    with pytest.raises(exc, match=rf"^backprop: l2 must be a finite float >= 0, got {shown}"):
        jaxbp.backprop(NET, PARAMS, X, Y, "quadratic", l2=l2)


# ---------------------------------------------------------------- inputs and targets (E10-E22)

def test_E10_wrong_number_of_features():
    with pytest.raises(ValueError, match=r"^backprop: layer 0 expects 2 input features, got x "
                                         r"with shape \(4, 5\)"):
        jaxbp.backprop(NET, PARAMS, jnp.ones((4, 5)), Y, "quadratic")
    with pytest.raises(ValueError, match=r"^MLP.apply: layer 0 expects 2 input features"):
        NET.apply(PARAMS, jnp.ones((4, 5)))


def test_E11_one_sample_and_bad_rank():
    one = jaxbp.backprop(NET, PARAMS, X[1], Y[1], "quadratic")
    batch_of_one = jaxbp.backprop(NET, PARAMS, X[1:2], Y[1:2], "quadratic")
    assert_same_tree(one, batch_of_one, rtol=0, atol=0)
    assert NET.apply(PARAMS, X[1]).shape == (1,)                 # one sample in, one out
    assert NET.apply(PARAMS, X).shape == (4, 1)
    assert jaxbp.trace(NET, PARAMS, X[1], Y[1], "quadratic").zs[-1].shape == (1, 1)
    for bad in (jnp.ones((2, 3, 4)), jnp.ones(())):
        shape = re.escape(str(tuple(bad.shape)))
        with pytest.raises(ValueError, match=r"x must be 1-D \(one sample\) or 2-D \(batch, "
                                             rf"features\), got shape {shape}"):
            jaxbp.backprop(NET, PARAMS, bad, Y, "quadratic")


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
def test_E12_target_shape_never_broadcast(cost):
    with pytest.raises(ValueError, match=r"y shape \(4,\) does not match network output shape "
                                         r"\(4, 1\)"):
        jaxbp.loss(NET, PARAMS, X, Y[:, 0], cost)
    with pytest.raises(ValueError, match=r"y shape \(4, 2\) does not match network output shape "
                                         r"\(4, 1\)"):
        jaxbp.loss(NET, PARAMS, X, jnp.ones((4, 2)), cost)


def test_E13_batch_size_mismatch():
    with pytest.raises(ValueError, match=r"^backprop: x has 4 rows but y has 3"):
        jaxbp.backprop(NET, PARAMS, X, Y[:3], "quadratic")
    with pytest.raises(ValueError, match=r"x has 3 rows but y has 2"):
        jaxbp.backprop(SOFT, SOFT_PARAMS, X3, jnp.asarray([0, 1]), "softmax_cross_entropy")


def test_E14_empty_batch():
    with pytest.raises(ValueError, match=r"empty batch: x has 0 rows"):
        jaxbp.backprop(NET, PARAMS, jnp.ones((0, 2)), jnp.ones((0, 1)), "quadratic")


def test_E15_value_check_of_a_jax_array_runs_once(monkeypatch):
    """A jax array is immutable: once found finite it is not scanned again (fit on 60,000 x
    784 inputs saves a 13 ms pass per call). A non-finite one is never remembered, and
    a freed array is forgotten (its id may be reused)."""
    import gc
    from jaxbp import _checks
    x, y = X + 0.0, np.asarray(Y)   # a new jax array; numpy targets
    assert not _checks._known_finite(x)
    jaxbp.backprop(NET, PARAMS, x, y, "quadratic")
    assert _checks._known_finite(x)
    calls = []
    real = _checks._check_finite
    monkeypatch.setattr(_checks, "_check_finite",
                        lambda fn, name, a, original: calls.append(name) or real(fn, name, a, original))
    scanned = []
    real_scan = _checks._remember_finite
    monkeypatch.setattr(_checks, "_remember_finite", lambda a: scanned.append(a.shape) or real_scan(a))
    jaxbp.backprop(NET, PARAMS, x, y, "quadratic")
    assert [c for c in calls if not c.startswith("params")] == ["x", "y"]  # both asked for ...
    assert scanned == [(4, 1)]          # ... but only y (numpy, cast anew each call) scanned
    monkeypatch.undo()
    bad = jnp.asarray(X).at[3, 0].set(jnp.nan)
    for _ in range(2):
        with pytest.raises(ValueError, match=r"x contains 1 non-finite value\(s\) \(first at row 3"):
            jaxbp.backprop(NET, PARAMS, bad, Y, "quadratic")
    assert not _checks._known_finite(bad)
    key = id(x)
    del x
    gc.collect()
    assert key not in _checks._FINITE


def test_E15_non_finite_inputs():
    x = np.asarray(X).copy()
    x[3, 0] = np.nan
    with pytest.raises(ValueError, match=r"x contains 1 non-finite value\(s\) \(first at row 3, "
                                         r"column 0\)"):
        jaxbp.backprop(NET, PARAMS, x, Y, "quadratic")
    y = np.asarray(Y).copy()
    y[1, 0] = y[2, 0] = np.inf
    with pytest.raises(ValueError, match=r"y contains 2 non-finite value\(s\) \(first at row 1, "
                                         r"column 0\)"):
        jaxbp.autodiff(NET, PARAMS, X, y, "quadratic")
    # finite in float64 but out of range for float32 params: caught after the cast (E18)
    p32 = NET.init(KEY)
    with pytest.raises(ValueError, match=r"x contains 8 non-finite value\(s\) after the cast to "
                                         r"the params dtype float32"):
        jaxbp.loss(NET, p32, np.full((4, 2), 1e39), Y, "quadratic")


@pytest.mark.parametrize("bad, shown", [(np.ones((4, 2), np.complex64), "complex64"),
                                        (np.ones((4, 2), object), "object"),
                                        (np.full((4, 2), "a"), "<U1"),
                                        ([[1, "a"]] * 4, "<U21")])
def test_E16_non_numeric_dtype(bad, shown):
    with pytest.raises(TypeError, match=rf"^backprop: x must have a real numeric dtype, got {shown}"):
        jaxbp.backprop(NET, PARAMS, bad, Y, "quadratic")
    with pytest.raises(TypeError, match=rf"^loss: y must have a real numeric dtype"):
        jaxbp.loss(NET, PARAMS, X, np.ones((4, 1), np.complex64), "quadratic")
    with pytest.raises(TypeError, match=r"^backprop: x must be an array of real numbers, got list"):
        jaxbp.backprop(NET, PARAMS, [[1.0, 2.0], [3.0]], Y, "quadratic")        # ragged


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.uint8])
def test_E17_integer_inputs_cast_to_params_dtype(dtype):
    x, y = np.asarray(X).astype(dtype), np.asarray(Y).astype(dtype)
    for name in ("backprop", "autodiff"):
        loss, grads = call(name, NET, PARAMS, x, y, "cross_entropy")
        ref_loss, ref_grads = call(name, NET, PARAMS, X, Y, "cross_entropy")
        assert loss.dtype == jnp.float64
        assert_same_tree((loss, grads), (ref_loss, ref_grads), rtol=0, atol=0)
    # uint8 is cast, never computed in wrap-around arithmetic (200 * 2 would be 144)
    big = np.asarray([[200, 100]], np.uint8)
    linear = MLP((2, 1), output="identity")
    p = ({"W": jnp.asarray([[2.0], [0.0]]), "b": jnp.zeros(1)},)
    np.testing.assert_array_equal(linear.apply(p, big), [[400.0]])


def test_E17_integer_params_rejected():
    p = jax.tree_util.tree_map(lambda a: a.astype(jnp.int32), PARAMS)
    with pytest.raises(TypeError, match=r"params\[0\]\['W'\] must be floating point, got int32"):
        jaxbp.backprop(NET, p, X, Y, "quadratic")
    with pytest.raises(TypeError, match=r"^MLP.apply: params\[0\]\['W'\] must be floating point"):
        NET.apply(p, X)


def test_E18_inputs_cast_to_params_dtype_without_retracing():
    from jaxbp.backprop import _trace
    p32 = NET.init(KEY)
    x64, y64 = np.asarray(X, np.float64) + 0.1, np.asarray(Y, np.float64)
    ref = jaxbp.backprop(NET, p32, x64.astype(np.float32), y64.astype(np.float32), "quadratic")
    before = _trace._cache_size()
    for x, y in ((x64, y64), (jnp.asarray(x64), jnp.asarray(y64)), (x64.astype(np.float32), y64)):
        loss, grads = jaxbp.backprop(NET, p32, x, y, "quadratic")
        assert loss.dtype == jnp.float32                       # never upcast
        assert_same_tree((loss, grads), ref, rtol=0, atol=0)
    assert _trace._cache_size() == before                       # one trace per params dtype
    loss64, _ = jaxbp.backprop(NET, PARAMS, x64.astype(np.float32), Y, "quadratic")
    assert loss64.dtype == jnp.float64                         # the params decide


def test_E19_bce_targets_out_of_range():
    with pytest.raises(ValueError, match=r"binary cross-entropy targets must lie in \[0, 1\]; "
                                         r"found 2\.0"):
        jaxbp.backprop(NET, PARAMS, X, 2.0 * Y, "cross_entropy")
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]; found -0\.5"):
        jaxbp.loss(NET, PARAMS, X, Y - 0.5, "cross_entropy")
    jaxbp.loss(NET, PARAMS, X, 0.3 * Y, "cross_entropy")     # soft targets are fine


def test_E20_dense_softmax_targets():
    with pytest.raises(ValueError, match=r"softmax cross-entropy targets must be non-negative and "
                                         r"sum to 1 per row; row 0 sums to 2\.0"):
        jaxbp.backprop(SOFT, SOFT_PARAMS, X3, jnp.asarray([[1.0, 1, 0]] * 3), "softmax_cross_entropy")
    with pytest.raises(ValueError, match=r"row 1 sums to 1\.0 and has a negative entry"):
        jaxbp.backprop(SOFT, SOFT_PARAMS, X3, jnp.asarray([[1.0, 0, 0], [1.5, -0.5, 0], [0, 0, 1]]),
                       "softmax_cross_entropy")


@pytest.mark.parametrize("labels, bad, index", [([0, 1, 3], 3, 2), ([0, -1, 2], -1, 1)])
def test_E21_labels_out_of_range(labels, bad, index):
    with pytest.raises(ValueError, match=rf"labels must be integers in \[0, 3\); got {bad} at "
                                         rf"index {index}"):
        jaxbp.backprop(SOFT, SOFT_PARAMS, X3, jnp.asarray(labels), "softmax_cross_entropy")


@pytest.mark.slow
def test_E22_dispatch_on_dtype_and_rank():
    labels = jnp.asarray([2, 0, 1])                               # n == k == 3: the trap case
    one_hot = jnp.eye(3)[labels]
    for name in ("backprop", "autodiff"):
        sparse = call(name, SOFT, SOFT_PARAMS, X3, labels, "softmax_cross_entropy")
        dense = call(name, SOFT, SOFT_PARAMS, X3, one_hot, "softmax_cross_entropy")
        ints = call(name, SOFT, SOFT_PARAMS, X3, one_hot.astype(int), "softmax_cross_entropy")
        assert_same_tree(sparse, dense, rtol=0, atol=0)
        assert_same_tree(ints, dense, rtol=0, atol=0)
    one = jaxbp.loss(SOFT, SOFT_PARAMS, X3[0], 2, "softmax_cross_entropy")   # one sample
    np.testing.assert_allclose(one, jaxbp.loss(SOFT, SOFT_PARAMS, X3[:1], one_hot[:1],
                                               "softmax_cross_entropy"), rtol=1e-15)
    with pytest.raises(ValueError, match=r"expected integer labels of shape \(n,\) or one-hot "
                                         r"targets of shape \(n, 3\), got float32 \(3,\)"):
        jaxbp.backprop(SOFT, SOFT_PARAMS, X3, jnp.asarray([2.0, 0, 1], jnp.float32),
                       "softmax_cross_entropy")
    with pytest.raises(ValueError, match=r"expected integer labels.*got int64 \(3, 1\)"):
        jaxbp.backprop(SOFT, SOFT_PARAMS, X3, labels[:, None], "softmax_cross_entropy")


# ---------------------------------------------------------------- numerics anchors (E23-E28)

FIXED = [0.0, 1e-9, 17, 37, 88.7, 89, 100, 709.8, 710, 1e4, 1e9]
FIXED = np.asarray(FIXED + [-z for z in FIXED[1:]])


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_E23_activations_finite_and_in_range(dtype):
    z = jnp.asarray(FIXED, dtype)
    ranges = {"sigmoid": ((0, 1), (0, 0.25)), "tanh": ((-1, 1), (0, 1)),
              "relu": ((0, np.inf), (0, 1)), "identity": ((-np.inf, np.inf), (1, 1))}
    for name, ((lo, hi), (plo, phi)) in ranges.items():
        act = jaxbp.ACTIVATIONS[name]
        a, prime = np.asarray(act.fn(z)), np.asarray(act.prime(z))
        assert a.dtype == prime.dtype == dtype
        assert np.isfinite(a).all() and np.isfinite(prime).all(), name
        assert ((lo <= a) & (a <= hi)).all() and ((plo <= prime) & (prime <= phi)).all(), name
        eps = np.finfo(dtype).eps                # 1 - tanh**2 is accurate to eps absolute
        np.testing.assert_allclose(prime, jax.vmap(jax.grad(act.fn))(z), rtol=4 * eps, atol=2 * eps)


_bce_hessian = jax.jit(jax.vmap(jax.hessian(lambda u, v: jaxbp.cross_entropy.value(
    u[None, :], v[None, :], jaxbp.activations.sigmoid)[0])))


@pytest.mark.slow
@pytest.mark.parametrize("dtype, rtol", [(jnp.float32, 1e-6), (jnp.float64, 1e-6)])
def test_E24_bce_from_logits(dtype, rtol):
    z = jnp.asarray([[1e4], [-1e4], [1e9], [-1e9], [20.0], [-20.0], [0.0]], dtype)
    for y in (0.0, 1.0, 0.3):
        t = jnp.full_like(z, y)
        value = jaxbp.cross_entropy.value(z, t, jaxbp.activations.sigmoid)
        delta = jaxbp.cross_entropy.delta(z, t, jaxbp.activations.sigmoid)
        np.testing.assert_allclose(value, optax.sigmoid_binary_cross_entropy(z, t)[:, 0], rtol=rtol)
        assert np.isfinite(value).all() and (np.abs(delta) <= 1).all()
        assert np.isfinite(_bce_hessian(z, t)).all()
    # right with certainty costs 0; wrong by 1e4 costs 1e4
    one = jnp.ones_like(z[:2])
    np.testing.assert_allclose(jaxbp.cross_entropy.value(z[:2], one, jaxbp.activations.sigmoid),
                               [0.0, 1e4], atol=0, rtol=1e-7)


def test_E25_softmax_cross_entropy_anchors():
    net = MLP((3, 3), output="softmax")
    eye = ({"W": jnp.eye(3), "b": jnp.zeros(3)},)                   # logits = x
    for row in ([1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]):
        tr = jaxbp.trace(net, eye, jnp.asarray([row]), jnp.asarray([0]), "softmax_cross_entropy")
        np.testing.assert_allclose(tr.loss, np.log(3), rtol=2 * np.finfo(np.float64).eps)
        np.testing.assert_allclose(tr.deltas[-1], [[-2 / 3, 1 / 3, 1 / 3]], rtol=1e-15)
    for name in ("backprop", "autodiff"):
        loss, grads = call(name, net, eye, jnp.asarray([[-1e4, 0.0, 1e4]]), jnp.asarray([0]),
                           "softmax_cross_entropy")
        np.testing.assert_array_equal(loss, 20000.0)
        np.testing.assert_array_equal(grads[0]["b"], [-1.0, 0.0, 1.0])    # = dC/dz here
    z32 = jnp.asarray([[89.0, 0, 0], [1000, 0, -1000]], jnp.float32)
    y32 = jnp.asarray([[0.0, 1, 0], [0, 0, 1]], jnp.float32)
    value = jaxbp.softmax_cross_entropy.value(z32, y32, jaxbp.activations.softmax)
    np.testing.assert_allclose(value, [89.0, 2000.0], rtol=1e-7)


def test_E26_matched_pairs_use_a_minus_y():
    # At z = 1e4 the chain-rule form dC/da * sigma'(z) is 0 * inf = NaN; BP1 uses a - y.
    net = MLP((1, 1))
    p = ({"W": jnp.ones((1, 1)), "b": jnp.zeros(1)},)
    z = jnp.asarray([[1e4], [-1e4], [0.5]])
    y = jnp.asarray([[0.0], [0.0], [1.0]])
    tr = jaxbp.trace(net, p, z, y, "cross_entropy")
    np.testing.assert_array_equal(tr.deltas[-1], jax.nn.sigmoid(z) - y)
    np.testing.assert_allclose(tr.deltas[-1], [[1.0], [0.0], [jax.nn.sigmoid(0.5) - 1]])
    with np.errstate(all="ignore"):
        a = 1 / (1 + np.exp(-np.asarray(z)))
        naive = (-(y / a) + (1 - y) / (1 - a)) * a * (1 - a)
    assert np.isnan(naive).any()                                   # what E26 guards against


def test_E27_quadratic_on_saturated_sigmoid_is_slow_not_broken():
    net = MLP((1, 1))
    p = ({"W": jnp.ones((1, 1)), "b": jnp.zeros(1)},)
    x, y = jnp.asarray([[40.0], [-40.0]]), jnp.asarray([[0.0], [1.0]])   # confidently wrong
    loss, grads = jaxbp.backprop(net, p, x, y, "quadratic")
    _, auto = jaxbp.autodiff(net, p, x, y, "quadratic")
    np.testing.assert_allclose(loss, 0.5, rtol=1e-15)
    g = np.asarray(grads[0]["W"])
    assert np.isfinite(g).all() and 0 < np.abs(g).max() < 1e-15    # tiny: learning slowdown
    assert_same_tree(grads, auto, rtol=1e-12, atol=0)


def test_E28_relu_derivative_is_zero_at_zero():
    relu = jaxbp.ACTIVATIONS["relu"]
    assert float(relu.prime(jnp.asarray(0.0))) == 0.0 == float(jax.grad(jax.nn.relu)(0.0))
    net = MLP((2, 2, 1), hidden="relu")
    p = ({"W": jnp.asarray([[1.0, -0.5], [0.7, 1.0]]), "b": jnp.zeros(2)},
         {"W": jnp.asarray([[1.0], [-1.0]]), "b": jnp.zeros(1)})
    x = jnp.asarray([[0.0, 0], [0, 1], [1, 0], [1, 1]])             # (0, 0) puts z exactly at 0
    y = jnp.asarray([[0.0], [0], [0], [1]])                           # AND
    assert (jaxbp.trace(net, p, x, y, "quadratic").zs[0][0] == 0).all()
    manual = jaxbp.backprop(net, p, x, y, "quadratic")
    auto = jaxbp.autodiff(net, p, x, y, "quadratic")
    assert_same_tree(manual, auto, rtol=1e-15, atol=1e-16)


# ---------------------------------------------------------------- RNG, files, x64 (E33, E36-E40)

def test_E33_keys():
    a, b = NET.init(jax.random.key(7)), NET.init(jax.random.key(7))
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert np.asarray(u).tobytes() == np.asarray(v).tobytes()
    square = MLP((3, 3, 3, 3)).init(jax.random.key(7), scale=1.0)
    leaves = [np.asarray(v) for layer in square for v in layer.values()]
    assert all(not np.array_equal(leaves[i][:3], leaves[j][:3])
               for i in range(len(leaves)) for j in range(i))    # no layer or leaf repeats
    np.testing.assert_array_equal(NET.init(jax.random.PRNGKey(7))[0]["W"],
                                  NET.init(np.asarray(jax.random.PRNGKey(7)))[0]["W"])
    for bad, shown in ((0, "int"), (jnp.zeros(2), "float"), (jax.random.split(KEY, 2), r"\(2,\)")):
        with pytest.raises(TypeError, match=rf"^MLP.init: key must be a PRNG key from "
                                            rf"jax.random.key\(seed\).*got .*{shown}"):
            NET.init(bad)


def test_E36_corrupted_file(tmp_path):
    path = tmp_path / "p.npz"
    jaxbp.save(path, NET, PARAMS)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParamsFileError, match=r"cannot read params file '.*p\.npz': not a valid "
                                              r"jaxbp params archive \(BadZipFile: .*\)") as info:
        jaxbp.load(path)
    assert type(info.value.__cause__).__name__ == "BadZipFile"
    assert isinstance(info.value, ValueError)


def test_E37_tampered_file(tmp_path):
    path = tmp_path / "p.npz"
    jaxbp.save(path, NET, PARAMS)
    arrays = dict(np.load(path))
    arrays["layer1/b"] = arrays["layer1/b"] + 1.0
    np.savez(path, **arrays)                                          # a valid zip, edited
    with pytest.raises(ParamsFileError, match=r"checksum mismatch"):
        jaxbp.load(path)
    np.savez(path, **{**arrays, "layer0/W": np.asarray([None, 1], dtype=object)})
    with pytest.raises(ParamsFileError, match=r"'layer0/W' holds pickled Python objects"):
        jaxbp.load(path)


def test_E38_architecture_mismatch(tmp_path):
    net = MLP((2, 3, 1))
    path = tmp_path / "p.npz"
    jaxbp.save(path, net, net.init(KEY))
    arrays = dict(np.load(path))
    np.savez(path, **{**arrays, "layer1/b": np.zeros(3, np.float32)})
    with pytest.raises(ParamsFileError, match=r"layer 1 'b' has shape \(3,\), expected \(1,\) for "
                                              r"sizes \[2, 3, 1\]"):
        jaxbp.load(path)
    meta = json.loads(arrays["metadata"].tobytes())
    np.savez(path, **{**arrays, "metadata": np.frombuffer(
        json.dumps({**meta, "version": 2}).encode(), np.uint8)})
    with pytest.raises(ParamsFileError, match=r"unsupported format version 2"):
        jaxbp.load(path)


def test_E39_save_path_and_directory(tmp_path):
    path = tmp_path / "params.tmp"                     # no .npz: nothing is appended
    jaxbp.save(path, NET, PARAMS)
    assert os.listdir(tmp_path) == ["params.tmp"]
    assert jaxbp.load(path)[0] == NET
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        jaxbp.save(missing / "p.npz", NET, PARAMS)


X64_OFF = textwrap.dedent(r"""
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    import jaxbp
    out = {}
    def attempt(name, f):
        try:
            f()
            out[name] = None
        except Exception as e:
            out[name] = [type(e).__name__, str(e)]
    net = jaxbp.MLP((2, 1))
    attempt("init", lambda: net.init(jax.random.key(0), dtype=jnp.float64))
    with jax.enable_x64(True):
        p64 = net.init(jax.random.key(0), dtype=jnp.float64)
    attempt("apply", lambda: net.apply(p64, jnp.ones((1, 2))))
    attempt("loss", lambda: jaxbp.loss(net, p64, jnp.ones((1, 2)), jnp.ones((1, 1)), "quadratic"))
    p_np = tuple({k: np.asarray(v) for k, v in layer.items()} for layer in p64)
    attempt("numpy params", lambda: jaxbp.backprop(net, p_np, np.ones((1, 2)), np.ones((1, 1)),
                                                   "quadratic"))
    with jax.enable_x64(True):
        jaxbp.save(sys.argv[1], net, p64)
    attempt("load", lambda: jaxbp.load(sys.argv[1]))
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_E40_float64_without_x64(tmp_path):
    env = {**os.environ, "JAX_ENABLE_X64": "0", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", X64_OFF, str(tmp_path / "p64.npz")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    hint = (r"float64 requested but jax_enable_x64 is disabled; call "
            r"jax.config.update\('jax_enable_x64', True\) at program start")
    for name, fn in (("init", "MLP.init"), ("apply", "MLP.apply"), ("loss", "loss"),
                     ("numpy params", "backprop"), ("load", "load")):
        assert out[name] is not None, name
        kind, message = out[name]
        assert kind == "ValueError" and message.startswith(fn + ": "), out[name]
        assert re.search(hint, message), message


# ---------------------------------------------------------------- G7: no raw errors, jit, vmap

SWEEP = [  # (case, net, x, y, cost, l2, exception, regex, also under jit)
    ("E7", NET, X, Y, "softmax_cross_entropy", 0.0, ValueError, r"requires a 'softmax' output", True),
    ("E8", NET, X, Y, "quadratc", 0.0, ValueError, r"did you mean 'quadratic'", True),
    ("E9", NET, X, Y, "quadratic", -0.1, ValueError, r"l2 must be a finite float >= 0", True),
    ("E10", NET, jnp.ones((4, 5)), Y, "quadratic", 0.0, ValueError, r"layer 0 expects 2 input", True),
    ("E11", NET, jnp.ones((2, 3, 4)), Y, "quadratic", 0.0, ValueError, r"x must be 1-D", True),
    ("E12", NET, X, Y[:, 0], "quadratic", 0.0, ValueError, r"y shape \(4,\) does not match", True),
    ("E13", NET, X, Y[:3], "quadratic", 0.0, ValueError, r"x has 4 rows but y has 3", True),
    ("E14", NET, jnp.ones((0, 2)), jnp.ones((0, 1)), "quadratic", 0.0, ValueError, r"empty batch", True),
    ("E15", NET, np.where(np.eye(4, 2) > 0, np.nan, 0), Y, "quadratic", 0.0, ValueError,
     r"x contains 2 non-finite", False),
    ("E16", NET, np.ones((4, 2), np.complex64), Y, "quadratic", 0.0, TypeError, r"real numeric", True),
    ("E19", NET, X, 2 * Y, "cross_entropy", 0.0, ValueError, r"must lie in \[0, 1\]", False),
    ("E20", SOFT, X3, jnp.ones((3, 3)), "softmax_cross_entropy", 0.0, ValueError, r"sum to 1", False),
    ("E21", SOFT, X3, jnp.asarray([0, 1, 3]), "softmax_cross_entropy", 0.0, ValueError,
     r"labels must be integers in \[0, 3\)", False),
    ("E22", SOFT, X3, jnp.ones(3), "softmax_cross_entropy", 0.0, ValueError, r"expected integer labels", True),
]


def _run(name, net, x, y, cost, l2, jit):
    params = PARAMS if net is NET else SOFT_PARAMS
    if name == "fit":
        f = lambda p, x, y: jaxbp.fit(net, p, x, y, cost, 0.1, steps=1, l2=l2)
    else:
        f = lambda p, x, y: call(name, net, p, x, y, cost, l2=l2)
    return (jax.jit(f) if jit else f)(params, x, y)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", GRAD_FNS + ("fit",))
def test_G7_no_raw_errors(name, jit):
    for case, net, x, y, cost, l2, exc, regex, under_jit in SWEEP:
        if jit and not under_jit:
            continue                        # value checks need concrete arrays (documented)
        with pytest.raises(exc, match=rf"^{name}: .*{regex}") as info:
            _run(name, net, x, y, cost, l2, jit)
        assert type(info.value) is exc, case


@pytest.mark.slow
@pytest.mark.parametrize("name", ("backprop", "autodiff", "loss", "trace"))
def test_G7_gradient_functions_under_jit_and_vmap(name):
    eager = call(name, NET, PARAMS, X, Y, "cross_entropy", l2=0.1)
    jitted = jax.jit(lambda p, x, y, l2: call(name, NET, p, x, y, "cross_entropy", l2=l2))(
        PARAMS, X, Y, 0.1)
    assert_same_tree(jitted, eager, rtol=1e-13, atol=1e-15)
    keys = jax.random.split(jax.random.key(3), 3)
    stack = jax.vmap(lambda k: NET.init(k, dtype=jnp.float64))(keys)
    batched = jax.vmap(lambda p: call(name, NET, p, X, Y, "cross_entropy"))(stack)
    for i, k in enumerate(keys):
        one = call(name, NET, NET.init(k, dtype=jnp.float64), X, Y, "cross_entropy")
        assert_same_tree(jax.tree_util.tree_map(lambda a: a[i], batched), one, rtol=1e-13, atol=1e-15)


@pytest.mark.slow
def test_G7_check_grads_and_apply_under_transforms():
    with pytest.raises(TypeError, match=r"^check_grads: .*must be concrete arrays.*outside the transform"):
        jax.jit(lambda p: jaxbp.check_grads(NET, p, X, Y, "cross_entropy"))(PARAMS)
    stack = jax.vmap(lambda k: NET.init(k))(jax.random.split(KEY, 2))
    out = jax.vmap(lambda p: NET.apply(p, X))(stack)
    assert out.shape == (2, 4, 1) and out.dtype == jnp.float32
    np.testing.assert_array_equal(jax.jit(NET.apply)(PARAMS, X), NET.apply(PARAMS, X))
    inited = jax.jit(lambda k: NET.init(k))(KEY)          # XLA may fuse std * normal: 1 ulp
    assert_same_tree(inited, NET.init(KEY), rtol=2e-7, atol=0)
