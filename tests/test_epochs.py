"""jaxbp.fit_epochs (Nielsen's SGD over the step): mini-batch coverage with a short last
batch, agreement with fit, test-set scoring, compilation counts, divergence, errors."""
import jax
import numpy as np
import pytest

import jaxbp
from jaxbp import epochs
from test_train import (NAIVE_BCE, NET, OR_X, OR_Y, PROBE_NET, PROBE_PARAMS, UNIT, UNIT_PARAMS,
                        X, Y, ids, leaves, params64, probe, regression)


@pytest.mark.slow
def test_fit_epochs_short_last_batch_two_shapes_one_compile():
    """E31: with drop_last=False every sample is used once per epoch, in batches of 3 and a
    last one of 1 -- two batch shapes, one compiled epoch program."""
    cost, seen = probe()
    x, y = ids(10)
    before = epochs.TRACES["fit_epochs"]
    jaxbp.fit_epochs(PROBE_NET, PROBE_PARAMS, x, y, cost, 1e-3, 3, 3, jax.random.key(1))
    assert epochs.TRACES["fit_epochs"] == before + 1
    assert [len(b) for b in seen] == [3, 3, 3, 1] * 3
    for e in range(3):
        assert sorted(sum(seen[e * 4:(e + 1) * 4], [])) == list(range(10))
    # The same key gives fit's epochs, plus the short batch.
    with_short = list(seen)
    probe()
    jaxbp.fit(PROBE_NET, PROBE_PARAMS, x, y, cost, 1e-3, steps=9, batch_size=3,
              key=jax.random.key(1))
    assert seen == [b for b in with_short if len(b) == 3]


def test_fit_epochs_drop_last_equals_fit():
    x, y = regression(11, seed=2)
    opt = jaxbp.optimizer("adam", 0.02)
    pe, he = jaxbp.fit_epochs(NET, params64(), x, y, "quadratic", opt, 4, 3, jax.random.key(5),
                              drop_last=True)
    pf, hf = jaxbp.fit(NET, params64(), x, y, "quadratic", opt, steps=12, batch_size=3,
                       key=jax.random.key(5))
    np.testing.assert_allclose(he.losses.reshape(-1), hf, rtol=1e-12)
    np.testing.assert_allclose(he.train_cost, hf.reshape(4, 3).mean(axis=1), rtol=1e-12)
    for a, b in zip(leaves(pe), leaves(pf)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_fit_epochs_scores_the_test_set(capsys):
    x, y = regression(16, seed=3)
    xt, yt = regression(9, seed=4)
    params, h = jaxbp.fit_epochs(NET, params64(), x, y, "quadratic", 1.0, 3, 4,
                                 jax.random.key(0), test=(xt, yt), progress=True)
    assert h.train_cost.shape == (3,) and h.losses.shape == (3, 4) and h.test_total == 9
    out = NET.apply(params, xt)
    expected = int(np.sum((out[:, 0] > 0.5) == (yt[:, 0] > 0.5)))
    assert h.test_correct[-1] == expected
    cost = np.mean(0.5 * np.sum((np.asarray(out) - yt) ** 2, axis=1))
    np.testing.assert_allclose(h.test_cost[-1], cost, rtol=1e-12)
    np.testing.assert_allclose(h.test_accuracy, h.test_correct / 9)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Epoch {e}: {c} / 9" for e, c in enumerate(h.test_correct)]
    assert h.compile_seconds >= 0 and h.train_seconds > 0


@pytest.mark.slow
def test_fit_epochs_argmax_accuracy_and_no_recompile():
    net = jaxbp.MLP((2, 5, 3), "tanh", "softmax")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 2))
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    run = lambda lr: jaxbp.fit_epochs(net, params64(0, net), x, labels, "softmax_cross_entropy",
                                      lr, 2, 7, jax.random.key(2), test=(x, labels))
    params, h = run(0.5)
    predicted = np.asarray(net.apply(params, x)).argmax(axis=1)
    assert h.test_correct[-1] == np.sum(predicted == labels)
    before = epochs.TRACES["fit_epochs"]
    run(0.5)
    run(0.25)  # a new learning rate: same program
    assert epochs.TRACES["fit_epochs"] == before


