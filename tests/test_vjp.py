"""jaxbp.vjp: BP1-BP4 registered as the VJP that jax.grad uses (float64: see conftest).

Every expected value comes from JAX's own autodiff of the same function (net.apply,
jaxbp.autodiff's cost), from jaxbp.backprop (the bit-for-bit contract), or from finite
differences -- never from the functions under test.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings, strategies as st

import jaxbp
from jaxbp.autodiff import kernel as autodiff_loss
from jaxbp.backprop import kernel as backprop_kernel
from jaxbp.vjp import check_hessian, hessian, manual_loss, manual_vjp

HIDDEN = ["sigmoid", "tanh", "relu", "identity"]
leaves = jax.tree_util.tree_leaves


def assert_tree_close(got, want, tol=1e-12):
    """Normwise: every entry within ``tol * max(1, max |want|)``."""
    for g, w in zip(leaves(got), leaves(want), strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=0, atol=tol * max(1.0, float(np.max(np.abs(w)))))


def assert_tree_equal(got, want):
    for g, w in zip(leaves(got), leaves(want), strict=True):
        assert g.dtype == w.dtype and np.array_equal(g, w), np.max(np.abs(g - w))


def make(sizes, activations, batch=5, seed=0, dtype=jnp.float64):
    net = jaxbp.MLP(sizes, activations=activations)
    params = net.init(jax.random.key(seed), dtype=dtype)
    x = jax.random.normal(jax.random.key(seed + 1), (batch, sizes[0]), dtype)
    return net, params, x


# Downstream costs C(a, x): a user's functions of the net's output (and input).
def sum_of_squares(a):
    return jnp.sum(a ** 2)


def optax_huber(a):
    return jnp.mean(optax.huber_loss(a, 0.3 * jnp.ones_like(a)))


def optax_cross_entropy(a):
    labels = jnp.arange(a.shape[0]) % a.shape[-1]
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(a, labels))


def user_l1(a):
    return 0.7 * jnp.sum(jnp.abs(a - 0.1))


DOWNSTREAM = [sum_of_squares, optax_huber, optax_cross_entropy, user_l1]


@st.composite
def architectures(draw):
    depth = draw(st.integers(1, 3))
    sizes = tuple(draw(st.lists(st.integers(1, 4), min_size=depth + 1, max_size=depth + 1)))
    hidden = [draw(st.sampled_from(HIDDEN)) for _ in range(depth - 1)]
    output = draw(st.sampled_from(HIDDEN + ["softmax"]))
    if output == "softmax" and sizes[-1] < 2:
        sizes = sizes[:-1] + (2,)
    return sizes, tuple(hidden) + (output,)


# ------------------------------------------------------------------------ manual_vjp

@pytest.mark.slow   # 12 compilations: about 5 s of CPU
@settings(max_examples=12)
@given(architectures(), st.integers(1, 4), st.integers(0, 3), st.sampled_from(DOWNSTREAM))
def test_grad_through_manual_vjp_equals_autodiff(arch, batch, seed, C):
    sizes, activations = arch
    net, params, x = make(sizes, activations, batch, seed)
    f = manual_vjp(net)
    both = jax.jit(lambda p, x: (jax.grad(lambda p, x: C(f(p, x)), argnums=(0, 1))(p, x),
                                 jax.grad(lambda p, x: C(net.apply(p, x)), argnums=(0, 1))(p, x)))
    got, want = both(params, x)     # one compilation per example keeps this test fast
    assert_tree_close(got, want)


@pytest.mark.slow
@pytest.mark.parametrize("activations", [("sigmoid", "tanh", "softmax"), ("tanh", "relu", "sigmoid"),
                                         ("relu", "identity", "tanh"), ("identity", "sigmoid", "relu"),
                                         ("tanh", "tanh", "identity")])
def test_every_activation_including_softmax_output(activations):
    net, params, x = make((3, 4, 5, 3), activations, batch=6)
    f = manual_vjp(net)
    C = lambda a: jnp.sum(jnp.sin(3 * a) * jnp.arange(1.0, 4.0)[None, :])  # no symmetry to hide behind
    both = jax.jit(lambda p, x: (jax.grad(lambda p, x: C(f(p, x)), argnums=(0, 1))(p, x),
                                 jax.grad(lambda p, x: C(net.apply(p, x)), argnums=(0, 1))(p, x)))
    assert_tree_close(*both(params, x))


@pytest.mark.slow
def test_forward_is_net_apply_and_one_sample_stays_1d():
    net, params, x = make((3, 5, 2), ("tanh", "softmax"))
    f = manual_vjp(net)
    np.testing.assert_array_equal(f(params, x), net.apply(params, x))
    assert f(params, x[0]).shape == (2,)
    np.testing.assert_array_equal(f(params, x[0]), net.apply(params, x[0]))
    # integer input is cast to the params dtype, like net.apply
    np.testing.assert_array_equal(f(params, np.ones((2, 3), np.int32)), net.apply(params, np.ones((2, 3))))


def test_input_gradient_is_bp2_carried_to_the_input():
    """dC/dx = delta^1 @ W^1.T, with delta^1 from BP1/BP2, written out in the test."""
    net, params, x = make((2, 3, 1), ("sigmoid", "sigmoid"), batch=4)
    (W1, b1), (W2, b2) = ((l["W"], l["b"]) for l in params)
    z1 = x @ W1 + b1[None, :]
    a1 = jax.nn.sigmoid(z1)
    z2 = a1 @ W2 + b2[None, :]
    a2 = jax.nn.sigmoid(z2)
    g = 2 * a2                                                # C = sum(a^2)
    delta2 = g * a2 * (1 - a2)                                # BP1
    delta1 = (delta2 @ W2.T) * a1 * (1 - a1)                  # BP2
    f = manual_vjp(net)
    np.testing.assert_allclose(jax.grad(lambda x: sum_of_squares(f(params, x)))(x), delta1 @ W1.T,
                               rtol=1e-14, atol=1e-16)


@pytest.mark.slow
def test_under_jit_vmap_per_sample_and_scan():
    net, params, x = make((3, 4, 2), ("tanh", "sigmoid"), batch=6)
    f = manual_vjp(net)
    targets = jnp.linspace(0, 1, 12).reshape(6, 2)

    def grad_of(apply):
        return jax.grad(lambda p, x, y: jnp.sum((apply(p, x) - y) ** 2) + user_l1(apply(p, x)))

    # jit
    assert_tree_close(jax.jit(grad_of(f))(params, x, targets), grad_of(net.apply)(params, x, targets))
    # vmap: one gradient per sample (x[i] is 1-D, one sample)
    per_sample = jax.vmap(grad_of(f), in_axes=(None, 0, 0))(params, x, targets)
    want = jax.vmap(grad_of(net.apply), in_axes=(None, 0, 0))(params, x, targets)
    assert leaves(per_sample)[0].shape == (6, 3, 4)
    assert_tree_close(per_sample, want)
    # lax.scan: ten SGD steps, the gradient inside the loop body
    def train(apply):
        def step(p, _):
            g = grad_of(apply)(p, x, targets)
            return jax.tree_util.tree_map(lambda w, d: w - 0.1 * d, p, g), None
        return jax.jit(lambda p: jax.lax.scan(step, p, None, length=10)[0])(params)
    assert_tree_close(train(f), train(net.apply))


@pytest.mark.slow
def test_net_inside_a_bigger_model():
    """Two nets composed with other functions; grads w.r.t. both nets' params and the input."""
    enc, p1, x = make((3, 4, 2), ("tanh", "tanh"))
    head, p2, _ = make((2, 3, 2), ("relu", "softmax"), seed=5)
    fe, fh = manual_vjp(enc), manual_vjp(head)
    model = lambda apply_e, apply_h: lambda p1, p2, x: optax_cross_entropy(
        apply_h(p2, jnp.cos(apply_e(p1, x))) + 0.1 * x[:, :2])
    assert_tree_close(jax.grad(model(fe, fh), argnums=(0, 1, 2))(p1, p2, x),
                      jax.grad(model(enc.apply, head.apply), argnums=(0, 1, 2))(p1, p2, x))


