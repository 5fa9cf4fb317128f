"""jaxbp.make_step: one update, against a hand-written optax loop with jax.grad; fit is a scan
of it; it composes with the user's jit, vmap and scan; its program is the update alone."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxbp

X = jnp.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
Y = jnp.array([[0.], [1.], [1.], [0.]])
NET = jaxbp.MLP((2, 3, 1))


def params64(seed=0):
    return NET.init(jax.random.key(seed), dtype=jnp.float64)


def leaves(tree):
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(tree)]


def hand_loss(p, l2=0.0):
    """The quadratic cost of NET, written out here (the independent reference)."""
    h = jax.nn.sigmoid(X @ p[0]["W"] + p[0]["b"][None, :])
    a = jax.nn.sigmoid(h @ p[1]["W"] + p[1]["b"][None, :])
    return jnp.mean(0.5 * jnp.sum((a - Y) ** 2, axis=1)) \
        + 0.5 * l2 * sum(jnp.sum(layer["W"] ** 2) for layer in p)


@pytest.mark.slow
@pytest.mark.parametrize("grad", ["manual", "autodiff"])
@pytest.mark.parametrize("make_tx", [lambda: optax.sgd(0.5), lambda: optax.adam(0.05)])
def test_one_step_equals_optax_with_jax_grad(grad, make_tx):
    l2 = 0.05
    step = jaxbp.make_step(NET, "quadratic", make_tx(), l2=l2, grad=grad)
    tx = make_tx()
    p, s = params64(), step.init(params64())
    p_ref, s_ref = params64(), tx.init(params64())
    for _ in range(3):
        loss, p, s = jax.jit(step)(p, s, X, Y)
        value, g = jax.value_and_grad(hand_loss)(p_ref, l2)
        np.testing.assert_allclose(loss, value, rtol=1e-13)   # the loss before the update
        updates, s_ref = tx.update(g, s_ref, p_ref)
        p_ref = optax.apply_updates(p_ref, updates)
        for a, b in zip(leaves(p), leaves(p_ref)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_fit_is_a_scan_of_the_step():
    """steps full-batch updates of fit == steps calls of the step, bit for bit, and the
    history is the losses they return."""
    opt = optax.sgd(0.7)
    step = jaxbp.make_step(NET, "quadratic", opt, l2=0.01)
    p, s, losses = params64(), step.init(params64()), []
    for _ in range(7):
        loss, p, s = jax.jit(step)(p, s, X, Y)
        losses.append(loss)
    p_fit, history = jaxbp.fit(NET, params64(), X, Y, "quadratic", opt, steps=7, l2=0.01)
    np.testing.assert_array_equal(history, np.array(losses))
    for a, b in zip(leaves(p_fit), leaves(p)):
        np.testing.assert_array_equal(a, b)


def test_a_number_is_plain_sgd_and_vmaps_over_learning_rates():
    rates = jnp.array([0.1, 0.5, 2.0])

    def one(lr):
        step = jaxbp.make_step(NET, "quadratic", lr)
        return step(params64(), step.init(params64()), X, Y)[1]

    batched = jax.jit(jax.vmap(one))(rates)
    g = jax.grad(hand_loss)(params64())
    for i, lr in enumerate(np.asarray(rates)):
        want = jax.tree_util.tree_map(lambda a, d: a - lr * d, params64(), g)
        for a, b in zip(leaves(batched), leaves(want)):
            np.testing.assert_allclose(a[i], b, rtol=1e-12, atol=1e-15)


@pytest.mark.slow
def test_step_inside_the_users_scan_and_vmap_over_inits():
    step = jaxbp.make_step(NET, "quadratic", optax.sgd(0.5))

    def run(p):
        def body(carry, _):
            loss, p, s = step(*carry, X, Y)
            return (p, s), loss
        return jax.lax.scan(body, (p, step.init(p)), length=20)

    inits = jax.vmap(lambda k: NET.init(k, dtype=jnp.float64))(jax.random.split(jax.random.key(0), 3))
    (p_b, _), h_b = jax.jit(jax.vmap(run))(inits)
    for i in range(3):
        p_i = jax.tree_util.tree_map(lambda a: a[i], inits)
        p_fit, h_fit = jaxbp.fit(NET, p_i, X, Y, "quadratic", optax.sgd(0.5), steps=20)
        np.testing.assert_allclose(h_b[i], h_fit, rtol=1e-12)
        for a, b in zip(leaves(p_b), leaves(p_fit)):
            np.testing.assert_allclose(a[i], b, rtol=1e-12, atol=1e-15)


def test_the_compiled_step_is_the_update_alone():
    """No loop, branch or callback inside the step's program."""
    step = jaxbp.make_step(NET, "quadratic", jaxbp.optimizer("adam", 0.1), l2=0.1)
    jaxpr = str(jax.make_jaxpr(step)(params64(), step.init(params64()), X, Y))
    for primitive in ("while", "scan", "cond", "callback"):
        assert primitive not in jaxpr
    assert "dot_general" in jaxpr


@pytest.mark.slow
def test_frozen_leaves_and_integer_labels():
    net = jaxbp.MLP((2, 4, 3), "tanh", "softmax")
    p0 = net.init(jax.random.key(1), dtype=jnp.float64)
    labels = jnp.array([0, 2, 1, 2])
    step = jaxbp.make_step(net, "softmax_cross_entropy", 0.5, trainable=(False, True))
    _, p1, _ = step(p0, step.init(p0), X, labels)
    assert all(np.array_equal(a, b) for a, b in zip(leaves(p1[0]), leaves(p0[0])))
    loss, grads = jaxbp.autodiff(net, p0, X, jax.nn.one_hot(labels, 3), "softmax_cross_entropy")
    for name in ("W", "b"):
        np.testing.assert_allclose(p1[1][name], p0[1][name] - 0.5 * grads[1][name], rtol=1e-12)


@pytest.mark.parametrize("args, kw, error, pattern", [
    (("not a net", "quadratic", 0.1), {}, TypeError, r"^make_step: net must be a jaxbp\.MLP"),
    ((NET, "quadratc", 0.1), {}, ValueError, r"^make_step: unknown cost 'quadratc'.*did you mean 'quadratic'"),
    ((NET, "quadratic", -0.1), {}, ValueError, r"^make_step: lr must be a finite float > 0, got -0\.1"),
    ((NET, "quadratic", "fast"), {}, TypeError, r"^make_step: optimizer must be an optax\.GradientTransformation"),
    ((NET, "quadratic", 0.1), dict(l2=-1.0), ValueError, r"^make_step: l2 must be a finite float >= 0, got -1\.0"),
    ((NET, "quadratic", 0.1), dict(grad="manaul"), ValueError, r"^make_step: unknown grad 'manaul'"),
    ((NET, "softmax_cross_entropy", 0.1), {}, ValueError, r"^make_step: cost 'softmax_cross_entropy' requires a 'softmax' output"),
])
def test_make_step_checks_its_arguments_eagerly(args, kw, error, pattern):
    with pytest.raises(error, match=pattern):
        jaxbp.make_step(*args, **kw)


def test_the_step_names_a_wrong_shape():
    step = jaxbp.make_step(NET, "quadratic", 0.1)
    with pytest.raises(ValueError, match=r"^step: layer 0 expects 2 input features, got x with shape \(4, 5\)"):
        step(params64(), step.init(params64()), jnp.ones((4, 5)), Y)
