"""The three costs: values as API.md defines them (hand computations in numpy), names, and
the fused output error of BP1."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp

rng = np.random.default_rng(0)
X = rng.normal(size=(6, 3))


def net_and_params(output, k):
    net = jaxbp.MLP((3, 4, k), hidden="tanh", output=output)
    return net, net.init(jax.random.key(0), dtype=jnp.float64)


def output_of(net, params):
    return np.asarray(net.apply(params, X))


def test_quadratic_is_half_squared_error_summed_over_units_mean_over_batch():
    net, params = net_and_params("identity", 2)
    y = rng.normal(size=(6, 2))
    a = output_of(net, params)
    expected = np.mean(0.5 * np.sum((a - y) ** 2, axis=1))
    for cost in ("quadratic", jaxbp.quadratic):
        np.testing.assert_allclose(jaxbp.loss(net, params, X, y, cost), expected, rtol=1e-13)


@pytest.mark.slow
def test_binary_cross_entropy_per_unit():
    net, params = net_and_params("sigmoid", 3)
    y = rng.uniform(size=(6, 3))
    a = output_of(net, params)
    expected = np.mean(-np.sum(y * np.log(a) + (1 - y) * np.log(1 - a), axis=1))
    np.testing.assert_allclose(jaxbp.loss(net, params, X, y, "cross_entropy"), expected, rtol=1e-12)


@pytest.mark.slow
def test_softmax_cross_entropy_dense_and_integer_labels_agree():
    net, params = net_and_params("softmax", 4)
    labels = np.array([0, 3, 1, 1, 2, 0])
    a = output_of(net, params)
    expected = np.mean(-np.log(a[np.arange(6), labels]))
    one_hot = np.eye(4)[labels]
    np.testing.assert_allclose(jaxbp.loss(net, params, X, one_hot, "softmax_cross_entropy"),
                               expected, rtol=1e-12)
    np.testing.assert_allclose(jaxbp.loss(net, params, X, labels, jaxbp.softmax_cross_entropy),
                               expected, rtol=1e-12)
    _, g_dense = jaxbp.backprop(net, params, X, one_hot, "softmax_cross_entropy")
    _, g_sparse = jaxbp.backprop(net, params, X, labels, "softmax_cross_entropy")
    for a_, b_ in zip(jax.tree_util.tree_leaves(g_dense), jax.tree_util.tree_leaves(g_sparse)):
        np.testing.assert_allclose(a_, b_, rtol=1e-13)


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
def test_l2_term(cost):
    net, params = net_and_params("sigmoid", 2)
    y = rng.uniform(size=(6, 2))
    penalty = 0.5 * 0.7 * sum(np.sum(np.asarray(p["W"]) ** 2) for p in params)
    diff = jaxbp.loss(net, params, X, y, cost, l2=0.7) - jaxbp.loss(net, params, X, y, cost)
    np.testing.assert_allclose(diff, penalty, rtol=1e-12)


@pytest.mark.parametrize("output, cost, k", [("sigmoid", "cross_entropy", 2),
                                             ("softmax", "softmax_cross_entropy", 3)])
def test_matched_pairs_have_output_error_a_minus_y(output, cost, k):  # BP1, fused form
    net, params = net_and_params(output, k)
    y = np.eye(k)[rng.integers(0, k, size=6)]
    tr = jaxbp.trace(net, params, X, y, cost)
    np.testing.assert_allclose(tr.deltas[-1], output_of(net, params) - y, rtol=1e-12, atol=1e-15)


def test_quadratic_output_error_is_general_form():
    net, params = net_and_params("tanh", 2)
    y = rng.uniform(size=(6, 2))
    a = output_of(net, params)
    tr = jaxbp.trace(net, params, X, y, "quadratic")
    np.testing.assert_allclose(tr.deltas[-1], (a - y) * (1 - a ** 2), rtol=1e-12)


@pytest.mark.parametrize("output, cost", [("tanh", "cross_entropy"), ("identity", "cross_entropy"),
                                          ("sigmoid", "softmax_cross_entropy"),
                                          ("softmax", "quadratic"), ("softmax", "cross_entropy")])
def test_unservable_pairs_are_a_clear_error(output, cost):
    net, params = net_and_params(output, 2)
    with pytest.raises(ValueError, match=rf"backprop: cost '{cost}'"):
        jaxbp.backprop(net, params, X, np.full((6, 2), 0.5), cost)


def test_costs_by_name_are_the_module_constants():
    assert jaxbp.COSTS == {"quadratic": jaxbp.quadratic, "cross_entropy": jaxbp.cross_entropy,
                           "softmax_cross_entropy": jaxbp.softmax_cross_entropy}


@pytest.mark.slow
def test_weight_decay_python_zero_traced_and_vmapped():
    """One mechanism: a Python zero drops the term (no sum at all); any other l2 -- a Python
    number or a traced one -- is 0.5 * l2 * sum(W**2) over the weights only, under jit,
    vmap and grad, with d/dl2 = 0.5 * sum(W**2) also at a traced zero."""
    from jaxbp import costs
    params = ({"W": jnp.array([[1.0, -2.0]]), "b": jnp.array([5.0, 5.0])},
              {"W": jnp.array([[3.0], [0.5]]), "b": jnp.array([7.0])})
    squares = 1 + 4 + 9 + 0.25                               # weights only, by hand
    assert costs.weight_decay(params, 0.0) == 0.0 and costs.weight_decay(params, 0) == 0.0
    assert "integer_pow" not in str(jax.make_jaxpr(lambda p: costs.weight_decay(p, 0.0))(params))
    assert float(costs.weight_decay(params, 0.1)) == pytest.approx(0.05 * squares)
    f = jax.jit(costs.weight_decay)
    assert float(f(params, jnp.asarray(0.0))) == 0.0
    np.testing.assert_allclose(float(f(params, jnp.asarray(0.1))), 0.05 * squares, rtol=1e-12)
    many = jax.vmap(costs.weight_decay, in_axes=(None, 0))(params, jnp.array([0.0, 0.1, 2.0]))
    np.testing.assert_allclose(np.asarray(many), [0.0, 0.05 * squares, squares], rtol=1e-12)
    g = jax.grad(lambda p: f(p, jnp.asarray(0.1)))(params)   # d/dW = l2 * W; biases 0
    np.testing.assert_allclose(np.asarray(g[1]["W"]), 0.1 * np.array([[3.0], [0.5]]), rtol=1e-12)
    assert float(jnp.sum(jnp.abs(g[0]["b"]))) == 0.0
    for l2 in (0.0, 0.1):
        assert float(jax.grad(lambda l: costs.weight_decay(params, l))(jnp.asarray(l2))) == \
            pytest.approx(0.5 * squares, rel=1e-12)
