"""jaxbp.runs_last: the runs-last kernel behind jax.vmap(jaxbp.fit).

References: numpy.einsum for the three products; jax.grad (jaxbp.autodiff) for the
gradients; and, for whole loops, plain ``jax.vmap`` of the loop a user writes with the
public step (``jaxbp.make_step`` in a ``lax.scan``, mini-batches drawn by
``jaxbp.shuffle.epoch_order`` as fit's docstring says) -- code that never meets the
custom_vmap rule. Everything in float64, to tight tolerances (the kernel adds in another
order than XLA's dot, so not bit for bit).
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxbp
from jaxbp import runs_last
from jaxbp.shuffle import epoch_order

TOL = dict(rtol=1e-10, atol=1e-12)
leaves = jax.tree_util.tree_leaves


def _close(got, want, tol=TOL):
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    for a, b in zip(leaves(got), leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **tol)


# ---- the pieces ------------------------------------------------------------------------

def test_the_three_products_equal_einsum():
    rng = np.random.default_rng(0)
    a, W, delta = rng.normal(size=(5, 3, 7)), rng.normal(size=(3, 4, 7)), rng.normal(size=(5, 4, 7))
    np.testing.assert_allclose(runs_last.dot(a, W), np.einsum("nir,ijr->njr", a, W), rtol=1e-13)
    np.testing.assert_allclose(runs_last.dot_t(delta, W), np.einsum("njr,ijr->nir", delta, W),
                               rtol=1e-13)
    np.testing.assert_allclose(runs_last.outer(a, delta), np.einsum("nir,njr->ijr", a, delta),
                               rtol=1e-13)
    np.testing.assert_allclose(runs_last.row_sum(a), a.sum(axis=0), rtol=1e-13)
    # a shared x (runs axis of size 1) broadcasts against per-run weights
    x = rng.normal(size=(5, 3, 1))
    np.testing.assert_allclose(runs_last.dot(x, W), np.einsum("ni,ijr->njr", x[..., 0], W),
                               rtol=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("net, cost, l2", [
    (jaxbp.MLP((2, 3, 1)), "quadratic", 0.0),
    (jaxbp.MLP((3, 4, 3, 2), hidden="tanh", output="identity"), "quadratic", 0.1),
    (jaxbp.MLP((3, 5, 4), hidden="relu", output="softmax"), "softmax_cross_entropy", 0.05),
    (jaxbp.MLP((2, 4, 2)), "cross_entropy", 0.0),
])
def test_backprop_of_every_run_equals_jax_grad(net, cost, l2):
    params = _inits(net, 3)
    x, y = _data(net, 6)
    if cost == "softmax_cross_entropy":
        y = y / y.sum(axis=1, keepdims=True)
    cost_fn = jaxbp.COSTS[cost]
    last = jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, 0, -1), params)
    loss, outputs, grads = jax.jit(runs_last.backprop, static_argnums=(0, 1, 5))(
        net, cost_fn, last, x[..., None], y[..., None], l2)
    (want_loss, want_grads), want_outputs = jax.jit(jax.vmap(    # the reference: one program
        lambda p: (jaxbp.autodiff(net, p, x, y, cost, l2=l2), net.apply(p, x))))(params)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
    np.testing.assert_allclose(jnp.moveaxis(outputs, -1, 0), want_outputs, rtol=1e-12)
    _close(jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, -1, 0), grads), want_grads,
           dict(rtol=1e-10, atol=1e-13))


def test_the_rule():
    assert runs_last.unsupported(jaxbp.MLP((2, 2, 1)), "manual", 4) is None
    assert runs_last.unsupported(jaxbp.MLP((16, 16, 16)), "manual", 16) is None  # 4096 each
    assert runs_last.unsupported(jaxbp.MLP((2, 64, 1)), "manual", 32) is None
    assert "autodiff" in runs_last.unsupported(jaxbp.MLP((2, 2, 1)), "autodiff", 4)
    assert "65 terms" in runs_last.unsupported(jaxbp.MLP((2, 65, 1)), "manual", 4)
    assert "65 terms" in runs_last.unsupported(jaxbp.MLP((2, 2, 1)), "manual", 65)
    assert "layer 1: rows * n_in * n_out = 16 * 16 * 17" in runs_last.unsupported(
        jaxbp.MLP((16, 16, 17)), "manual", 16)


# ---- whole loops: vmap(fit) against plain vmap of the user's loop -----------------------

def reference(net, cost, steps, *, batch_size=None, l2=0.0, trainable=None, grad="manual"):
    """One run as a user writes it with the public step; plain jax.vmap of it is the
    reference. ``optimizer`` is an argument, so a per-run learning rate can be vmapped."""
    def run(params, x, y, optimizer, key=None, l2=l2):
        step = jaxbp.make_step(net, cost, optimizer, l2=l2, grad=grad, trainable=trainable)
        n = x.shape[0]

        def body(carry, i):
            params, opt_state = carry
            xb, yb = x, y
            if batch_size is not None:
                epoch, j = i // (n // batch_size), i % (n // batch_size)
                idx = jax.lax.dynamic_slice_in_dim(epoch_order(key, epoch, n), j * batch_size,
                                                   batch_size)
                xb, yb = x[idx], y[idx]
            loss, params, opt_state = step(params, opt_state, xb, yb)
            return (params, opt_state), loss

        (params, _), history = jax.lax.scan(body, (params, step.init(params)), jnp.arange(steps))
        return params, history
    return run


def _data(net, n, runs=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (runs,) if runs else ()
    return (jnp.asarray(rng.uniform(size=shape + (n, net.sizes[0]))),
            jnp.asarray(rng.uniform(size=shape + (n, net.sizes[-1]))))


def _inits(net, runs, seed=0):
    """``runs`` N(0, 1) initialisations, stacked (NumPy: nothing to compile)."""
    rng = np.random.default_rng(seed)
    return tuple({"W": jnp.asarray(rng.normal(size=(runs, i, o))),
                  "b": jnp.asarray(rng.normal(size=(runs, o)))}
                 for i, o in zip(net.sizes[:-1], net.sizes[1:]))


SIGMOID = jaxbp.MLP((2, 3, 1))
DEEP_TANH = jaxbp.MLP((3, 4, 3, 2), hidden="tanh", output="identity")
RELU = jaxbp.MLP((2, 5, 1), hidden="relu")
SOFTMAX = jaxbp.MLP((3, 4, 3), output="softmax")


@pytest.mark.slow
@pytest.mark.parametrize("case", [
    # net, cost, optimizer, batch_size, l2, batched x/y
    dict(net=SIGMOID, cost="quadratic", opt=0.5),
    dict(net=SIGMOID, cost="cross_entropy", opt=optax.sgd(1.0, momentum=0.9), batch_size=2),
    dict(net=DEEP_TANH, cost="quadratic", opt=optax.adam(0.05), l2=0.01),
    dict(net=RELU, cost="quadratic", opt=jaxbp.optimizer("momentum", 0.2), batched_xy=True),
    dict(net=SOFTMAX, cost="softmax_cross_entropy", opt=jaxbp.optimizer("adam", 0.1),
         batch_size=3, batched_xy=True, l2=0.02),
    dict(net=SIGMOID, cost="quadratic",
         opt=jaxbp.optimizer("sgd", optax.linear_schedule(1.0, 0.1, 20)), batch_size=4),
    dict(net=DEEP_TANH, cost="quadratic", opt=0.3, batch_size=2, shared_key=True,
         batched_xy=True),
])
def test_vmap_of_fit_equals_plain_vmap(case):
    net, cost, opt = case["net"], case["cost"], case["opt"]
    batch_size, l2, runs, n, steps = case.get("batch_size"), case.get("l2", 0.0), 3, 6, 25
    params = _inits(net, runs)
    x, y = _data(net, n, runs if case.get("batched_xy") else None)
    if cost == "softmax_cross_entropy":
        y = y / y.sum(axis=-1, keepdims=True)
    keys = jax.random.split(jax.random.key(9), runs)
    key_axis = None if case.get("shared_key") else 0
    keys = keys[0] if case.get("shared_key") else keys
    x_axis = 0 if case.get("batched_xy") else None

    def fit(p, x, y, key):
        extra = dict(batch_size=batch_size, key=key) if batch_size else {}
        return jaxbp.fit(net, p, x, y, cost, opt, steps, l2=l2, **extra)

    assert runs_last.unsupported(net, "manual", batch_size or n) is None  # the kernel's case
    got = jax.jit(jax.vmap(fit, in_axes=(0, x_axis, x_axis, key_axis)))(params, x, y, keys)
    run = reference(net, cost, steps, batch_size=batch_size, l2=l2)
    want = jax.jit(jax.vmap(lambda p, x, y, k: run(p, x, y, opt, k),
                            in_axes=(0, x_axis, x_axis, key_axis)))(params, x, y, keys)
    _close(got, want)


@pytest.mark.slow
def test_batched_learning_rate_l2_and_trainable_and_unbatched_params():
    """vmap over the learning rate and l2 only: every run starts from the same params."""
    net, runs, steps = DEEP_TANH, 4, 20
    params = jax.tree_util.tree_map(lambda a: a[0], _inits(net, 1))
    x, y = _data(net, 5)
    rates = jnp.array([0.05, 0.1, 0.2, 0.4])
    l2s = jnp.array([0.0, 0.01, 0.1, 0.0])
    trainable = ({"W": True, "b": False}, True, {"W": False, "b": True})
    got = jax.jit(jax.vmap(lambda lr, l2: jaxbp.fit(net, params, x, y, "quadratic", lr, steps,
                                                    l2=l2, trainable=trainable)))(rates, l2s)
    run = reference(net, "quadratic", steps, trainable=trainable)
    want = jax.jit(jax.vmap(lambda lr, l2: run(params, x, y, lr, l2=l2)))(rates, l2s)
    _close(got, want)
    # the frozen leaves are bit-identical to the start in every run
    np.testing.assert_array_equal(got[0][0]["b"], jnp.broadcast_to(params[0]["b"], (runs, 4)))
    np.testing.assert_array_equal(got[0][2]["W"], jnp.broadcast_to(params[2]["W"], (runs, 3, 2)))
    assert not np.array_equal(got[0][1]["b"][1], params[1]["b"])  # trained


def test_nested_vmap_and_jit():
    net, steps = SIGMOID, 15
    params = jax.tree_util.tree_map(lambda a: a.reshape((2, 3) + a.shape[1:]), _inits(net, 6))
    x, y = _data(net, 4)
    rates = jnp.array([[0.5, 1.0, 2.0], [0.3, 0.6, 0.9]])
    fit = lambda p, lr: jaxbp.fit(net, p, x, y, "quadratic", lr, steps)
    got = jax.jit(jax.vmap(jax.vmap(fit)))(params, rates)
    run = reference(net, "quadratic", steps)
    flat = lambda tree: jax.tree_util.tree_map(lambda a: a.reshape((6,) + a.shape[2:]), tree)
    want = jax.jit(jax.vmap(lambda p, lr: run(p, x, y, lr)))(flat(params), flat(rates))
    _close(flat(got), want)


@pytest.mark.slow
@pytest.mark.parametrize("net, grad", [(SIGMOID, "autodiff"), (jaxbp.MLP((2, 80, 1)), "manual")])
def test_loops_outside_the_rule_take_plain_vmap(net, grad):
    steps = 13  # a program no other test compiles: the rule runs here
    params = _inits(net, 3)
    x, y = _data(net, 4)
    before = dict(runs_last.TRACES)
    got = jax.jit(jax.vmap(lambda p: jaxbp.fit(net, p, x, y, "quadratic", 0.5, steps,
                                               grad=grad)))(params)
    assert runs_last.TRACES["vmap"] == before["vmap"] + 1
    assert runs_last.TRACES["runs_last"] == before["runs_last"]
    run = reference(net, "quadratic", steps, grad=grad)
    want = jax.jit(jax.vmap(lambda p: run(p, x, y, 0.5)))(params)
    _close(got, want)


def test_covered_loop_takes_the_runs_last_kernel():
    steps = 11  # a program no other test compiles
    params = _inits(SIGMOID, 3)
    x, y = _data(SIGMOID, 4)
    before = dict(runs_last.TRACES)
    jax.jit(jax.vmap(lambda p: jaxbp.fit(SIGMOID, p, x, y, "quadratic", 0.5, steps)))(params)
    assert runs_last.TRACES["runs_last"] == before["runs_last"] + 1
    assert runs_last.TRACES["vmap"] == before["vmap"]


def test_divergence_under_vmap_is_nan_from_the_failing_step():
    """A run whose rate is far too big goes non-finite; the kernel does not hide it and the
    history is NaN from the failing step (fit's contract under vmap), the others untouched."""
    net = jaxbp.MLP((1, 1), output="identity")
    params = ({"W": jnp.ones((1, 1)), "b": jnp.zeros(1)},)
    x, y = jnp.array([[1e100]]), jnp.array([[0.0]])
    rates = jnp.array([1e-300, 1.0])
    _, history = jax.jit(jax.vmap(lambda lr: jaxbp.fit(net, params, x, y, "quadratic", lr, 6)))(
        rates)
    assert np.isfinite(history[0]).all()
    at = jaxbp.diverged_at(history)
    assert int(at[0]) == -1 and 0 <= int(at[1]) < 6
    assert np.isnan(history[1, int(at[1]):]).all()


@pytest.mark.slow
def test_grad_through_fit_still_works():
    """custom_vmap has no reverse mode; the attached custom_jvp keeps jax.grad of fit
    working: a hyper-gradient of the final loss with respect to the learning rate equals a
    central finite difference, and jax.vmap of it the gradient of each run."""
    net, steps = SIGMOID, 10
    p0 = jax.tree_util.tree_map(lambda a: a[0], _inits(net, 1))
    x, y = _data(net, 4)
    final = lambda lr: jaxbp.fit(net, p0, x, y, "quadratic", lr, steps)[1][-1]
    grads = jax.jit(jax.vmap(jax.grad(final)))(jnp.array([0.5, 0.7]))
    h = 1e-5
    for lr, g in zip((0.5, 0.7), grads):
        assert float(g) == pytest.approx((float(final(lr + h)) - float(final(lr - h))) / (2 * h),
                                         rel=1e-6)
