"""jaxbp.bugs: every catalogue entry is caught by check_grads, at its equation, and named.

The expected equation and mistake for each entry are written here from the entry's story
(what was done wrong), not read from the recogniser.
"""
import jax
import numpy as np
import pytest

import jaxbp
from jaxbp import bugs


def problem(sizes, hidden, output, cost, n=4, seed=0, dtype=np.float64):
    net = jaxbp.MLP(sizes, hidden=hidden, output=output)
    params = net.init(jax.random.key(seed), dtype=dtype)
    params = tuple({"W": p["W"], "b": p["b"] + 0.1} for p in params)   # nonzero biases
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, sizes[0])), rng.uniform(size=(n, sizes[-1]))
    if cost == "softmax_cross_entropy":
        y = y / y.sum(axis=1, keepdims=True)
    return net, params, x.astype(dtype), y.astype(dtype)


SQUARE_QUAD = ((3, 4, 4, 4), "sigmoid", "sigmoid", "quadratic")
CE = ((3, 5, 4, 2), "tanh", "sigmoid", "cross_entropy")
SOFTMAX = ((2, 4, 3), "sigmoid", "softmax", "softmax_cross_entropy")

# entry -> (a problem where it shows, the equation, words naming the mistake)
EXPECTED = {
    "softmax_gradient_twice": (SOFTMAX, "layer 1 BP1", "softmax's Jacobian applied twice"),
    "softmax_diagonal_jacobian": (SOFTMAX, "layer 1 BP1", "taken as diagonal"),
    "output_prime_missing": (SQUARE_QUAD, "layer 2 BP1", "sigma'(z) is missing"),
    "output_prime_extra": (CE, "layer 2 BP1", "extra sigma'(z)"),
    "sign_flipped": (CE, "layer 2 BP1", "wrong sign"),
    "prime_of_activation": (CE, "layer 1 BP2", "sigma'(a)"),
    "output_form_on_z": (SQUARE_QUAD, "layer 1 BP2", "output form of sigma' on z"),
    "activation_for_prime": (SOFTMAX, "layer 0 BP2", "sigma(z) where sigma'(z) belongs"),
    "hidden_prime_missing": (CE, "layer 1 BP2", "missing sigma'(z)"),
    "w_not_transposed": (SQUARE_QUAD, "layer 1 BP2", "not transposed"),
    "gradient_for_weights": (CE, "layer 1 BP2", "dC/dW of the layer above"),
    "updated_weights": (SOFTMAX, "layer 0 BP2", "already updated, W - eta dC/dW with eta = 0.5"),
    "biases_never_updated": (CE, "layer 2 BP3", "never updated"),
    "bias_summed_over_units": (SQUARE_QUAD, "layer 2 BP3", "summed over the units"),
    "l2_on_biases": (CE, "layer 2 BP3", "L2 is applied to the biases"),
    "batch_sum": (SOFTMAX, "layer 1 BP3", "n = 4 x the right value: the batch mean is missing"),
    "pre_activation_in_bp4": (CE, "layer 2 BP4", "pre-activation"),
    "l2_sign_flipped": (SQUARE_QUAD, "layer 2 BP4", "L2 term with the wrong sign"),
    "l2_doubled": (CE, "layer 2 BP4", "L2 term doubled"),
    "l2_missing": (SOFTMAX, "layer 1 BP4", "missing the L2 term"),
}


def test_the_catalogue_has_at_least_ten_entries_each_with_a_story():
    assert set(bugs.CATALOGUE) == set(EXPECTED) and len(bugs.CATALOGUE) >= 10
    for name, bug in bugs.CATALOGUE.items():
        assert bug.story and bug.equation in ("BP1", "BP2", "BP3", "BP4"), name
        assert bug.reference is None or bug.reference.startswith("https://github.com/"), name
        assert name in bugs.describe(name)


FLOAT32 = ["prime_of_activation", "updated_weights", "l2_on_biases", "l2_doubled"]  # the fits


@pytest.mark.slow
@pytest.mark.parametrize("name, dtype", [(name, np.float64) for name in sorted(EXPECTED)]
                         + [(name, np.float32) for name in FLOAT32])
def test_every_entry_is_caught_and_named(name, dtype):
    (sizes, hidden, output, cost), where, words = EXPECTED[name]
    net, params, x, y = problem(sizes, hidden, output, cost, dtype=dtype)
    report = jaxbp.check_grads(net, params, x, y, cost, l2=0.1, manual=bugs.CATALOGUE[name])
    assert not report.ok
    assert report.worst == where, (report.worst, str(report))
    assert report.worst.endswith(bugs.CATALOGUE[name].equation)
    assert report.likely is not None and report.likely.startswith(where), report.likely
    assert words in report.likely, report.likely
    assert "likely: " + report.likely in " ".join(str(report).split())


@pytest.mark.slow
def test_an_entry_that_cannot_show_changes_nothing():
    # l2 = 0: the L2 mistakes give the right numbers, and check_grads says so
    net, params, x, y = problem(*CE)
    for name in ("l2_on_biases", "l2_doubled", "l2_missing", "l2_sign_flipped"):
        report = jaxbp.check_grads(net, params, x, y, "cross_entropy", manual=bugs.CATALOGUE[name])
        assert report.ok and report.likely is None, name


def test_w_not_transposed_refuses_a_net_where_the_shapes_disagree():
    net, params, x, y = problem(*CE)
    with pytest.raises(ValueError, match=r"w_not_transposed: .*layer 1: W has shape \(5, 4\)"):
        bugs.w_not_transposed(net, params, x, y, "cross_entropy", 0.0)