# ------------------------------------------------------------------------ manual_loss

CASES = [((2, 3, 1), "sigmoid", "quadratic"), ((2, 3, 1), "sigmoid", "cross_entropy"),
         ((3, 4, 3), "softmax", "softmax_cross_entropy"), ((4, 5, 3, 2), "tanh", "quadratic")]


def targets(net, cost, n, dtype):
    k = net.sizes[-1]
    if cost == "softmax_cross_entropy":
        return jnp.arange(n) % k                            # integer labels, one-hot inside
    return jax.random.uniform(jax.random.key(7), (n, k), dtype)


@pytest.mark.slow
@pytest.mark.parametrize("sizes,output,cost,l2,dtype", [
    case + (l2, dtype) for case in CASES for l2, dtype in ((0.0, jnp.float64), (0.05, jnp.float32))]
    + [CASES[0] + (0.05, jnp.float64), CASES[2] + (0.0, jnp.float32)])
def test_value_and_grad_of_manual_loss_is_backprop_bit_for_bit(sizes, output, cost, l2, dtype):
    net = jaxbp.MLP(sizes, hidden="sigmoid", output=output)
    params = net.init(jax.random.key(1), dtype=dtype)
    x = jax.random.normal(jax.random.key(2), (5, sizes[0]), dtype)
    y = targets(net, cost, 5, dtype)
    value, grads = jax.value_and_grad(manual_loss(net, cost, l2))(params, x, y)
    want_value, want_grads = jaxbp.backprop(net, params, x, y, cost, l2)
    assert value.dtype == want_value.dtype and np.array_equal(value, want_value)
    assert_tree_equal(grads, want_grads)
    eps = float(jnp.finfo(dtype).eps)                       # no gradient: C alone, to rounding
    np.testing.assert_allclose(manual_loss(net, cost, l2)(params, x, y), value, rtol=4 * eps)


