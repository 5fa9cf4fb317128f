"""jaxbp.shuffle: the mini-batch order is a permutation, uniform in distribution, the same
under vmap, and the order fit actually uses."""
import itertools
import math
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp
from jaxbp import shuffle


@pytest.mark.slow
@pytest.mark.parametrize("n", list(range(1, 40)) + [255, 256, 257, 1000, 60000])
def test_permutation_is_a_permutation_of_range_n(n):
    p = np.asarray(shuffle.permutation(jax.random.key(n), n))
    assert p.dtype == np.int32 and p.shape == (n,)
    assert np.array_equal(np.sort(p), np.arange(n))


def test_keys_decide_the_order():
    a, b = (np.asarray(shuffle.permutation(jax.random.key(s), 1000)) for s in (0, 1))
    assert np.array_equal(a, np.asarray(shuffle.permutation(jax.random.key(0), 1000)))
    assert np.mean(a == b) < 0.02          # two keys: about 1 in 1000 positions agree
    assert np.mean(a == np.arange(1000)) < 0.02


@pytest.mark.slow
def test_vmap_over_keys_equals_one_at_a_time():
    keys = jax.random.split(jax.random.key(7), 5)
    many = np.asarray(jax.vmap(lambda k: shuffle.permutation(k, 33))(keys))
    for k, row in zip(keys, many):
        assert np.array_equal(row, np.asarray(shuffle.permutation(k, 33)))


@pytest.mark.slow
@pytest.mark.parametrize("n", [3, 5])
def test_every_order_equally_likely(n):
    """Chi-square of the n! orders over 24,000 keys: ~1 per degree of freedom when uniform
    (eight rounds: 1.13 and 0.87; four rounds would give 2.7 and 3.3 and fail)."""
    draws = 24_000
    keys = jax.random.split(jax.random.key(2024), draws)
    orders = np.asarray(jax.jit(jax.vmap(lambda k: shuffle.permutation(k, n)))(keys))
    counts = Counter(map(tuple, orders.tolist()))
    m = math.factorial(n)
    assert len(counts) == m
    expected = draws / m
    chi2 = sum((counts.get(p, 0) - expected) ** 2 / expected
               for p in itertools.permutations(range(n)))
    assert chi2 / (m - 1) < 1.6


@pytest.mark.slow
def test_positions_uniform_for_a_larger_n():
    """Where sample i lands, over 2,000 keys, n = 300: chi-square ~1 per degree of freedom."""
    n, draws = 300, 2000
    keys = jax.random.split(jax.random.key(5), draws)
    orders = np.asarray(jax.jit(jax.vmap(lambda k: shuffle.permutation(k, n)))(keys))
    positions = np.argsort(orders, axis=1)           # positions[:, i]: where sample i went
    counts = np.stack([np.bincount(positions[:, i], minlength=n) for i in range(0, n, 30)])
    expected = draws / n
    chi2 = ((counts - expected) ** 2 / expected).sum() / (counts.shape[0] * (n - 1))
    assert 0.8 < chi2 < 1.2


@pytest.mark.slow
def test_epoch_order_folds_in_the_epoch():
    key = jax.random.key(3)
    for e in range(3):
        assert np.array_equal(np.asarray(shuffle.epoch_order(key, e, 50)),
                              np.asarray(shuffle.permutation(jax.random.fold_in(key, e), 50)))


def test_n_must_be_positive():
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        shuffle.permutation(jax.random.key(0), 0)


@pytest.mark.slow
def test_fit_visits_samples_in_epoch_order():
    """The documented scheme: epoch e of fit visits epoch_order(key, e, n), batch_size at a
    time. A probe cost records the rows it sees (x = row index)."""
    seen = []

    def value(z, y, act):
        jax.debug.callback(lambda ids: seen.append(np.asarray(ids).astype(int).tolist()),
                           y[:, 0], ordered=True)
        return jaxbp.quadratic.value(z, y, act)

    cost = jaxbp.Cost("probe", value, jaxbp.quadratic.delta)
    net = jaxbp.MLP((1, 1), output="identity")
    params = ({"W": jnp.zeros((1, 1)), "b": jnp.zeros((1,))},)
    x = np.arange(10, dtype=np.float64)[:, None]
    key = jax.random.key(11)
    jaxbp.fit(net, params, x, x.copy(), cost, 1e-3, steps=6, batch_size=3, key=key)
    for e in range(2):
        order = np.asarray(shuffle.epoch_order(key, e, 10))[:9].tolist()
        assert sum(seen[3 * e:3 * e + 3], []) == order