@pytest.mark.slow
def test_fit_epochs_divergence():
    """One step per epoch (batch_size = n = 4): step 1 is epoch 1's."""
    with pytest.raises(jaxbp.NonFiniteError, match=r"^fit_epochs: non-finite loss at step 1 "
                                                   r"\(epoch 1\) \(lr=20\.0\); last finite loss 0\.69"):
        jaxbp.fit_epochs(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, 20.0, 3, 4, jax.random.key(0))
    params, h = jaxbp.fit_epochs(UNIT, UNIT_PARAMS, OR_X, OR_Y, NAIVE_BCE, 20.0, 3, 4,
                                 jax.random.key(0), on_diverge="return")
    assert h.losses.shape == (2, 1) and np.isnan(h.losses[1, 0])
    assert all(np.all(a == 0) for a in leaves(params))


@pytest.mark.parametrize("kw, error, pattern", [
    (dict(epochs=0), ValueError, r"^fit_epochs: epochs must be an int > 0, got 0$"),
    (dict(epochs=1.5), TypeError, r"^fit_epochs: epochs must be an int, got float 1\.5$"),
    (dict(batch_size=0), ValueError, r"^fit_epochs: batch_size must be an int in \[1, 4\], got 0$"),
    (dict(batch_size=9), ValueError, r"^fit_epochs: batch_size must be an int in \[1, 4\], got 9$"),
    (dict(key=None), ValueError, r"^fit_epochs: batch_size=2 shuffles mini-batches and needs key"),
    (dict(test=X), TypeError, r"^fit_epochs: test must be a pair \(x_test, y_test\)"),
    (dict(test=(X, Y[:3])), ValueError, r"^fit_epochs \(test data\): x has 4 rows but y has 3"),
    (dict(drop_last="no"), TypeError, r"^fit_epochs: drop_last must be a bool"),
])
def test_fit_epochs_bad_arguments(kw, error, pattern):
    args = dict(epochs=2, batch_size=2, key=jax.random.key(0))
    args.update(kw)
    with pytest.raises(error, match=pattern):
        jaxbp.fit_epochs(NET, params64(), X, Y, "quadratic", 0.1, **args)


def test_fit_epochs_refuses_to_be_traced():
    with pytest.raises(TypeError, match=r"^fit_epochs: params, x and y must be concrete arrays"):
        jax.jit(lambda p: jaxbp.fit_epochs(NET, p, X, Y, "quadratic", 0.1, 1, 2,
                                           jax.random.key(0))[1].train_cost)(params64())


def test_fit_epochs_inside_jit_with_everything_closed_over_is_a_clear_error():
    net = jaxbp.MLP((2, 2, 1))
    params = net.init(jax.random.key(0))
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    with pytest.raises(TypeError, match=r"fit_epochs: .*cannot run inside jax\.jit"):
        jax.jit(lambda: jaxbp.fit_epochs(net, params, x, y, "quadratic", 0.5, 2, 2,
                                         jax.random.key(0), progress=False))()



@pytest.mark.slow
def test_fit_epochs_divergence_at_the_first_batch_of_an_epoch():
    """Two steps per epoch: step 2, the first of epoch 1, is the failing one; the last finite
    params are then those after step 1, the last of epoch 0 (replayed from epoch 0)."""
    x, y = np.concatenate([OR_X, OR_X]), np.concatenate([OR_Y, OR_Y])
    with pytest.raises(jaxbp.NonFiniteError) as info:
        jaxbp.fit_epochs(UNIT, UNIT_PARAMS, x, y, NAIVE_BCE, 3.0, 6, 4, jax.random.key(0))
    k = info.value.step
    p_ref, h_ref = jaxbp.fit(UNIT, UNIT_PARAMS, x, y, NAIVE_BCE, 3.0, steps=12, batch_size=4,
                             key=jax.random.key(0), on_diverge="return")
    assert int(jaxbp.diverged_at(h_ref)) == k
    for a, b in zip(leaves(info.value.params), leaves(p_ref)):
        np.testing.assert_array_equal(a, b)