@pytest.mark.slow
def test_user_terms_inputs_and_targets_match_autodiff():
    net = jaxbp.MLP((3, 4, 2), hidden="tanh", output="sigmoid")
    params = net.init(jax.random.key(3), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(4), (6, 3))
    y = jax.random.uniform(jax.random.key(5), (6, 2))
    loss = manual_loss(net, "cross_entropy", l2=0.01)
    l1 = lambda p: sum(jnp.sum(jnp.abs(layer["W"])) for layer in p)
    twin = lambda p, x, y: autodiff_loss(net, jaxbp.cross_entropy, p, x, y, 0.01)
    total = lambda loss: lambda p, x, y: loss(p, x, y) + 1e-3 * l1(p) + jnp.sum(net.apply(p, x) ** 2)
    assert_tree_close(jax.grad(total(loss), argnums=(0, 1, 2))(params, x, y),
                      jax.grad(total(twin), argnums=(0, 1, 2))(params, x, y))


@pytest.mark.slow
def test_manual_loss_under_jit_vmap_and_one_sample():
    net, params, x = make((2, 3, 2), ("tanh", "softmax"), batch=4)
    labels = jnp.array([0, 1, 1, 0])
    loss = manual_loss(net, "softmax_cross_entropy")
    twin = lambda p, x, y: autodiff_loss(net, jaxbp.softmax_cross_entropy, p, x[None],
                                         jax.nn.one_hot(y, 2)[None], 0.0)
    per_sample = jax.vmap(jax.jit(jax.grad(loss)), in_axes=(None, 0, 0))(params, x, labels)
    assert_tree_close(per_sample, jax.vmap(jax.grad(twin), in_axes=(None, 0, 0))(params, x, labels))


def test_gradient_jaxpr_runs_the_custom_rule():
    net, params, x = make((2, 3, 1), ("sigmoid", "sigmoid"))
    y = jnp.ones((5, 1))
    loss = manual_loss(net, "quadratic")
    assert "custom_vjp_call" in str(jax.make_jaxpr(loss)(params, x, y))
    # differentiating resolves the rule: the gradient's program is backprop's kernel
    # (forward pass) and the rule's backward pass, both by name
    grad_jaxpr = str(jax.make_jaxpr(jax.grad(loss))(params, x, y))
    assert "name=kernel" in grad_jaxpr and "name=_loss_bwd" in grad_jaxpr
    twin = str(jax.make_jaxpr(jax.grad(lambda p: autodiff_loss(net, jaxbp.quadratic, p, x, y, 0.0)))(params))
    assert "name=_loss_bwd" not in twin                     # the check can fail
    f = manual_vjp(net)
    assert "custom_vjp_call" in str(jax.make_jaxpr(f)(params, x))
    assert "name=_net_bwd" in str(jax.make_jaxpr(jax.grad(lambda p: jnp.sum(f(p, x))))(params))


