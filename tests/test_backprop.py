"""BP1-BP4 by hand == jax.grad, on every leaf, for random architectures (G1, G2), and under
every transformation (jit, vmap, float32/float64, one sample as a 1-D vector)."""
import ast
import importlib
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxbp
backprop_module = importlib.import_module("jaxbp.backprop")
autodiff_module = importlib.import_module("jaxbp.autodiff")

HIDDEN = ("sigmoid", "tanh", "relu", "identity")
# (output activation, cost): quadratic after every elementwise output, and the matched pairs.
# Widths and batch sizes span 1-16 and 1-33 through a few values, so that the eager kernels of
# repeated shapes are reused across examples (a new shape costs a compilation per operation).
WIDTHS, BATCHES = (1, 2, 3, 5, 8, 16), (1, 2, 7, 16, 33)
PAIRS = [(out, "quadratic") for out in HIDDEN] + [("sigmoid", "cross_entropy"),
                                                  ("softmax", "softmax_cross_entropy")]


def targets(rng, cost, n, k, dtype):
    if cost == "softmax_cross_entropy":
        return rng.dirichlet(np.ones(k), size=n).astype(dtype)
    return rng.uniform(0, 1, size=(n, k)).astype(dtype)


PER_EXAMPLE = 8  # problems per architecture: 8 parameter/data draws, stacked and vmapped


def make_problem(widths, hidden, output, cost, batch, seed, dtype):
    """One architecture and batch, and PER_EXAMPLE problems on it stacked on a leading axis
    (init scale, l2, params and data differ between them): vmapped, they cost about one."""
    net = jaxbp.MLP(tuple(widths), hidden=hidden, output=output)
    rng = np.random.default_rng(seed)
    scales = np.array([0.1, 1.0, 3.0])[rng.integers(0, 3, PER_EXAMPLE)]
    l2 = np.array([0.0, 0.1, 5.0])[rng.integers(0, 3, PER_EXAMPLE)].astype(dtype)
    params = tuple(  # drawn with numpy (no compiled init per shape): N(0, scale^2 / n_in)
        {"W": (rng.normal(size=(PER_EXAMPLE, n_in, n_out))
               * (scales / np.sqrt(n_in))[:, None, None]).astype(dtype),
         "b": (rng.normal(size=(PER_EXAMPLE, n_out)) * scales[:, None]).astype(dtype)}
        for n_in, n_out in zip(widths[:-1], widths[1:]))
    x = rng.normal(size=(PER_EXAMPLE, batch, widths[0])).astype(dtype)
    y = np.stack([targets(rng, cost, batch, widths[-1], dtype) for _ in range(PER_EXAMPLE)])
    return net, params, x, y, jaxbp.COSTS[cost], l2


@st.composite
def problems(draw, dtype):
    """A random architecture (depth 1-4, widths and batch from WIDTHS and BATCHES, any hidden
    activation, any (output, cost) pair) with PER_EXAMPLE problems on it."""
    depth = draw(st.integers(1, 4))
    output, cost = draw(st.sampled_from(PAIRS))
    widths = [draw(st.sampled_from(WIDTHS)) for _ in range(depth + 1)]
    if output == "softmax":
        widths[-1] = max(widths[-1], 2)
    hidden = draw(st.sampled_from(HIDDEN))
    batch = draw(st.sampled_from(BATCHES))
    seed = draw(st.integers(0, 2**31 - 1))
    return make_problem(widths, hidden, output, cost, batch, seed, dtype)


# The fixed grids, widths 1-16 and batches 1-33: CORE has each (output, cost) pair, hidden
# activation and depth 1-4 at least once; FULL every hidden activation with every pair, each
# pair at all three SHAPES (depths 2-4).
CORE = [((3, 5, 2), "sigmoid", "sigmoid", "quadratic", 7),
        ((1, 1), "tanh", "tanh", "quadratic", 1),
        ((2, 8, 3, 1), "relu", "relu", "quadratic", 16),
        ((5, 2, 3, 2, 5), "identity", "identity", "quadratic", 2),
        ((4, 16, 1), "tanh", "sigmoid", "cross_entropy", 33),
        ((3, 3, 8, 4), "relu", "softmax", "softmax_cross_entropy", 7)]
SHAPES = [((2, 3, 1), 4), ((1, 16, 5, 3), 33), ((8, 2, 2, 8, 2), 1)]
FULL = [SHAPES[(h + k) % 3][:1] + (hidden, output, cost) + SHAPES[(h + k) % 3][1:]
        for h, hidden in enumerate(HIDDEN) for k, (output, cost) in enumerate(PAIRS)]


