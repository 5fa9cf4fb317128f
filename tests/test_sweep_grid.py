"""demos/sweep_grid.py: the table of `jaxbp sweep` (run_grid, format_table).

References: the Wilson interval of jaxbp.sweep (tested by hand in test_sweep.py), counted
from the rows' own success counts; train_many on the same initialisations.
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp
from jaxbp import sweep
from jaxbp.demos import sweep_grid


@pytest.mark.slow
def test_table_states_its_conditions():
    rows = sweep_grid.run_grid(widths=(2, 4), inits=("uniform",), costs=("cross_entropy",),
                               lrs=(2.0,), runs=40, steps=300, seed=3)
    out = sweep_grid.format_table(rows)
    assert out.count("all four XOR outputs are on the right side of 0.5") == 1   # criterion
    found = re.findall(r"^\s*(\d) +(\w+) +(\w+) +(\S+) +(\d+) +(\d+) +(\S+)% \[ *(\S+), *(\S+)\]%",
                       out, re.M)
    assert [r[:6] for r in found] == [("2", "uniform", "cross_entropy", "2", "300", "40"),
                                      ("4", "uniform", "cross_entropy", "2", "300", "40")]
    for r, row in zip(found, rows):            # rate, then its Wilson interval, in percent
        assert float(r[6]) == pytest.approx(100 * row.solved / 40, abs=0.051)
        lo, hi = sweep.wilson_interval(row.solved, 40)
        assert float(r[7]) == pytest.approx(100 * lo, abs=0.051)
        assert float(r[8]) == pytest.approx(100 * hi, abs=0.051)
        assert sum(row.modes.values()) == 40 and row.modes["solved"] == row.solved


@pytest.mark.slow
def test_rows_are_train_many_on_the_documented_inits():
    """Width 2, init uniform: init_batch(fold_in(key(seed), index of 'uniform' in INITS))."""
    rows = sweep_grid.run_grid(widths=(2,), inits=("uniform",), costs=("quadratic",),
                               lrs=(0.5, 2.0), runs=16, steps=200, seed=1)
    net = jaxbp.MLP((2, 2, 1))
    x, y = sweep_grid.xor_data()
    params = sweep.init_batch(net, jax.random.fold_in(jax.random.key(1), 1), 16, "uniform")
    for row, lr in zip(rows, (0.5, 2.0)):
        res = sweep.train_many(net, params, x, y, "quadratic", lr, 200)
        assert row.solved == int(res.solved.sum())
        np.testing.assert_array_equal(row.steps_to_solve, res.steps_to_solve)


def test_xor_data():
    x, y = sweep_grid.xor_data(jnp.float64)
    np.testing.assert_array_equal(x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [[0], [1], [1], [0]])
    assert x.dtype == y.dtype == jnp.float64


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(widths=[0]), ValueError, r"^run_grid: widths\[i\] must be an int > 0, got 0"),
    (dict(lrs=[-1.0]), ValueError, r"^run_grid: lrs\[i\] must be a finite float > 0, got -1\.0"),
    (dict(inits=["smal"]), ValueError, r"^run_grid: unknown init 'smal'"),
    (dict(costs=[]), ValueError, r"^run_grid: costs must be a non-empty sequence"),
    (dict(runs=0), ValueError, r"^run_grid: runs must be an int > 0, got 0"),
])
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        sweep_grid.run_grid(**kwargs)