# ------------------------------------------------------------------------ forward mode

@pytest.mark.slow
def test_forward_mode_is_a_clear_error_never_a_number():
    net, params, x = make((2, 3, 1), ("sigmoid", "sigmoid"))
    y = jnp.ones((5, 1))
    f, loss = manual_vjp(net), manual_loss(net, "quadratic")
    with pytest.raises(TypeError, match=r"manual_vjp: forward-mode autodiff .*jax.jvp"):
        jax.jvp(lambda p: f(p, x), (params,), (params,))
    with pytest.raises(TypeError, match=r"manual_loss: forward-mode autodiff .*reverse mode"):
        jax.jacfwd(loss)(params, x, y)
    with pytest.raises(TypeError, match=r"manual_vjp: forward-mode"):
        jax.jit(jax.jacfwd(lambda x: f(params, x)))(x)
    # jax.linearize returns; its linear map raises JAX's own error when called
    _, linear = jax.linearize(lambda p: loss(p, x, y), params)
    with pytest.raises(TypeError, match=r"forward-mode autodiff \(jvp\) to a custom_vjp function"):
        linear(params)


@pytest.mark.slow
def test_forward_over_reverse_hessian_works():
    net, params, x = make((2, 3, 1), ("tanh", "sigmoid"))
    y = jnp.ones((5, 1)) * 0.25
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    loss = manual_loss(net, "quadratic")
    got = jax.jit(jax.hessian(lambda v: loss(unravel(v), x, y)))(flat)
    want = jax.jit(jax.hessian(lambda v: autodiff_loss(net, jaxbp.quadratic, unravel(v), x, y, 0.0)))(flat)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.max(np.abs(want)))


# ------------------------------------------------------------------------ bad input

def test_bad_static_arguments_fail_eagerly():
    net = jaxbp.MLP((2, 3, 1))
    with pytest.raises(TypeError, match=r"manual_vjp: net must be a jaxbp.MLP, got tuple"):
        manual_vjp((2, 3, 1))
    with pytest.raises(TypeError, match=r"manual_loss: net must be a jaxbp.MLP"):
        manual_loss("net", "quadratic")
    with pytest.raises(ValueError, match=r"manual_loss: unknown cost 'quadratc'.*did you mean 'quadratic'"):
        manual_loss(net, "quadratc")
    with pytest.raises(ValueError, match=r"manual_loss: cost 'softmax_cross_entropy' requires a 'softmax'"):
        manual_loss(net, "softmax_cross_entropy")
    with pytest.raises(ValueError, match=r"manual_loss: l2 must be a finite float >= 0, got -1.0"):
        manual_loss(net, "quadratic", l2=-1.0)
    with pytest.raises(TypeError, match=r"manual_loss: l2 must be a concrete number"):
        jax.jit(lambda l2: manual_loss(net, "quadratic", l2))(0.1)


def test_bad_inputs_fail_before_tracing():
    net = jaxbp.MLP((2, 3, 1))
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    f, loss = manual_vjp(net), manual_loss(net, "quadratic")
    bad = (params[0], {"W": jnp.zeros((4, 1)), "b": jnp.zeros(1)})
    with pytest.raises(ValueError, match=r"manual_vjp: layer 1: W has shape \(4, 1\), expected \(3, 1\)"):
        f(bad, jnp.ones((4, 2)))
    with pytest.raises(ValueError, match=r"manual_vjp: layer 0 expects 2 input features, got x .*\(4, 3\)"):
        jax.grad(lambda p: jnp.sum(f(p, jnp.ones((4, 3)))))(params)
    with pytest.raises(ValueError, match=r"manual_loss: x has 4 rows but y has 3"):
        loss(params, jnp.ones((4, 2)), jnp.ones((3, 1)))
    with pytest.raises(ValueError, match=r"manual_loss: x contains 1 non-finite value"):
        loss(params, jnp.array([[0.0, jnp.nan]]), jnp.ones((1, 1)))