def grid(specs, dtype):
    return [make_problem(sizes[:-1] + (max(sizes[-1], 2) if output == "softmax" else sizes[-1],),
                         hidden, output, cost, batch, seed, dtype)
            for seed, (sizes, hidden, output, cost, batch) in enumerate(specs)]


def both_many(batch):
    """backprop's kernel and jax.value_and_grad of the cost, vmapped over each problem's
    stack, for a list of problems in one compiled program (one compilation, not one per
    problem, nor one per operation of a new shape eagerly)."""
    def run(args):
        out = []
        for (net, _, _, _, cost, _), (p, x, y, l2) in zip(batch, args):
            manual = lambda p, x, y, l2: backprop_module.kernel(net, cost, p, x, y, l2)
            auto = lambda p, x, y, l2: autodiff_module.value_and_grad(net, cost, p, x, y, l2)
            tr, (loss_a, grads_a) = jax.vmap(manual)(p, x, y, l2), jax.vmap(auto)(p, x, y, l2)
            out.append((tr.loss, tr.grads, loss_a, grads_a))
        return out
    # as numpy arrays: the checks below index and compare them without an eager jax op each
    return jax.device_get(jax.jit(run)([(p, x, y, l2) for _, p, x, y, _, l2 in batch]))


def both(problem):
    return both_many([problem])[0]


def assert_grads_match(manual, auto, rtol, atol):
    assert jax.tree_util.tree_structure(manual) == jax.tree_util.tree_structure(auto)
    for m, a in zip(jax.tree_util.tree_leaves(manual), jax.tree_util.tree_leaves(auto)):
        assert m.shape == a.shape and m.dtype == a.dtype
        np.testing.assert_allclose(m, a, rtol=rtol, atol=atol * max(1.0, float(np.max(np.abs(a)))))


def check_float64(problem, result):  # G1
    loss_m, grads_m, loss_a, grads_a = result
    np.testing.assert_allclose(loss_m, loss_a, rtol=1e-12)
    for i in range(PER_EXAMPLE):  # each problem's leaves against its own scale
        pick = lambda t: jax.tree_util.tree_map(lambda a: a[i], t)
        assert_grads_match(pick(grads_m), pick(grads_a), rtol=1e-9, atol=1e-12)


def check_float32(problem, result):  # G2
    loss_m, grads_m, loss_a, grads_a = result
    assert loss_m.dtype == jnp.float32
    np.testing.assert_allclose(loss_m, loss_a, rtol=1e-5)
    net, params, x, y, cost, l2 = problem
    for i in range(PER_EXAMPLE):
        pick = lambda t: jax.tree_util.tree_map(lambda a: a[i], t)
        try:
            assert_grads_match(pick(grads_m), pick(grads_a), rtol=1e-5, atol=1e-6)
        except AssertionError:
            # Where the two float32 results differ by more than that, float32 rounding of a
            # cancelling sum is the cause: then backprop must be as close to the float64
            # truth as jax.grad's float32 result is.
            p64 = jax.tree_util.tree_map(lambda a: np.asarray(a[i], np.float64), params)
            with jax.disable_jit():
                _, truth = jaxbp.autodiff(net, p64, x[i].astype(np.float64),
                                          y[i].astype(np.float64), cost, float(l2[i]))
            for m, a, t in zip(*(jax.tree_util.tree_leaves(g) for g in
                                 (pick(grads_m), pick(grads_a), truth))):
                err_m, err_a = (float(np.max(np.abs(np.asarray(g, np.float64) - t))) for g in (m, a))
                assert err_m <= 4 * err_a + 1e-6 * max(1.0, float(np.max(np.abs(t)))), (err_m, err_a)


CHECK = {np.float64: check_float64, np.float32: check_float32}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backprop_equals_jax_grad_on_the_core_grid(dtype):  # G1, G2: the inner loop's check
    batch = grid(CORE, dtype)
    for problem, result in zip(batch, both_many(batch)):
        CHECK[dtype](problem, result)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backprop_equals_jax_grad_on_the_full_grid(dtype):  # G1, G2
    batch = grid(FULL, dtype)
    for problem, result in zip(batch, both_many(batch)):
        CHECK[dtype](problem, result)


@pytest.mark.slow
@settings(max_examples=10)  # 80 problems, on random architectures beyond the grids
@given(problems(np.float64))
def test_backprop_equals_jax_grad_float64(problem):  # G1
    check_float64(problem, both(problem))


@pytest.mark.slow
@settings(max_examples=8)  # 64 problems
@given(problems(np.float32))
def test_backprop_equals_jax_grad_float32(problem):  # G2
    check_float32(problem, both(problem))


