"""jaxbp._layout: the training loop's transposed storage of big layers' W (XLA:CPU tuning).

The layout must change nothing but speed: every result of fit / fit_epochs on a net whose
layers are stored transposed is checked against an independent reference -- a hand loop
with ``jax.grad`` of a loss written out here, or the autodiff twin (which never uses the
layout) -- in float64 (float32 where divergence needs it), and the API's layout is what
comes back on every exit path."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import jaxbp
from jaxbp import _layout, train
from jaxbp.costs import Cost, cross_entropy
from jaxbp.network import feedforward

# Both layers qualify at batch 64: 64 x 64 x 32 and 64 x 32 x 32 multiply-adds >= MIN_MACS,
# 32 outputs each. The tests assert this, so that none of them can pass vacuously.
NET = jaxbp.MLP((64, 32, 32))
BATCH = 64


def data(n=3 * BATCH, seed=0, net=NET):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, net.sizes[0])), rng.uniform(0.05, 0.95, (n, net.sizes[-1]))


def params64(seed=0, net=NET):
    return net.init(jax.random.key(seed), dtype=jnp.float64)


def leaves(tree):
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(tree)]


def assert_close(got, want, rtol=1e-10):
    assert [a.shape for a in leaves(got)] == [b.shape for b in leaves(want)]
    for a, b in zip(leaves(got), leaves(want)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-13)


def test_the_rule():
    assert _layout.transposed_layers(NET.sizes, BATCH) == (0, 1)
    assert train._transposed(NET, "manual", jaxbp.optimizer("momentum", 0.1).static, BATCH) == (0, 1)
    assert _layout.transposed_layers((784, 100, 10), 128) == (0, 1)      # W5
    assert _layout.transposed_layers((784, 30, 10), 10) == (0,)          # 10x30x10 is small
    assert _layout.transposed_layers((64, 30, 10), 10) == ()             # W4: both small
    assert _layout.transposed_layers((2, 2, 1), 4) == ()                 # W1
    # measured slower transposed: many outputs at a big batch, or n_in < 2 x batch at 128
    assert _layout.transposed_layers((784, 256, 256, 10), 256) == (2,)
    assert _layout.transposed_layers((64, 256, 10), 128) == (1,)
    # never for the autodiff twin or an optax object (it might not be elementwise)
    import optax
    assert train._transposed(NET, "autodiff", jaxbp.optimizer("sgd", 0.1).static, BATCH) == ()
    assert train._transposed(NET, "manual", optax.sgd(0.1), BATCH) == ()


def test_only_on_cpu(monkeypatch):
    monkeypatch.setattr(_layout.jax, "default_backend", lambda: "gpu")
    assert _layout.transposed_layers((784, 100, 10), 128) == ()


def test_on_a_mesh_the_rule_sees_each_devices_rows():
    class Sharding:  # what _transposed reads of a NamedSharding
        class mesh:
            shape = {"data": 4}
    sgd = jaxbp.optimizer("sgd", 0.1).static
    assert train._transposed(NET, "manual", sgd, 4 * BATCH) == (0, 1)
    assert train._transposed(NET, "manual", sgd, 4 * BATCH, Sharding) == (0, 1)  # 64 each
    assert train._transposed(NET, "manual", sgd, BATCH, Sharding) == ()          # 16 each


def test_stored_transposes_the_chosen_weights_and_is_its_own_inverse():
    p = params64()
    s = _layout.stored(p, (1,))
    assert s[0] is p[0] and s[1]["W"].shape == (32, 32)
    np.testing.assert_array_equal(s[1]["W"], np.asarray(p[1]["W"]).T)
    assert s[1]["b"] is p[1]["b"]
    assert all(np.array_equal(a, b) for a, b in zip(leaves(_layout.stored(s, (1,))), leaves(p)))


@given(sizes=st.lists(st.integers(1, 9), min_size=2, max_size=4), batch=st.integers(1, 7),
       data=st.data())
def test_feedforward_transposed_is_the_same_forward_pass(sizes, batch, data):
    net = jaxbp.MLP(tuple(sizes))
    transposed = tuple(data.draw(st.sets(st.integers(0, len(sizes) - 2))))
    params = params64(data.draw(st.integers(0, 2 ** 16)), net)
    x = np.random.default_rng(batch).standard_normal((batch, sizes[0]))
    zs, acts = feedforward(net, params, x)
    zs_t, acts_t = feedforward(net, params, x, transposed=transposed)
    for a, b in zip(zs_t + acts_t, zs + acts):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_bp4_reads_an_activation_held_transposed_as_stored(monkeypatch):
    """After a layer computed in the transposed layout, the next layer's BP4 product is
    ``a.T @ delta`` (the operand is held as (n_in, batch)); the gradients stay those of
    jax.grad."""
    import importlib
    from jaxbp.costs import quadratic
    backprop = importlib.import_module("jaxbp.backprop")  # the module (jaxbp.backprop is the function)
    flags, outer_sum = [], backprop._outer_sum
    monkeypatch.setattr(backprop, "_outer_sum",
                        lambda a, d, t=False: flags.append(t) or outer_sum(a, d, t))
    x, y = data(BATCH)
    p = params64(3)
    for transposed, want in (((0,), [False, True]), ((1,), [False, False])):
        backprop._trace.__wrapped__(NET, quadratic, p, x, y, 0.0, transposed)  # not jitted
        assert flags == want
        flags.clear()
    tr = backprop._trace.__wrapped__(NET, quadratic, p, x, y, 0.0, (0, 1))
    assert flags == [False, True]
    a, d = jnp.ones((BATCH, 32)), jnp.ones((BATCH, 32))                 # layer 1's shapes
    ops = lambda t: {e.primitive.name for e in jax.make_jaxpr(
        lambda a, d: outer_sum(a, d, t))(a, d).eqns}
    assert "optimization_barrier" in ops(False) and "optimization_barrier" not in ops(True)
    value, grads = jax.value_and_grad(_loss)(p, x, y)
    np.testing.assert_allclose(tr.loss, value, rtol=1e-12)
    assert_close(tr.grads, grads, rtol=1e-12)


def _loss(p, xb, yb):
    """The 64-32-32 sigmoid net's quadratic cost, written out (independent of jaxbp)."""
    h = jax.nn.sigmoid(xb @ p[0]["W"] + p[0]["b"][None, :])
    a = jax.nn.sigmoid(h @ p[1]["W"] + p[1]["b"][None, :])
    return jnp.mean(0.5 * jnp.sum((a - yb) ** 2, axis=1))


