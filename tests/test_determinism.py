"""Determinism and x64 hygiene (RELIABILITY.md G9, G15, E33, E40).

Same key -> bit-identical params, gradients and loss history, within one process and across
processes. Importing jaxbp never touches jax.config; everything that needs x64 *off* runs in
a subprocess (this suite switches x64 on in conftest, before any array exists).
"""
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxbp

ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}

RUN = textwrap.dedent(r"""
    import hashlib, sys
    import jax, jax.numpy as jnp, numpy as np, optax
    jax.config.update("jax_enable_x64", True)
    import jaxbp

    def digest(dtype):
        # SHA-256 of init, backprop and a shuffled mini-batch fit, all from fixed keys
        x = jnp.asarray([[0.0, 0], [0, 1], [1, 0], [1, 1]], dtype)
        y = jnp.asarray([[0.0], [1], [1], [0]], dtype)
        net = jaxbp.MLP((2, 4, 1), hidden="tanh")
        params = net.init(jax.random.key(42), dtype=dtype)
        grads = jaxbp.backprop(net, params, x, y, "cross_entropy", l2=0.01)
        trained, history = jaxbp.fit(net, params, x, y, "cross_entropy", optax.adam(0.05),
                                     steps=40, batch_size=2, key=jax.random.key(7))
        h = hashlib.sha256()
        for leaf in jax.tree_util.tree_leaves((params, grads, trained, history)):
            a = np.asarray(leaf)
            h.update(str((a.dtype, a.shape)).encode() + a.tobytes())
        return h.hexdigest()

    if __name__ == "__main__":
        print(digest(jnp.dtype(sys.argv[1])))
""")


def _leaves_bytes(tree):
    return [(a.dtype, a.shape, np.asarray(a).tobytes()) for a in jax.tree_util.tree_leaves(tree)]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_G9_init_and_gradients_bit_identical_in_process(dtype):
    net = jaxbp.MLP((3, 4, 2), hidden="relu", output="softmax")
    a = net.init(jax.random.key(11), dtype=dtype)
    b = net.init(jax.random.key(11), dtype=dtype)
    assert _leaves_bytes(a) == _leaves_bytes(b)
    assert _leaves_bytes(net.init(jax.random.PRNGKey(11), dtype=dtype)) == \
        _leaves_bytes(net.init(jax.random.PRNGKey(11), dtype=dtype))
    c = net.init(jax.random.key(12), dtype=dtype)
    assert all(not np.array_equal(u, v) for u, v in zip(jax.tree_util.tree_leaves(a),
                                                       jax.tree_util.tree_leaves(c)))
    x = jnp.asarray(np.linspace(-2, 2, 12).reshape(4, 3), dtype)
    labels = jnp.asarray([0, 1, 1, 0])
    for name in ("backprop", "autodiff"):
        f = getattr(jaxbp, name)
        assert _leaves_bytes(f(net, a, x, labels, "softmax_cross_entropy")) == \
            _leaves_bytes(f(net, b, x, labels, "softmax_cross_entropy"))


def test_G9_layers_use_different_random_numbers():
    net = jaxbp.MLP((4, 4, 4, 4))
    params = net.init(jax.random.key(0), scale=1.0)
    leaves = [np.asarray(v).ravel()[:4] for layer in params for v in layer.values()]
    for i in range(len(leaves)):
        for j in range(i):
            assert not np.allclose(leaves[i], leaves[j]), (i, j)
    with pytest.raises(TypeError, match=r"^MLP.init: key must be a PRNG key"):
        net.init(42)


@pytest.mark.slow
def test_G9_training_bit_identical_in_process_and_across_processes():
    runs = [subprocess.Popen([sys.executable, "-c", RUN, "float32"], env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    namespace = {}
    exec(RUN, namespace)                                # meanwhile, twice in this process
    digest = namespace["digest"]
    here = [digest(jnp.dtype(jnp.float32)) for _ in range(2)]
    assert digest(jnp.dtype(jnp.float64)) == digest(jnp.dtype(jnp.float64)) != here[0]
    outs = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, outs):
        assert run.returncode == 0, err
    there = [out.strip().splitlines()[-1] for out, _ in outs]
    assert len(here[0]) == 64 and here[0] == here[1] == there[0] == there[1]


X64_OFF = textwrap.dedent(r"""
    import json, sys
    import jax, jax.numpy as jnp, numpy as np, optax
    before = dict(jax.config.values)
    import jaxbp
    import jaxbp.demos.gates, jaxbp.vjp                    # noqa: E401 (the parts on top too)
    after = dict(jax.config.values)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    out = {"x64": jax.config.jax_enable_x64, "changed": changed}
    net = jaxbp.MLP((2, 3, 1))
    try:
        net.init(jax.random.key(0), dtype=jnp.float64)
        out["float64"] = None
    except ValueError as e:
        out["float64"] = str(e)
    params = net.init(jax.random.key(0))
    x, y = np.ones((4, 2)), np.ones((4, 1))                # numpy float64 inputs
    trained, history = jaxbp.fit(net, params, x, y, "quadratic", optax.sgd(0.1), steps=3)
    jaxbp.save(sys.argv[1], net, trained)
    _, loaded = jaxbp.load(sys.argv[1])
    out["dtypes"] = sorted({str(a.dtype) for a in jax.tree_util.tree_leaves(
        (params, trained, history, loaded, jaxbp.backprop(net, params, x, y, "quadratic")))})
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_G15_import_leaves_config_alone_and_x64_off_stays_float32(tmp_path):
    env = {**ENV, "JAX_ENABLE_X64": "0"}
    run = subprocess.run([sys.executable, "-c", X64_OFF, str(tmp_path / "p.npz")], env=env,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["x64"] is False and out["changed"] == []
    assert out["float64"].startswith("MLP.init: float64 requested but jax_enable_x64 is disabled")
    assert out["dtypes"] == ["float32"]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_G15_dtype_survives_init_fit_save_load(tmp_path, dtype):
    net = jaxbp.MLP((2, 3, 1))
    params = net.init(jax.random.key(0), dtype=dtype)
    x = np.asarray([[0, 0], [0, 1], [1, 0], [1, 1]])                # int inputs are cast
    y = np.asarray([[0], [1], [1], [1]])
    trained, history = jaxbp.fit(net, params, x, y, "cross_entropy", optax.sgd(0.5), steps=5)
    jaxbp.save(tmp_path / "p.npz", net, trained)
    net2, loaded = jaxbp.load(tmp_path / "p.npz")
    for tree in (params, trained, history, loaded):
        assert {a.dtype for a in jax.tree_util.tree_leaves(tree)} == {np.dtype(dtype)}
    assert _leaves_bytes(loaded) == _leaves_bytes(trained) and net2 == net
    assert net.apply(loaded, x).dtype == dtype
