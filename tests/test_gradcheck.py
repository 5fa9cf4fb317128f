"""check_grads: manual vs jax.grad vs finite differences, per layer and per equation (G3)."""
import importlib

import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest

import jaxbp
from jaxbp.backprop import Trace

bp = importlib.import_module("jaxbp.backprop")


def problem(dtype=jnp.float64, sizes=(3, 4, 3, 2), hidden="tanh", output="sigmoid"):
    net = jaxbp.MLP(sizes, hidden=hidden, output=output)
    params = net.init(jax.random.key(0), dtype=dtype)
    rng = np.random.default_rng(0)
    return net, params, rng.normal(size=(5, sizes[0])), rng.uniform(size=(5, sizes[-1]))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_correct_backprop_passes(dtype):
    net, params, x, y = problem(dtype)
    report = jaxbp.check_grads(net, params, x, y, "cross_entropy", l2=0.1)
    assert report.ok, str(report)
    assert report.manual_vs_autodiff <= report.tolerance[0]
    assert report.manual_vs_numeric <= report.tolerance[1]
    assert len(report.per_layer) == 3
    if dtype == jnp.float64:
        assert report.manual_vs_autodiff < 1e-12 and report.manual_vs_numeric < 1e-6


def broken_trace(equation):
    """The four equations written out again in the test, with one of them wrong."""
    def trace(net, params, x, y, cost, l2):
        cost = jaxbp.costs.COSTS[cost] if isinstance(cost, str) else cost
        zs, acts = jaxbp.feedforward(net, params, x)
        sigma, n = net.layers, x.shape[0]
        deltas = [cost.delta(zs[-1], y, sigma[-1]) * (2.0 if equation == "BP1" else 1.0)]
        for l in reversed(range(len(params) - 1)):
            prime = sigma[l].fn if equation == "BP2" else sigma[l].prime  # BP2 bug: sigma, not sigma'
            deltas.insert(0, (deltas[0] @ params[l + 1]["W"].T) * prime(zs[l]))
        grads = tuple({"W": acts[l].T @ deltas[l] / n * (1.5 if equation == "BP4" else 1.0) + l2 * params[l]["W"],
                       "b": jnp.sum(deltas[l], axis=0) / (1 if equation == "BP3" else n)}
                      for l in range(len(params)))
        loss = jnp.mean(cost.value(zs[-1], y, sigma[-1]))
        return Trace(loss, tuple(zs), tuple(acts), tuple(deltas), grads)
    return trace


@pytest.mark.parametrize("equation", ["BP1", "BP2", "BP3", "BP4"])
def test_a_broken_equation_is_caught_and_named(equation):
    net, params, x, y = problem()
    report = jaxbp.check_grads(net, params, x, y, "cross_entropy", manual=broken_trace(equation))
    assert not report.ok
    assert equation in report.worst, (equation, report.worst, str(report))


def test_the_test_harness_itself_is_correct_when_unbroken():
    net, params, x, y = problem()
    report = jaxbp.check_grads(net, params, x, y, "cross_entropy", manual=broken_trace(None))
    assert report.ok, str(report)


def loss_fn(net, x, y, cost):
    return lambda params: jaxbp.loss(net, params, x, y, cost)


@pytest.mark.slow
@pytest.mark.parametrize("hidden, output, cost", [("tanh", "sigmoid", "cross_entropy"),
                                                  ("sigmoid", "identity", "quadratic"),
                                                  ("identity", "softmax", "softmax_cross_entropy")])
@pytest.mark.parametrize("jit", [False, True])
def test_jax_check_grads_default_tolerances_float64(hidden, output, cost, jit):  # G3
    net, params, x, y = problem(sizes=(3, 4, 3), hidden=hidden, output=output)
    if cost == "softmax_cross_entropy":
        y = y / y.sum(axis=1, keepdims=True)
    f = loss_fn(net, x, y, cost)
    jax.test_util.check_grads(jax.jit(f) if jit else f, (params,), order=2, modes=("fwd", "rev"))


@pytest.mark.slow
def test_jax_check_grads_float32():  # G3, float32 with default tolerances
    net, params, x, y = problem(jnp.float32, sizes=(3, 4, 2))
    x, y = x.astype(np.float32), y.astype(np.float32)
    # jitted: the unjitted path is the float64 test's jit=False cases (eager is 10x slower)
    jax.test_util.check_grads(jax.jit(loss_fn(net, x, y, "cross_entropy")), (params,), order=2,
                              modes=("fwd", "rev"))


def test_report_prints_a_table():
    net, params, x, y = problem()
    text = str(jaxbp.check_grads(net, params, x, y, "cross_entropy"))
    for word in ("BP1", "BP2", "BP3", "BP4", "ok"):
        assert word in text


@pytest.mark.slow
def test_half_precision_is_refused_not_misreported():
    net = jaxbp.MLP((2, 2, 1))
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float16), net.init(jax.random.key(0)))
    with pytest.raises(TypeError, match=r"check_grads: params must be float32 or float64"):
        jaxbp.check_grads(net, params, np.ones((2, 2)), np.ones((2, 1)) / 2, "quadratic")


def test_likely_is_none_when_right_and_printed_when_named():
    net, params, x, y = problem()
    report = jaxbp.check_grads(net, params, x, y, "cross_entropy")
    assert report.likely is None and "likely" not in str(report)
    # broken_trace's BP2 multiplies by sigma(z) where sigma'(z) belongs
    report = jaxbp.check_grads(net, params, x, y, "cross_entropy", manual=broken_trace("BP2"))
    assert "sigma(z) where sigma'(z) belongs" in report.likely
    tail = str(report).split("likely: ")[1]
    assert " ".join(tail.split()) == report.likely
    assert all(len(line) <= 100 for line in str(report).splitlines())
    # and its BP4 is 1.5 x: a constant factor that matches no known mistake, said as such
    report = jaxbp.check_grads(net, params, x, y, "cross_entropy", manual=broken_trace("BP4"))
    assert "1.5 x the right value throughout" in report.likely