def test_fit_with_transposed_layers_equals_a_hand_loop_with_jax_grad():
    x, y = data()
    lr, steps, key = 2.0, 9, jax.random.key(4)   # three epochs of three batches
    params, history = jaxbp.fit(NET, params64(), x, y, "quadratic", lr, steps,
                                batch_size=BATCH, key=key)
    p, value_and_grad = params64(), jax.jit(jax.value_and_grad(_loss))
    for t in range(steps):
        idx = np.asarray(jaxbp.shuffle.epoch_order(key, t // 3, 3 * BATCH))[(t % 3) * BATCH:][:BATCH]
        value, grads = value_and_grad(p, x[idx], y[idx])
        np.testing.assert_allclose(history[t], value, rtol=1e-12)
        p = jax.tree_util.tree_map(lambda a, g: a - lr * g, p, grads)
    assert_close(params, p)


def test_momentum_masks_and_l2_equal_the_autodiff_twin():
    """Optimizer state lives in the stored layout; a frozen W of a stored layer comes back
    bit-identical; l2 and a full batch (3 x BATCH) too."""
    x, y = data()
    opt = jaxbp.optimizer("nesterov", 0.3, momentum=0.8)
    trainable = ({"W": False, "b": True}, {"W": True, "b": True})
    assert train._transposed(NET, "manual", opt.static, 3 * BATCH) == (0, 1)
    p0 = params64(1)
    for kw in (dict(batch_size=BATCH, key=jax.random.key(2)), {}):
        pm, hm = jaxbp.fit(NET, p0, x, y, "cross_entropy", opt, 12, l2=0.01,
                           trainable=trainable, **kw)
        pa, ha = jaxbp.fit(NET, p0, x, y, "cross_entropy", opt, 12, l2=0.01,
                           trainable=trainable, grad="autodiff", **kw)
        np.testing.assert_allclose(hm, ha, rtol=1e-10)
        assert_close(pm, pa)
        assert np.asarray(pm[0]["W"]).tobytes() == np.asarray(p0[0]["W"]).tobytes()
        assert not np.array_equal(pm[1]["W"], p0[1]["W"])


def test_fit_epochs_with_transposed_layers_equals_the_autodiff_twin():
    """The stored layout crosses the per-epoch calls (params, last finite params, adam's
    moments); 3 x BATCH + 2 samples add a short last batch, and the test set is scored
    in the API's layout."""
    x, y = data(3 * BATCH + 2, seed=3)
    x_test, y_test = data(20, seed=4)
    opt = jaxbp.optimizer("adam", 0.01)
    run = lambda grad: train.fit_epochs(NET, params64(2), x, y, "quadratic", opt, 3, BATCH,
                                        jax.random.key(5), test=(x_test, y_test), grad=grad)
    (pm, hm), (pa, ha) = run("manual"), run("autodiff")
    assert hm.losses.shape == (3, 4)
    np.testing.assert_allclose(hm.losses, ha.losses, rtol=1e-10)
    np.testing.assert_allclose(hm.test_cost, ha.test_cost, rtol=1e-10)
    np.testing.assert_array_equal(hm.test_correct, ha.test_correct)
    assert_close(pm, pa)


def _naive_bce(z, y, act):
    a = jax.nn.sigmoid(z)
    return -jnp.sum(y * jnp.log(a) + (1 - y) * jnp.log(1 - a), axis=-1)


NAIVE_BCE = Cost("naive_bce", _naive_bce, cross_entropy.delta, "sigmoid")


def test_divergence_returns_the_last_finite_params_in_the_api_layout():
    """Eager replay, the traced guard (under jit and vmap) and fit_epochs all hand back
    (64, 32) and (32, 32) weights, equal to the autodiff twin's: float32, a naively
    computed cross-entropy (log of a saturated sigmoid) and lr 20."""
    x, y = (a.astype(np.float32) for a in data())
    y = (y > 0.5).astype(np.float32)
    p0 = NET.init(jax.random.key(0))
    kw = dict(batch_size=BATCH, key=jax.random.key(0))
    with pytest.raises(jaxbp.NonFiniteError) as manual:
        jaxbp.fit(NET, p0, x, y, NAIVE_BCE, 20.0, 6, **kw)
    with pytest.raises(jaxbp.NonFiniteError) as twin:
        jaxbp.fit(NET, p0, x, y, NAIVE_BCE, 20.0, 6, grad="autodiff", **kw)
    assert 0 < manual.value.step == twin.value.step < 6
    assert_close(manual.value.params, twin.value.params, rtol=1e-5)
    p_jit, h_jit = jax.jit(lambda p: jaxbp.fit(NET, p, x, y, NAIVE_BCE, 20.0, 6, **kw))(p0)
    np.testing.assert_array_equal(h_jit, manual.value.history)
    assert_close(p_jit, manual.value.params, rtol=0)
    p_b, h_b = jax.vmap(lambda r: jaxbp.fit(NET, p0, x, y, NAIVE_BCE, r, 6, **kw))(
        jnp.array([1e-3, 20.0], jnp.float32))
    # batched products round differently from unbatched ones in float32
    np.testing.assert_allclose(h_b[1], manual.value.history, rtol=1e-5)  # NaNs at the same steps
    assert_close(jax.tree_util.tree_map(lambda a: a[1], p_b), manual.value.params, rtol=1e-5)
    p_ok, h_ok = jaxbp.fit(NET, p0, x, y, NAIVE_BCE, 1e-3, 6, **kw)
    np.testing.assert_allclose(h_b[0], h_ok, rtol=1e-6)
    assert_close(jax.tree_util.tree_map(lambda a: a[0], p_b), p_ok, rtol=1e-6)
    with pytest.raises(jaxbp.NonFiniteError) as epochs:
        train.fit_epochs(NET, p0, x, y, NAIVE_BCE, 20.0, 2, BATCH, jax.random.key(0))
    assert epochs.value.step == manual.value.step
    assert_close(epochs.value.params, manual.value.params, rtol=0)


def test_the_other_exit_paths_return_the_api_layout():
    """on_diverge="return"; non-finite params after the last update (the loss was finite:
    ``bad == steps``); and a one-step fit under jit (the traced bookkeeping, no loop)."""
    x, y = (a.astype(np.float32) for a in data())
    p0 = NET.init(jax.random.key(0))
    kw = dict(batch_size=BATCH, key=jax.random.key(0))
    y01 = (y > 0.5).astype(np.float32)
    p_ret, h_ret = jaxbp.fit(NET, p0, x, y01, NAIVE_BCE, 20.0, 6, on_diverge="return", **kw)
    p_twin, h_twin = jaxbp.fit(NET, p0, x, y01, NAIVE_BCE, 20.0, 6, on_diverge="return",
                               grad="autodiff", **kw)
    assert np.isnan(h_ret).any()
    np.testing.assert_allclose(h_ret, h_twin, rtol=1e-5)
    assert_close(p_ret, p_twin, rtol=1e-5)
    # one huge step: a finite loss, then 1e38 x gradients of ~100 overflow the weights
    linear = jaxbp.MLP(NET.sizes, output="identity")
    for grad in ("manual", "autodiff"):
        with pytest.raises(jaxbp.NonFiniteError,
                           match="non-finite parameters after the last step") as last:
            jaxbp.fit(linear, p0, x, y * 1e3, "quadratic", 1e38, 1, grad=grad, **kw)
        assert last.value.step == 1 and np.isfinite(last.value.history).all()
        assert_close(last.value.params, p0, rtol=0)     # the initial params, as given
    p1, h1 = jax.jit(lambda p: jaxbp.fit(NET, p, x, y, "quadratic", 0.5, 1, **kw))(p0)
    p1_twin, h1_twin = jaxbp.fit(NET, p0, x, y, "quadratic", 0.5, 1, grad="autodiff", **kw)
    np.testing.assert_allclose(h1, h1_twin, rtol=1e-6)
    assert_close(p1, p1_twin, rtol=1e-5)


def test_float32_within_rounding_of_the_plain_layout(monkeypatch):
    """The layout reorders float32 sums, nothing else: W5's shapes, a few steps. (The
    layout is a static argument of the compiled program: no cache to clear.)"""
    net = jaxbp.MLP((784, 100, 10))
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(256, 784)).astype(np.float32)
    y = rng.uniform(size=(256, 10)).astype(np.float32)
    p0 = net.init(jax.random.key(0))
    kw = dict(batch_size=128, key=jax.random.key(1))
    got, h_got = jaxbp.fit(net, p0, x, y, "quadratic", 3.0, 6, **kw)
    monkeypatch.setattr(_layout, "transposed_layers", lambda sizes, batch: ())
    want, h_want = jaxbp.fit(net, p0, x, y, "quadratic", 3.0, 6, **kw)
    np.testing.assert_allclose(h_got, h_want, rtol=1e-5)
    for a, b in zip(leaves(got), leaves(want)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


MESH_SCRIPT = """
import sys
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np
import jaxbp
from jaxbp import _layout, parallel, train
net = jaxbp.MLP((64, 32, 32))
assert jax.device_count() == 2 and _layout.transposed_layers(net.sizes, 64) == (0, 1)
rng = np.random.default_rng(0)
x, y = rng.standard_normal((192, 64)), rng.uniform(0.05, 0.95, (192, 32))
p0 = net.init(jax.random.key(0), dtype=jnp.float64)
opt = jaxbp.optimizer("momentum", 0.5)
kw = dict(batch_size=64, key=jax.random.key(1))
(p_mesh, h_mesh) = jaxbp.fit(net, p0, x, y, "quadratic", opt, 9, mesh=parallel.make_mesh(), **kw)
(p_twin, h_twin) = jaxbp.fit(net, p0, x, y, "quadratic", opt, 9, grad="autodiff", **kw)
p_epochs, _ = train.fit_epochs(net, p0, x, y, "quadratic", opt, 3, 64, jax.random.key(1),
                               mesh=parallel.make_mesh())
np.testing.assert_allclose(h_mesh, h_twin, rtol=1e-10)
for got in (p_mesh, p_epochs):
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(p_twin)):
        assert a.shape == b.shape, (a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
print("ok", len(p_mesh[0]["W"].sharding.device_set))
"""


def test_data_parallel_on_two_devices_equals_the_autodiff_twin(tmp_path):
    """fit and fit_epochs on a 2-device mesh (a subprocess: the devices are fixed at jax's
    start) with the stored layout: params come back in the API's layout, replicated."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=(os.environ.get("XLA_FLAGS", "")
                          + " --xla_force_host_platform_device_count=2").strip())
    script = tmp_path / "mesh.py"
    script.write_text(MESH_SCRIPT)
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["ok", "2"]