# ------------------------------------------------------------------------ second order

NETS = [((2, 3, 1), ("sigmoid", "sigmoid"), "quadratic", 0.0),
        ((2, 3, 1), ("tanh", "sigmoid"), "cross_entropy", 0.1),
        ((3, 4, 3), ("relu", "softmax"), "softmax_cross_entropy", 0.0),
        ((3, 3, 2, 2), ("tanh", "sigmoid", "identity"), "quadratic", 0.02)]


def problem(sizes, activations, cost, seed=0):
    net, params, x = make(sizes, activations, batch=5, seed=seed)
    return net, params, x, targets(net, cost, 5, jnp.float64)


@pytest.mark.slow
@pytest.mark.parametrize("sizes,activations,cost,l2", NETS[1:])   # NETS[0]: the saddle test
def test_reverse_over_reverse_is_the_autodiff_hessian(sizes, activations, cost, l2):
    net, params, x, y = problem(sizes, activations, cost)
    y = jax.nn.one_hot(y, net.sizes[-1]) if cost == "softmax_cross_entropy" else y
    loss = manual_loss(net, cost, l2)
    twin = lambda p: autodiff_loss(net, jaxbp.COSTS[cost], p, x, y, l2)
    v = jax.tree_util.tree_map(jnp.cos, params)
    hvp = lambda grad: jax.vjp(grad, params)[1](v)[0]   # H v without forward mode
    both = jax.jit(lambda p: ((jax.jacrev(jax.grad(loss))(p, x, y), hvp(lambda p: jax.grad(loss)(p, x, y))),
                              (jax.hessian(twin)(p), hvp(jax.grad(twin)))))
    got, want = both(params)                  # H nested: H[l][name][l'][name']
    assert_tree_close(got, want, tol=1e-9)


