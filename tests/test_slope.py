"""jaxbp.slope: the Taylor-remainder slope is 2 for a right gradient and 1 for a wrong one,
in float64 and float32, and half precision gives no false alarms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp
from jaxbp import bugs
from jaxbp.backprop import Trace
from jaxbp.slope import slope_test


def problem(dtype, sizes=(3, 5, 2), hidden="tanh", output="sigmoid"):
    net = jaxbp.MLP(sizes, hidden=hidden, output=output)
    params = jax.tree_util.tree_map(lambda a: a.astype(dtype), net.init(jax.random.key(0)))
    rng = np.random.default_rng(0)
    return net, params, rng.normal(size=(5, sizes[0])), rng.uniform(size=(5, sizes[-1]))


def halved_output_gradient(net, params, x, y, cost, l2):
    """jax.grad's gradient with the output layer's W gradient halved (written here)."""
    loss = lambda p: jaxbp.loss(net, p, x, y, cost, l2)
    g = jax.grad(loss)(params)
    g = tuple(dict(layer) for layer in g)
    g[-1]["W"] = g[-1]["W"] / 2
    return Trace(None, (), (), (), tuple(g))


@pytest.mark.slow
@pytest.mark.parametrize("dtype, evaluate_in", [(jnp.float64, None), (jnp.float32, None),
                                                (jnp.float32, np.float32)])
def test_right_gradient_has_slope_two_and_wrong_slope_one(dtype, evaluate_in):
    net, params, x, y = problem(dtype)
    right = slope_test(net, params, x, y, "cross_entropy", l2=0.01, evaluate_in=evaluate_in)
    assert right.ok, str(right)
    assert all(abs(s - 2) < 0.2 for s in right.slopes if not np.isnan(s)), right.slopes
    assert sum(not np.isnan(s) for s in right.slopes) >= 1
    wrong = slope_test(net, params, x, y, "cross_entropy", l2=0.01,
                       manual=halved_output_gradient, evaluate_in=evaluate_in)
    assert not wrong.ok and wrong.wrong == (False, True), str(wrong)
    assert abs(wrong.slopes[1] - 1) < 0.2
    assert "WRONG" in str(wrong) and "right" in str(wrong)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["batch_sum", "sign_flipped", "hidden_prime_missing"])
def test_catalogue_mistakes_have_slope_one_float32(name):
    net, params, x, y = problem(jnp.float32, sizes=(3, 4, 4, 2))
    report = slope_test(net, params, x, y, "quadratic", manual=bugs.CATALOGUE[name])
    assert not report.ok and report.wrong[0], str(report)
    assert abs(report.slopes[0] - 1) < 0.2


@pytest.mark.slow
@pytest.mark.parametrize("dtype, arch", [
    (jnp.float16, ((3, 5, 2), "tanh", "sigmoid", "cross_entropy")),
    (jnp.bfloat16, ((3, 6, 2), "relu", "identity", "quadratic"))])
def test_half_precision_right_gradients_raise_no_alarm(dtype, arch):
    *shape, cost = arch
    net, params, x, y = problem(dtype, *shape)
    report = slope_test(net, params, x, y, cost, l2=0.01)
    assert report.ok, str(report)
    assert report.dtype == str(np.dtype(dtype)) and report.evaluated_in == "float64"
    wrong = slope_test(net, params, x, y, cost, l2=0.01, manual=bugs.batch_sum)
    assert not wrong.ok, str(wrong)


def test_steps_come_from_the_dtype():
    net, params, x, y = problem(jnp.float64)
    f64 = slope_test(net, params, x, y, "cross_entropy")
    net, params, x, y = problem(jnp.float32)
    f32 = slope_test(net, params, x, y, "cross_entropy")
    assert f64.steps[0] == f32.steps[0] == pytest.approx(0.1)
    assert f64.steps[-1] == pytest.approx(np.sqrt(np.finfo(np.float64).eps), rel=0.3)
    assert f32.steps[-1] == pytest.approx(np.sqrt(np.finfo(np.float32).eps), rel=0.3)