@pytest.mark.slow
def test_the_public_backprop_is_the_kernel():
    """backprop = the checks + the jitted kernel: its result equals jax.grad's through the
    public functions too, on one problem of every (output, cost) pair."""
    rng = np.random.default_rng(0)
    for output, cost in PAIRS:
        net = jaxbp.MLP((3, 4, 2), hidden="tanh", output=output)
        params = net.init(jax.random.key(1), dtype=jnp.float64)
        x, y = rng.normal(size=(5, 3)), targets(rng, cost, 5, 2, np.float64)
        loss_m, grads_m = jaxbp.backprop(net, params, x, y, cost, 0.1)
        loss_a, grads_a = jaxbp.autodiff(net, params, x, y, cost, 0.1)
        np.testing.assert_allclose(loss_m, loss_a, rtol=1e-12)
        assert_grads_match(grads_m, grads_a, rtol=1e-9, atol=1e-12)


def xor(dtype=np.float64):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype)
    return x, np.array([[0], [1], [1], [0]], dtype)


def test_backprop_path_calls_no_autodiff():
    """backprop's module must not reference jax.grad, vjp, jvp or any other autodiff."""
    tree = ast.parse(inspect.getsource(backprop_module))
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for banned in ("grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev"):
        assert banned not in names


def test_each_equation_is_one_commented_line():
    source = inspect.getsource(backprop_module.kernel) + inspect.getsource(backprop_module.backward)
    for eq in ("BP1", "BP2", "BP3", "BP4"):
        assert sum(line.rstrip().endswith(f"# {eq}") for line in source.splitlines()) == 1


@pytest.mark.slow
def test_batch_gradient_is_mean_of_per_example_gradients():
    """Nielsen loops over a mini-batch's samples; one matrix product per layer gives the same."""
    net = jaxbp.MLP((3, 5, 4, 2), hidden="tanh", output="sigmoid")
    params = net.init(jax.random.key(1), dtype=jnp.float64)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.uniform(size=(7, 2))
    _, batch = jaxbp.backprop(net, params, x, y, "cross_entropy")
    _, per_sample = jax.vmap(lambda xi, yi: jaxbp.backprop(net, params, xi, yi, "cross_entropy"))(x, y)
    mean = jax.tree_util.tree_map(lambda g: jnp.mean(g, axis=0), per_sample)
    loop = [jaxbp.backprop(net, params, x[i], y[i], "cross_entropy")[1] for i in range(7)]
    loop_mean = jax.tree_util.tree_map(lambda *g: sum(g) / 7, *loop)
    _, auto = jaxbp.autodiff(net, params, x, y, "cross_entropy")
    assert_grads_match(batch, mean, rtol=1e-12, atol=1e-15)
    assert_grads_match(batch, loop_mean, rtol=1e-12, atol=1e-15)
    assert_grads_match(batch, auto, rtol=1e-9, atol=1e-12)


def test_trace_exposes_every_intermediate():
    net = jaxbp.MLP((2, 3, 1))
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    x, y = xor()
    tr = jaxbp.trace(net, params, x, y, "quadratic")
    assert [a.shape for a in tr.activations] == [(4, 2), (4, 3), (4, 1)]
    assert [z.shape for z in tr.zs] == [(4, 3), (4, 1)]
    assert [d.shape for d in tr.deltas] == [(4, 3), (4, 1)]
    # The intermediates are the forward pass written out by hand here.
    z0 = x @ np.asarray(params[0]["W"]) + np.asarray(params[0]["b"])
    a1 = 1 / (1 + np.exp(-z0))
    z1 = a1 @ np.asarray(params[1]["W"]) + np.asarray(params[1]["b"])
    a2 = 1 / (1 + np.exp(-z1))
    np.testing.assert_allclose(tr.zs[0], z0, rtol=1e-12)
    np.testing.assert_allclose(tr.activations[2], a2, rtol=1e-12)
    np.testing.assert_allclose(tr.deltas[1], (a2 - y) * a2 * (1 - a2), rtol=1e-12)
    np.testing.assert_allclose(tr.loss, np.mean(0.5 * np.sum((a2 - y) ** 2, axis=1)), rtol=1e-12)
    # A Trace is a pytree: it goes through jit and tree_map.
    assert len(jax.tree_util.tree_leaves(tr)) == 1 + 2 + 3 + 2 + 4


def test_output_delta_is_exact_at_saturation():
    """Fused BP1 (a - y from z) stays exact where a rounds to 0 or 1 (E26)."""
    net = jaxbp.MLP((1, 1), output="sigmoid")
    params = ({"W": jnp.array([[1.0]]), "b": jnp.array([0.0])},)
    x, y = np.array([[-800.0], [800.0]]), np.array([[1.0], [0.0]])
    tr = jaxbp.trace(net, params, x, y, "cross_entropy")
    np.testing.assert_array_equal(tr.deltas[0], [[-1.0], [1.0]])
    np.testing.assert_allclose(tr.loss, 800.0)