@pytest.mark.slow
def test_hessian_through_manual_vjp_with_a_user_cost():
    net, params, x = make((2, 3, 2), ("tanh", "sigmoid"))
    f = manual_vjp(net)
    C = lambda apply: lambda p: jnp.sum(apply(p, x) ** 3) + user_l1(apply(p, x))
    both = jax.jit(lambda p: (jax.jacrev(jax.grad(C(f)))(p), jax.hessian(C(net.apply))(p)))
    assert_tree_close(*both(params), tol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("sizes,activations,cost,l2", NETS[2:3])
def test_check_hessian_passes_a_correct_backward(sizes, activations, cost, l2):
    net, params, x, y = problem(sizes, activations, cost)
    report = check_hessian(net, params, x, y, cost, l2)
    assert report.ok and report.worst == "" and report.manual_vs_autodiff < 1e-12
    assert report.manual_vs_numeric < 1e-6 and report.asymmetry < 1e-12
    assert str(report).endswith("ok")
    flat = hessian(net, params, x, y, cost, l2)
    assert flat.shape == (sum(l["W"].size + l["b"].size for l in params),) * 2


def frozen_layer_loss(net, cost, layer):
    """A hand-written loss whose *first* derivative is backprop's, but whose fwd computes
    layer ``layer``'s gradient out of sight of autodiff (stop_gradient): its second
    derivatives are silently zero -- the classic broken second-order path."""
    @jax.custom_vjp
    def loss(params, x, y):
        return autodiff_loss(net, cost, params, x, y, 0.0)

    def fwd(params, x, y):
        tr = backprop_kernel(net, cost, params, x, y, 0.0)
        grads = tuple(jax.lax.stop_gradient(g) if l == layer else g for l, g in enumerate(tr.grads))
        return tr.loss, grads

    loss.defvjp(fwd, lambda grads, g: (jax.tree_util.tree_map(lambda t: g * t, grads), None, None))
    return loss


@pytest.mark.slow
def test_check_hessian_names_a_broken_second_order_path(layer=1):
    """Layer 1's second derivatives broken: layer 2 above (and layer 0 below) stay right."""
    net, params, x, y = problem((3, 3, 2, 2), ("tanh", "sigmoid", "identity"), "quadratic")
    broken = frozen_layer_loss(net, jaxbp.quadratic, layer)
    assert_tree_close(jax.grad(broken)(params, x, y), jaxbp.backprop(net, params, x, y, "quadratic")[1])
    report = check_hessian(net, params, x, y, "quadratic", loss=broken)
    assert not report.ok and report.worst == f"layer {layer} b"
    assert f"FAILED (first wrong: layer {layer} b" in str(report)
    assert report.per_layer[layer]["W"] > 1e-3 and report.per_layer[layer]["W numeric"] > 1e-3
    assert max(report.per_layer[2]["W"], report.per_layer[2]["b"]) < 1e-12  # the layer above is right
    assert max(report.per_layer[0]["W"], report.per_layer[0]["b"]) < 1e-12  # and, here, the one below
    assert report.asymmetry > 1e-3                 # and H is not symmetric (1e-16 when right)


@pytest.mark.slow   # trains XOR (one fit compilation): about 5 s of CPU
def test_hessian_eigenvalues_tell_a_saddle_from_a_minimum():
    """XOR, 2-2-1 sigmoid, quadratic cost. With W1 = 0 every hidden unit is a constant
    sigmoid(b1), and b2 = -W2 . sigmoid(b1) makes the output 0.5 for all four inputs: every
    sample's error cancels against another's, so the gradient is exactly zero (worked out
    by hand: sum_x x_k (0.5 - y) = 0 on XOR) -- but BP2's sigma''(b1) != 0 curves the loss
    down along W1: a saddle. A trained solution has only positive curvature."""
    x, y = (jnp.asarray(a, jnp.float64) for a in jaxbp.gates.truth_table("xor"))
    net = jaxbp.MLP((2, 2, 1))
    b1, W2 = jnp.array([2.0, 0.8]), jnp.array([[-4.0], [-2.0]])
    saddle = ({"W": jnp.zeros((2, 2)), "b": b1}, {"W": W2, "b": -(jax.nn.sigmoid(b1) @ W2)})
    grads = jax.grad(manual_loss(net, "quadratic"))(saddle, x, y)
    assert max(float(jnp.max(jnp.abs(g))) for g in leaves(grads)) < 1e-15
    eig = np.linalg.eigvalsh(hessian(net, saddle, x, y, "quadratic"))
    flat, unravel = jax.flatten_util.ravel_pytree(saddle)
    twin = lambda v: autodiff_loss(net, jaxbp.quadratic, unravel(v), x, y, 0.0)
    want = np.linalg.eigvalsh(jax.hessian(twin)(flat))
    np.testing.assert_allclose(eig, want, rtol=0, atol=1e-12)
    assert eig[0] < -1e-3 and eig[-1] > 1e-3                     # both signs: a saddle
    solved, history = jaxbp.fit(net, net.init(jax.random.key(3), dtype=jnp.float64), x, y,
                                "quadratic", optax.sgd(2.0), steps=3000)
    assert history[-1] < 1e-3
    assert np.linalg.eigvalsh(hessian(net, solved, x, y, "quadratic"))[0] > 1e-6   # a minimum


@pytest.mark.slow
def test_second_order_bad_input():
    net, params, x, y = problem((2, 3, 1), ("sigmoid", "sigmoid"), "quadratic")
    with pytest.raises(TypeError, match=r"check_hessian: loss must be a function .* or None, got str"):
        check_hessian(net, params, x, y, "quadratic", loss="manual")
    with pytest.raises(ValueError, match=r"check_hessian: max_columns must be an int > 0, got 0"):
        check_hessian(net, params, x, y, "quadratic", max_columns=0)
    big = jaxbp.MLP((100, 50, 1))
    with pytest.raises(ValueError, match=r"hessian: the net has 5101 parameters.*at most 4096"):
        hessian(big, big.init(jax.random.key(0)), jnp.ones((1, 100)), jnp.ones((1, 1)), "quadratic")
    with pytest.raises(ValueError, match=r"check_hessian: layer 0 expects 2 input features"):
        check_hessian(net, params, jnp.ones((5, 3)), y, "quadratic")
