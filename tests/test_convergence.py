"""Training behaviour the reliability spec measures: convergence statistics with the default
initialisation (G11) and float32 vs float64 agreement over a long run (G10)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
Y = np.array([[0], [1], [1], [0]], np.float64)


def solved_count(sizes, lr, seeds=40, steps=10_000):
    """How many of ``seeds`` default initialisations solve XOR (all four outputs on the right
    side of 0.5) after ``steps`` full-batch gradient-descent steps -- one vmapped program."""
    net = jaxbp.MLP(sizes)
    params = jax.vmap(lambda k: net.init(k))(jax.random.split(jax.random.key(0), seeds))
    x, y = X.astype(np.float32), Y.astype(np.float32)
    train = jax.jit(jax.vmap(lambda p: jaxbp.fit(net, p, x, y, "quadratic", lr, steps=steps)[0]))
    outputs = jax.vmap(lambda p: net.apply(p, x))(train(params))
    return int(jnp.sum(jnp.all((outputs > 0.5) == (y > 0.5)[None], axis=(1, 2))))


@pytest.mark.slow
@pytest.mark.parametrize("lr", [0.5, 2.0, 10.0])
def test_G11_default_init_learns_xor(lr):
    assert solved_count((2, 4, 1), lr) >= 38
    assert solved_count((2, 2, 1), lr) >= 30


@pytest.mark.slow
@pytest.mark.parametrize("lr", [0.5, 3.0])
def test_G10_float32_and_float64_agree_over_10000_steps(lr):
    net = jaxbp.MLP((2, 4, 1))
    p64 = net.init(jax.random.key(1), dtype=jnp.float64)
    p32 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), p64)
    out = {}
    for name, p in (("f32", p32), ("f64", p64)):
        trained, history = jaxbp.fit(net, p, X, Y, "quadratic", lr, steps=10_000)
        assert history.dtype == p[0]["W"].dtype
        out[name] = (float(jaxbp.loss(net, trained, X, Y, "quadratic")), np.asarray(net.apply(trained, X)))
    (loss32, a32), (loss64, a64) = out["f32"], out["f64"]
    assert abs(loss32 - loss64) <= 1e-4 * loss64, (loss32, loss64)
    np.testing.assert_array_equal(a32 > 0.5, a64 > 0.5)