@pytest.mark.slow
def test_jit_with_static_net_and_cost_matches_eager():
    net = jaxbp.MLP((2, 4, 1), hidden="tanh")
    params = net.init(jax.random.key(3), dtype=jnp.float64)
    x, y = xor()
    f = jax.jit(jaxbp.backprop, static_argnums=(0, 4))
    loss_j, grads_j = f(net, params, x, y, "cross_entropy", 0.1)
    with jax.disable_jit():
        loss_e, grads_e = jaxbp.backprop(net, params, x, y, "cross_entropy", 0.1)
    np.testing.assert_allclose(loss_j, loss_e, rtol=1e-12)
    assert_grads_match(grads_j, grads_e, rtol=1e-12, atol=1e-15)


@pytest.mark.slow
def test_vmap_over_parameter_sets():
    net = jaxbp.MLP((2, 3, 1))
    keys = jax.random.split(jax.random.key(0), 5)
    batched = jax.vmap(lambda k: net.init(k, dtype=jnp.float64))(keys)
    x, y = xor()
    losses, grads = jax.vmap(lambda p: jaxbp.backprop(net, p, x, y, "quadratic"))(batched)
    assert losses.shape == (5,) and grads[0]["W"].shape == (5, 2, 3)
    for i in range(5):
        p = jax.tree_util.tree_map(lambda a: a[i], batched)
        loss, g = jaxbp.autodiff(net, p, x, y, "quadratic")
        np.testing.assert_allclose(losses[i], loss, rtol=1e-12)
        assert_grads_match(jax.tree_util.tree_map(lambda a: a[i], grads), g, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_dtype_is_preserved(dtype):
    net = jaxbp.MLP((2, 3, 2), output="softmax")
    params = net.init(jax.random.key(0), dtype=dtype)
    x = np.array([[0.5, -1.0], [2.0, 0.0]])  # float64 input is cast to the params dtype
    loss, grads = jaxbp.backprop(net, params, x, np.array([0, 1]), "softmax_cross_entropy")
    assert loss.dtype == dtype
    assert all(g.dtype == dtype for g in jax.tree_util.tree_leaves(grads))


def test_single_sample_as_vector_is_a_batch_of_one():
    net = jaxbp.MLP((2, 3, 1))
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    x, y = xor()
    loss_1d, grads_1d = jaxbp.backprop(net, params, x[2], y[2], "quadratic")
    loss_2d, grads_2d = jaxbp.backprop(net, params, x[2:3], y[2:3], "quadratic")
    np.testing.assert_allclose(loss_1d, loss_2d, rtol=0)
    assert_grads_match(grads_1d, grads_2d, rtol=0, atol=0)


def test_l2_adds_weight_decay_to_weights_only():
    net = jaxbp.MLP((2, 3, 1))
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    x, y = xor()
    loss0, g0 = jaxbp.backprop(net, params, x, y, "quadratic")
    loss1, g1 = jaxbp.backprop(net, params, x, y, "quadratic", l2=0.3)
    penalty = 0.5 * 0.3 * sum(float(np.sum(np.asarray(p["W"]) ** 2)) for p in params)
    np.testing.assert_allclose(loss1 - loss0, penalty, rtol=1e-12)
    for l in range(2):
        np.testing.assert_allclose(g1[l]["W"] - g0[l]["W"], 0.3 * params[l]["W"], rtol=1e-10)
        np.testing.assert_array_equal(g1[l]["b"], g0[l]["b"])


@pytest.mark.slow
def test_relu_derivative_is_zero_at_zero_like_jax():  # E28
    net = jaxbp.MLP((2, 2, 1), hidden="relu", output="sigmoid")
    params = ({"W": jnp.ones((2, 2)), "b": jnp.zeros(2)}, {"W": jnp.ones((2, 1)), "b": jnp.zeros(1)})
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [0.0], [0.0], [1.0]])
    _, manual = jaxbp.backprop(net, params, x, y, "cross_entropy")
    _, auto = jaxbp.autodiff(net, params, x, y, "cross_entropy")
    assert_grads_match(manual, auto, rtol=1e-12, atol=0)


def test_readme_table_points_at_the_equations():
    """The README's BP1-BP4 table links to line numbers: they must stay right."""
    import pathlib
    import re
    root = pathlib.Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    lines = (root / "jaxbp/backprop.py").read_text().splitlines()
    for eq in ("BP1", "BP2", "BP3", "BP4"):
        row = next(r for r in readme.splitlines() if r.startswith(f"| {eq} |"))
        number = int(re.search(r"backprop\.py#L(\d+)", row).group(1))
        assert lines[number - 1].rstrip().endswith(f"# {eq}"), (eq, number)


