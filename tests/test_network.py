"""MLP: a static, hashable architecture; init per activation; the forward pass."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp


def test_same_architecture_compares_equal_and_hashes_alike():
    a = jaxbp.MLP(sizes=(2, 2, 1), hidden="sigmoid", output="sigmoid")
    b = jaxbp.MLP([2, 2, 1])
    c = jaxbp.MLP((2, 2, 1), activations=("sigmoid", "sigmoid"))
    assert a == b == c and hash(a) == hash(b) == hash(c)
    assert a != jaxbp.MLP((2, 2, 1), hidden="tanh")
    assert a != jaxbp.MLP((2, 3, 1))
    assert len({a, b, c}) == 1


def test_per_layer_activations():
    net = jaxbp.MLP((3, 4, 5, 2), activations=("relu", "tanh", "softmax"))
    assert net.activations == ("relu", "tanh", "softmax") and net.output == "softmax"
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    P = jax.tree_util.tree_map(np.asarray, params)
    x = np.random.default_rng(0).normal(size=(6, 3))
    h1 = np.maximum(x @ P[0]["W"] + P[0]["b"], 0)
    h2 = np.tanh(h1 @ P[1]["W"] + P[1]["b"])
    z = h2 @ P[2]["W"] + P[2]["b"]
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(net.apply(params, x), expected, rtol=1e-12)


def test_init_shapes_dtypes_and_layout():
    net = jaxbp.MLP((4, 3, 2))
    params = net.init(jax.random.key(0))
    assert isinstance(params, tuple) and len(params) == 2
    assert [set(p) for p in params] == [{"W", "b"}] * 2
    assert params[0]["W"].shape == (4, 3) and params[0]["b"].shape == (3,)
    assert params[1]["W"].shape == (3, 2) and params[1]["b"].shape == (2,)
    assert all(a.dtype == jnp.float32 for a in jax.tree_util.tree_leaves(params))
    p64 = net.init(jax.random.key(0), dtype=jnp.float64)
    assert all(a.dtype == jnp.float64 for a in jax.tree_util.tree_leaves(p64))


def test_init_is_deterministic_and_layers_differ():
    net = jaxbp.MLP((5, 5, 5, 5))
    p1, p2 = net.init(jax.random.key(7)), net.init(jax.random.key(7))
    for a, b in zip(jax.tree_util.tree_leaves(p1), jax.tree_util.tree_leaves(p2)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(p1[0]["W"], p1[1]["W"])
    assert not np.array_equal(p1[1]["W"], p1[2]["W"])
    assert not np.array_equal(p1[0]["W"], net.init(jax.random.key(8))[0]["W"])
    legacy = net.init(jax.random.PRNGKey(7))  # raw uint32 keys work too
    assert legacy[0]["W"].shape == (5, 5)


@pytest.mark.slow
def test_default_init_scale_per_activation():
    """W ~ N(0, gain^2 / n_in): gain 1 for sigmoid/tanh, sqrt(2) for relu; b ~ N(0, 1)."""
    n_in = 400
    for hidden, gain in (("sigmoid", 1.0), ("tanh", 1.0), ("relu", 2 ** 0.5)):
        net = jaxbp.MLP((n_in, 300, 1), hidden=hidden)
        W = np.asarray(net.init(jax.random.key(0), dtype=jnp.float64)[0]["W"])
        assert abs(W.std() - gain / n_in ** 0.5) < 0.02 * gain / n_in ** 0.5
        assert abs(W.mean()) < 0.01 * gain / n_in ** 0.5
    b = np.asarray(jaxbp.MLP((2, 4000, 1)).init(jax.random.key(1), dtype=jnp.float64)[0]["b"])
    assert abs(b.std() - 1.0) < 0.05


@pytest.mark.slow
def test_init_with_scale_and_uniform_distribution():
    net = jaxbp.MLP((50, 60, 1))
    W = np.asarray(net.init(jax.random.key(0), scale=0.12, distribution="uniform",
                            dtype=jnp.float64)[0]["W"])
    assert W.min() >= -0.12 and W.max() <= 0.12 and W.max() > 0.11 and W.min() < -0.11
    W = np.asarray(net.init(jax.random.key(0), scale=3.0, dtype=jnp.float64)[0]["W"])
    assert abs(W.std() - 3.0) < 0.2


@pytest.mark.slow
def test_init_under_vmap_gives_one_parameter_set_per_key():
    net = jaxbp.MLP((2, 3, 1))
    keys = jax.random.split(jax.random.key(0), 4)
    batched = jax.vmap(net.init)(keys)
    assert batched[0]["W"].shape == (4, 2, 3)
    np.testing.assert_array_equal(batched[0]["W"][2], net.init(keys[2])[0]["W"])


def test_apply_one_sample_as_vector():
    net = jaxbp.MLP((2, 3, 2))
    params = net.init(jax.random.key(0))
    x = np.array([[0.5, 1.0], [1.0, -1.0]], np.float32)
    batch = net.apply(params, x)
    assert batch.shape == (2, 2)
    one = net.apply(params, x[1])
    assert one.shape == (2,)
    np.testing.assert_array_equal(one, batch[1])


def test_apply_under_jit_and_vmap():
    net = jaxbp.MLP((2, 3, 1))
    params = net.init(jax.random.key(0))
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    np.testing.assert_allclose(jax.jit(net.apply)(params, x), net.apply(params, x), rtol=1e-6)
    per_sample = jax.vmap(net.apply, in_axes=(None, 0))(params, x)
    np.testing.assert_allclose(per_sample, net.apply(params, x), rtol=1e-6)


def test_apply_casts_integer_inputs_to_the_params_dtype():
    net = jaxbp.MLP((2, 1))
    params = net.init(jax.random.key(0))
    out = net.apply(params, np.array([[0, 1], [1, 1]]))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, net.apply(params, np.array([[0.0, 1.0], [1.0, 1.0]], np.float32)))


def test_params_are_not_mutated():
    net = jaxbp.MLP((2, 2, 1))
    params = net.init(jax.random.key(0))
    before = [np.array(a) for a in jax.tree_util.tree_leaves(params)]
    x = np.array([[0, 1]], np.float32)
    jaxbp.backprop(net, params, x, np.array([[1.0]], np.float32), "quadratic")
    jaxbp.fit(net, params, x, np.array([[1.0]], np.float32), "quadratic", 0.5, steps=3)
    for a, b in zip(before, jax.tree_util.tree_leaves(params)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad, error", [((3,), ValueError), ((2, 0, 1), ValueError),
                                        ((2, True, 1), TypeError), ((2, 2.0, 1), TypeError)])
def test_bad_sizes_are_rejected(bad, error):
    with pytest.raises(error, match=r"MLP: sizes"):
        jaxbp.MLP(bad)


def test_hidden_names_the_hidden_activation_or_none_when_mixed():
    assert jaxbp.MLP((2, 3, 3, 1), hidden="tanh").hidden == "tanh"
    assert jaxbp.MLP((2, 3, 3, 1), activations=("tanh", "relu", "sigmoid")).hidden is None
    assert jaxbp.MLP((2, 1)).hidden is None


def test_grads_come_back_in_the_container_params_came_in():
    net = jaxbp.MLP((2, 3, 1))
    params = net.init(jax.random.key(0))
    x, y = np.array([[0.0, 1.0]], np.float32), np.array([[1.0]], np.float32)
    for p in (params, list(params)):
        _, manual = jaxbp.backprop(net, p, x, y, "quadratic")
        _, auto = jaxbp.autodiff(net, p, x, y, "quadratic")
        assert jax.tree_util.tree_structure(manual) == jax.tree_util.tree_structure(auto) \
            == jax.tree_util.tree_structure(p)
        assert type(jaxbp.trace(net, p, x, y, "quadratic").grads) is type(p)
