"""jaxbp.perceptron: Rosenblatt's rule checked against hand traces and an independent
plain-Python implementation; convergence (G11), cycling on XOR/XNOR, 14 of 16 functions
separable, max_epochs, step(0) = 0, the errors of E34, and the sigmoid unit on XOR."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp import gates, perceptron

X = [[0, 0], [0, 1], [1, 0], [1, 1]]


def reference_perceptron(x, y, lr=1.0, max_epochs=100):
    """Plain Python, written from the textbook rule: zero start, step(z) = 1 iff z > 0,
    online in order; stop on a mistake-free epoch or when an epoch-start state repeats."""
    w, b = [0.0] * len(x[0]), 0.0
    starts, errors = [(tuple(w), b)], []
    for _ in range(max_epochs):
        mistakes = 0
        for xi, yi in zip(x, y):
            z = sum(wj * xj for wj, xj in zip(w, xi)) + b
            update = lr * (yi - (1.0 if z > 0 else 0.0))
            if update:
                mistakes += 1
                w = [wj + update * xj for wj, xj in zip(w, xi)]
                b += update
        errors.append(mistakes)
        state = (tuple(w), b)
        if mistakes == 0:
            return dict(w=w, b=b, converged=True, cycled=False, epochs=len(errors), errors=errors,
                        starts=starts + [state], cycle_start=-1)
        if state in starts:
            return dict(w=w, b=b, converged=False, cycled=True, epochs=len(errors), errors=errors,
                        starts=starts + [state], cycle_start=starts.index(state))
        starts.append(state)
    return dict(w=w, b=b, converged=False, cycled=False, epochs=len(errors), errors=errors,
                starts=starts, cycle_start=-1)


def assert_matches_reference(res, ref, max_epochs=100):
    assert bool(res.converged) == ref["converged"] and bool(res.cycled) == ref["cycled"]
    assert int(res.epochs) == ref["epochs"]
    np.testing.assert_array_equal(np.asarray(res.w), ref["w"])
    assert float(res.b) == ref["b"]
    np.testing.assert_array_equal(np.asarray(res.errors),
                                  ref["errors"] + [-1] * (max_epochs - ref["epochs"]))
    k = ref["epochs"]
    np.testing.assert_array_equal(np.asarray(res.w_history[:k + 1]), [s[0] for s in ref["starts"]])
    np.testing.assert_array_equal(np.asarray(res.b_history[:k + 1]), [s[1] for s in ref["starts"]])
    # padded with the final weights
    np.testing.assert_array_equal(np.asarray(res.w_history[k:]), np.tile(ref["w"], (max_epochs + 1 - k, 1)))
    assert int(res.cycle_start) == ref["cycle_start"]
    assert int(res.cycle_length) == (ref["epochs"] - ref["cycle_start"] if ref["cycled"] else 0)


def test_and_hand_trace():
    # Worked by hand, lr = 1, step(0) = 0, rows in order (0,0), (0,1), (1,0), (1,1):
    # epoch 1: only (1,1) is wrong -> w = (1, 1), b = 1
    # epoch 2: (0,0) z=1 wrong -> b=0; (0,1) z=1 wrong -> w=(1,0), b=-1; (1,0) z=0 ok;
    #          (1,1) z=0 wrong -> w=(2,1), b=0
    # epoch 3: (0,1) z=1 wrong -> w=(2,0), b=-1; (1,0) z=1 wrong -> w=(1,0), b=-2;
    #          (1,1) z=-1 wrong -> w=(2,1), b=-1
    # epoch 4: (1,0) z=1 wrong -> w=(1,1), b=-2; (1,1) z=0 wrong -> w=(2,2), b=-1
    # epoch 5: (0,1) z=1 wrong -> w=(2,1), b=-2; then all right
    # epoch 6: no mistakes -> converged with w = (2, 1), b = -2
    x, y = gates.truth_table("and")
    res = perceptron.fit(x, y)
    assert bool(res.converged) and not bool(res.cycled) and int(res.epochs) == 6
    np.testing.assert_array_equal(np.asarray(res.w), [2.0, 1.0])
    assert float(res.b) == -2.0
    np.testing.assert_array_equal(np.asarray(res.errors[:7]), [1, 3, 3, 2, 1, 0, -1])
    np.testing.assert_array_equal(np.asarray(res.w_history[:7]),
                                  [[0, 0], [1, 1], [2, 1], [2, 1], [2, 2], [2, 1], [2, 1]])
    np.testing.assert_array_equal(np.asarray(res.b_history[:7]), [0, 1, 0, -1, -1, -2, -2])


def test_xor_hand_trace_cycles():
    # epoch 1: (0,1) z=0 wrong -> w=(0,1), b=1; (1,0) z=1 ok; (1,1) z=2 wrong -> w=(-1,0), b=0
    # epoch 2: (0,1) z=0 wrong -> w=(-1,1), b=1; (1,0) z=0 wrong -> w=(0,1), b=2;
    #          (1,1) z=3 wrong -> w=(-1,0), b=1
    # epoch 3: (0,0) z=1 wrong -> b=0, then the same three mistakes -> w=(-1,0), b=1 again:
    # the state at the start of epoch 3 (index 2) repeats, so the rule loops forever.
    x, y = gates.truth_table("xor")
    res = perceptron.fit(x, y, max_epochs=100)
    assert not bool(res.converged) and bool(res.cycled)
    assert int(res.epochs) == 3 and int(res.cycle_start) == 2 and int(res.cycle_length) == 1
    np.testing.assert_array_equal(np.asarray(res.errors[:3]), [2, 3, 4])
    np.testing.assert_array_equal(np.asarray(res.w_history[:4]), [[0, 0], [-1, 0], [-1, 0], [-1, 0]])
    np.testing.assert_array_equal(np.asarray(res.b_history[:4]), [0, 0, 1, 1])


@pytest.mark.parametrize("index", range(16))
def test_matches_reference_on_all_16(index):
    x, y = gates.boolean_function(index)
    res = perceptron.fit(x, y)
    assert_matches_reference(res, reference_perceptron(X, gates.BOOLEAN_FUNCTIONS[index].outputs))


def test_matches_reference_on_random_separable_data():
    rng = np.random.default_rng(0)
    for _ in range(5):
        # a half-integer bias keeps every integer point off the true line: separable
        w_true, b_true = rng.integers(-3, 4, size=3), int(rng.integers(-2, 3)) + 0.5
        x = rng.integers(-2, 3, size=(12, 3))
        y = (x @ w_true + b_true > 0).astype(int)
        res = perceptron.fit(x, y)
        ref = reference_perceptron(x.tolist(), y.tolist())
        assert ref["converged"]
        assert_matches_reference(res, ref)
        np.testing.assert_array_equal(np.asarray(perceptron.predict(res.w, res.b, x))[:, 0], y)


@pytest.mark.parametrize("name", ["and", "or", "nand", "nor"])
def test_separable_gates_converge_within_10_epochs(name):   # G11
    x, y = gates.truth_table(name)
    res = perceptron.fit(x, y, lr=1.0, max_epochs=100)
    assert bool(res.converged) and not bool(res.cycled)
    assert int(res.epochs) <= 10
    assert int(res.errors[int(res.epochs) - 1]) == 0
    pred = perceptron.predict(res.w, res.b, x)
    assert pred.shape == (4, 1)
    np.testing.assert_array_equal(np.asarray(pred), np.asarray(y))


@pytest.mark.parametrize("name", ["xor", "xnor"])
def test_xor_and_xnor_cycle(name):
    x, y = gates.truth_table(name)
    res = perceptron.fit(x, y, max_epochs=100)
    assert bool(res.cycled) and not bool(res.converged)
    assert int(res.epochs) <= 10                      # detected long before max_epochs
    k, j = int(res.epochs), int(res.cycle_start)
    assert 0 <= j < k and int(res.cycle_length) == k - j
    np.testing.assert_array_equal(np.asarray(res.w_history[k]), np.asarray(res.w_history[j]))
    assert float(res.b_history[k]) == float(res.b_history[j])
    assert np.all(np.asarray(res.errors[:k]) > 0)
    assert int(np.sum(np.asarray(perceptron.predict(res.w, res.b, x)) == np.asarray(y))) < 4


def test_exactly_14_of_16_functions_are_separable():
    ys = jnp.stack([gates.boolean_function(i)[1] for i in range(16)])
    x = gates.boolean_function(0)[0]
    res = jax.vmap(lambda y: perceptron.fit(x, y))(ys)       # also: fit works under vmap
    converged = np.asarray(res.converged)
    assert converged.sum() == 14
    failed = {gates.BOOLEAN_FUNCTIONS[i].name for i in np.flatnonzero(~converged)}
    assert failed == {"xor", "xnor"}
    assert np.all(np.asarray(res.cycled) == ~converged)
    for i in range(16):                                       # vmap == one at a time
        one = perceptron.fit(x, ys[i])
        assert int(one.epochs) == int(res.epochs[i])
        np.testing.assert_array_equal(np.asarray(one.w), np.asarray(res.w[i]))


def test_parity_3_is_not_separable():
    x, y = gates.parity(3)
    res = perceptron.fit(x, y)
    assert not bool(res.converged) and bool(res.cycled) and int(res.epochs) < 100


def test_max_epochs_stops_without_cycle_detection():   # E34: no infinite loop
    x, y = gates.truth_table("xor")
    res = perceptron.fit(x, y, max_epochs=50, detect_cycles=False)
    assert int(res.epochs) == 50 and not bool(res.converged) and not bool(res.cycled)
    assert int(res.cycle_start) == -1 and int(res.cycle_length) == 0
    assert np.all(np.asarray(res.errors) > 0)


def test_max_epochs_too_small_for_a_separable_gate():
    x, y = gates.truth_table("and")                       # needs 6 epochs (hand trace above)
    res = perceptron.fit(x, y, max_epochs=3)
    assert int(res.epochs) == 3 and not bool(res.converged) and not bool(res.cycled)
    np.testing.assert_array_equal(np.asarray(res.errors), [1, 3, 3])
    np.testing.assert_array_equal(np.asarray(res.w), [2.0, 1.0])   # start of epoch 4
    assert float(res.b) == -1.0


def test_step_zero_is_zero():
    assert float(perceptron.step(jnp.float32(0.0))) == 0.0
    assert float(perceptron.step(jnp.float32(1e-30))) == 1.0
    assert float(perceptron.step(jnp.float32(-1e-30))) == 0.0
    x = jnp.asarray(X, jnp.float32)
    np.testing.assert_array_equal(np.asarray(perceptron.predict(jnp.zeros(2), 0.0, x)), np.zeros((4, 1)))
    # w.x + b == 0 exactly on (1, 1): predicted 0; on (1, 0) it is 1 > 0: predicted 1
    w = jnp.asarray([1.0, -1.0])
    np.testing.assert_array_equal(np.asarray(perceptron.predict(w, 0.0, x))[:, 0], [0, 0, 1, 0])


def test_predict_shapes_and_dtype():
    w, b = jnp.asarray([2.0, 1.0], jnp.float32), jnp.float32(-2.0)
    assert perceptron.predict(w, b, jnp.asarray([1, 1])).shape == (1,)
    out = perceptron.predict(w, b, np.array(X))              # int x is accepted
    assert out.shape == (4, 1) and out.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(out)[:, 0], [0, 0, 0, 1])
    assert float(perceptron.predict(w, jnp.asarray([-2.0]), jnp.asarray([1.0, 1.0]))[0]) == 1.0


def test_lr_rescales_weights_but_not_predictions():
    x, y = gates.truth_table("nand")
    one, half = perceptron.fit(x, y, lr=1.0), perceptron.fit(x, y, lr=0.5)
    np.testing.assert_array_equal(np.asarray(half.w), 0.5 * np.asarray(one.w))
    assert float(half.b) == 0.5 * float(one.b) and int(half.epochs) == int(one.epochs)


def test_dtypes():
    x, y = gates.truth_table("or")
    assert perceptron.fit(x, y).w.dtype == jnp.float32
    assert perceptron.fit(np.array(X), np.array([0, 1, 1, 1])).w.dtype == jnp.float32   # ints
    x64, y64 = gates.truth_table("or", dtype=jnp.float64)
    res = perceptron.fit(x64, y64)
    assert res.w.dtype == jnp.float64 and bool(res.converged)


def test_labels_shape_n_or_n1():
    x, y = gates.truth_table("nor")
    a, b = perceptron.fit(x, y), perceptron.fit(x, y[:, 0])
    np.testing.assert_array_equal(np.asarray(a.w_history), np.asarray(b.w_history))


def test_fit_under_jit():
    x, y = gates.truth_table("and")
    res = jax.jit(lambda x, y, lr: perceptron.fit(x, y, lr=lr))(x, y, 1.0)
    assert int(res.epochs) == 6 and float(res.b) == -2.0


# ---- E34 and other bad input -------------------------------------------------------------

@pytest.mark.parametrize("labels, got", [([-1, 1, 1, -1], "-1"), ([0, 2, 0, 1], "2"),
                                         ([0.0, 0.5, 1.0, 1.0], "0.5")])
def test_labels_not_in_0_1(labels, got):
    x, _ = gates.truth_table("xor")
    with pytest.raises(ValueError, match=r"perceptron\.fit: perceptron labels must be in "
                                         r"\{0, 1\}, got " + got.replace(".", r"\.")):
        perceptron.fit(x, jnp.asarray(labels))


def test_labels_minus_one_regex_from_spec():
    x, _ = gates.truth_table("and")
    with pytest.raises(ValueError, match=r"perceptron labels must be in \{0, 1\}, got -1"):
        perceptron.fit(x, [-1, -1, -1, 1])


@pytest.mark.parametrize("lr, err, match", [
    (0.0, ValueError, r"perceptron\.fit: lr must be a finite float > 0, got 0\.0"),
    (-1.0, ValueError, r"got -1\.0"),
    (float("nan"), ValueError, r"got nan"),
    (float("inf"), ValueError, r"got inf"),
    ("1", TypeError, r"perceptron\.fit: lr must be a finite float > 0, got str '1'"),
    (True, TypeError, r"got bool True"),
])
def test_bad_lr(lr, err, match):
    x, y = gates.truth_table("and")
    with pytest.raises(err, match=match):
        perceptron.fit(x, y, lr=lr)


@pytest.mark.parametrize("max_epochs, err, match", [
    (0, ValueError, r"perceptron\.fit: max_epochs must be an int > 0, got 0"),
    (-5, ValueError, r"got -5"),
    (2.5, TypeError, r"perceptron\.fit: max_epochs must be an int, got float 2\.5"),
    (True, TypeError, r"got bool"),
])
def test_bad_max_epochs(max_epochs, err, match):
    x, y = gates.truth_table("and")
    with pytest.raises(err, match=match):
        perceptron.fit(x, y, max_epochs=max_epochs)


@pytest.mark.parametrize("x, y, err, match", [
    (np.zeros((4, 2, 1)), np.zeros(4), ValueError,
     r"perceptron\.fit: x must be 1-D \(one sample\) or 2-D \(batch, features\), got shape \(4, 2, 1\)"),
    (np.zeros((4, 2)), np.zeros((3, 1)), ValueError,
     r"perceptron\.fit: y must have shape \(4, 1\) or \(4,\) to match x's 4 rows, got \(3, 1\)"),
    (np.zeros((4, 2)), np.zeros((4, 2)), ValueError, r"got \(4, 2\)"),
    (np.zeros((0, 2)), np.zeros(0), ValueError, r"perceptron\.fit: empty batch: x has 0 rows"),
    (np.array([[0, 0], [np.nan, 1]]), np.zeros(2), ValueError,
     r"perceptron\.fit: x contains 1 non-finite value\(s\) \(first at row 1, column 0\)"),
    (np.array([["a", "b"]]), np.zeros(1), TypeError, r"perceptron\.fit: x must have a real numeric dtype"),
    (np.zeros((2, 2), np.complex64), np.zeros(2), TypeError, r"got complex64"),
    (np.zeros((2, 2)), np.array([0, np.nan]), ValueError, r"perceptron labels must be in \{0, 1\}, got nan"),
])
def test_bad_shapes_and_values(x, y, err, match):
    with pytest.raises(err, match=match):
        perceptron.fit(x, y)


@pytest.mark.parametrize("w, b, x, match", [
    (np.zeros(2), 0.0, np.zeros((4, 3)),
     r"perceptron\.predict: w has 2 weights, got x with shape \(4, 3\)"),
    (np.zeros((2, 1)), 0.0, np.zeros((4, 2)),
     r"perceptron\.predict: w must be a 1-D float array \(n_in,\), got float(32|64) \(2, 1\)"),
    (np.zeros(2), np.zeros(2), np.zeros((4, 2)),
     r"perceptron\.predict: b must be a scalar \(shape \(\) or \(1,\)\), got shape \(2,\)"),
])
def test_predict_errors(w, b, x, match):
    with pytest.raises(ValueError, match=match):
        perceptron.predict(w, b, x)


# ---- the sigmoid unit --------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigmoid_unit_on_xor_goes_to_one_half(seed):
    x, y = gates.truth_table("xor")
    res = perceptron.fit_sigmoid_unit(x, y, lr=1.0, steps=2000, key=jax.random.key(seed))
    assert res.outputs.shape == (4, 1) and res.history.shape == (2000,)
    # The best a single line can do on XOR: w = 0, b = 0, every output 1/2, loss ln 2.
    np.testing.assert_allclose(np.asarray(res.outputs), 0.5, atol=1e-3)
    assert abs(float(res.history[-1]) - math.log(2)) < 1e-5
    assert float(res.history[0]) > float(res.history[-1])     # started away from the optimum
    np.testing.assert_allclose(np.asarray(res.w), 0.0, atol=1e-2)


@pytest.mark.parametrize("name", ["and", "or", "nand", "nor"])
def test_sigmoid_unit_learns_separable_gates(name):
    x, y = gates.truth_table(name)
    res = perceptron.fit_sigmoid_unit(x, y, lr=1.0, steps=2000)
    np.testing.assert_array_equal(np.asarray(res.outputs > 0.5), np.asarray(y) > 0.5)
    expected = 1 / (1 + np.exp(-(np.asarray(x) @ np.asarray(res.w) + float(res.b))))
    np.testing.assert_allclose(np.asarray(res.outputs)[:, 0], expected, rtol=1e-5)


def test_sigmoid_unit_bad_input():
    x, y = gates.truth_table("and")
    with pytest.raises(ValueError, match=r"perceptron\.fit_sigmoid_unit: lr must be a finite float > 0"):
        perceptron.fit_sigmoid_unit(x, y, lr=-1.0)
    with pytest.raises(ValueError, match=r"perceptron\.fit_sigmoid_unit: steps must be an int > 0, got 0"):
        perceptron.fit_sigmoid_unit(x, y, steps=0)
