"""jaxbp.gates: exact truth tables, the 16 two-input Boolean functions, parity, and the
bad-name errors (RELIABILITY E35, E40)."""
import itertools
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp import gates

ROWS = [(0, 0), (0, 1), (1, 0), (1, 1)]

# Written out by hand, one output per row (0,0), (0,1), (1,0), (1,1).
GATES = {
    "and": [0, 0, 0, 1],
    "or": [0, 1, 1, 1],
    "nand": [1, 1, 1, 0],
    "nor": [1, 0, 0, 0],
    "xor": [0, 1, 1, 0],
    "xnor": [1, 0, 0, 1],
}

# All 16 functions by truth-table index (bit k = output on row k = 2*x1 + x2), by hand.
SIXTEEN = {
    0: ("false", [0, 0, 0, 0]),
    1: ("nor", [1, 0, 0, 0]),
    2: ("converse_nonimplication", [0, 1, 0, 0]),   # NOT x1 AND x2
    3: ("not_x1", [1, 1, 0, 0]),
    4: ("nonimplication", [0, 0, 1, 0]),            # x1 AND NOT x2
    5: ("not_x2", [1, 0, 1, 0]),
    6: ("xor", [0, 1, 1, 0]),
    7: ("nand", [1, 1, 1, 0]),
    8: ("and", [0, 0, 0, 1]),
    9: ("xnor", [1, 0, 0, 1]),
    10: ("x2", [0, 1, 0, 1]),
    11: ("implication", [1, 1, 0, 1]),              # x1 -> x2
    12: ("x1", [0, 0, 1, 1]),
    13: ("converse_implication", [1, 0, 1, 1]),     # x2 -> x1
    14: ("or", [0, 1, 1, 1]),
    15: ("true", [1, 1, 1, 1]),
}


def test_names():
    assert gates.NAMES == ("and", "or", "nand", "nor", "xor", "xnor")


@pytest.mark.parametrize("name", sorted(GATES))
def test_truth_table_exact(name):
    x, y = gates.truth_table(name)
    assert x.shape == (4, 2) and y.shape == (4, 1)
    assert x.dtype == jnp.float32 and y.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(x), np.array(ROWS, np.float32))
    np.testing.assert_array_equal(np.asarray(y)[:, 0], np.array(GATES[name], np.float32))


def test_truth_table_float64_when_x64_on():
    x, y = gates.truth_table("and", dtype=jnp.float64)   # conftest turns x64 on
    assert x.dtype == jnp.float64 and y.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(y)[:, 0], GATES["and"])


def test_sixteen_functions_exact():
    assert len(gates.BOOLEAN_FUNCTIONS) == 16
    for index, (name, outputs) in SIXTEEN.items():
        f = gates.BOOLEAN_FUNCTIONS[index]
        assert (f.index, f.name, f.outputs) == (index, name, tuple(outputs))
        for key in (index, name):
            x, y = gates.boolean_function(key)
            np.testing.assert_array_equal(np.asarray(x), np.array(ROWS, np.float32))
            np.testing.assert_array_equal(np.asarray(y)[:, 0], np.array(outputs, np.float32))


def test_sixteen_functions_are_all_distinct_and_formulas_agree():
    # Evaluate each formula string as Python logic on every row (an independent reading).
    ops = {"AND": "and", "OR": "or", "NOT": "not", "XOR": "!=", "->": "<="}
    seen = set()
    for f in gates.BOOLEAN_FUNCTIONS:
        expr = " ".join(ops.get(tok, tok) for tok in f.formula.replace("(", "( ").replace(")", " )").split())
        got = [int(bool(eval(expr, {}, {"x1": a, "x2": b}))) for a, b in ROWS]
        assert got == list(f.outputs), f.name
        seen.add(f.outputs)
    assert len(seen) == 16


def test_six_gates_agree_with_sixteen():
    for name in gates.NAMES:
        np.testing.assert_array_equal(np.asarray(gates.truth_table(name)[1]),
                                      np.asarray(gates.boolean_function(name)[1]))


@pytest.mark.parametrize("n", [2, 3, 5])
def test_parity(n):
    x, y = gates.parity(n)
    assert x.shape == (2 ** n, n) and y.shape == (2 ** n, 1)
    rows = list(itertools.product([0, 1], repeat=n))     # binary counting order, MSB first
    np.testing.assert_array_equal(np.asarray(x), np.array(rows, np.float32))
    np.testing.assert_array_equal(np.asarray(y)[:, 0], [sum(r) % 2 for r in rows])


def test_parity_2_is_xor():
    for a, b in zip(gates.parity(2), gates.truth_table("xor")):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("bad", ["XNOR ", "XOR", "Xnor", "xnor ", " and", "nan", "gate", ""])
def test_unknown_gate_lists_valid_names(bad):
    with pytest.raises(ValueError, match=r"truth_table: unknown gate .*expected one of "
                       r"\['and', 'nand', 'nor', 'or', 'xnor', 'xor'\]"):
        gates.truth_table(bad)


def test_unknown_gate_close_match_hint():
    with pytest.raises(ValueError, match=r"unknown gate 'XNOR '.*\(did you mean 'xnor'\?\)"):
        gates.truth_table("XNOR ")
    with pytest.raises(ValueError, match=r"\(did you mean 'nand'\?\)"):
        gates.truth_table("nandd")


def test_truth_table_non_string_name():
    with pytest.raises(TypeError, match=r"truth_table: gate must be a name \(str\), got int"):
        gates.truth_table(6)


def test_truth_table_bad_dtype():
    with pytest.raises(TypeError, match=r"truth_table: dtype must be a floating dtype"):
        gates.truth_table("and", dtype=jnp.int32)


@pytest.mark.parametrize("bad, err, match", [
    (16, ValueError, r"boolean_function: index must be an int in \[0, 15\], got 16"),
    (-1, ValueError, r"boolean_function: index must be an int in \[0, 15\], got -1"),
    (True, TypeError, r"boolean_function: index must be an int in \[0, 15\] or a name, got bool"),
    (2.0, TypeError, r"got float"),
    ("implicaton", ValueError, r"boolean_function: unknown function 'implicaton'.*did you mean 'implication'"),
])
def test_boolean_function_errors(bad, err, match):
    with pytest.raises(err, match=match):
        gates.boolean_function(bad)


@pytest.mark.parametrize("bad, err, match", [
    (1, ValueError, r"parity: n must be an int in \[2, 20\], got 1"),
    (21, ValueError, r"got 21"),
    (3.0, TypeError, r"parity: n must be an int, got float"),
    (True, TypeError, r"got bool"),
])
def test_parity_errors(bad, err, match):
    with pytest.raises(err, match=match):
        gates.parity(bad)


@pytest.mark.slow
def test_float64_without_x64_raises():
    # E40 needs x64 *off*, so it runs in a fresh interpreter.
    code = (
        "import jax.numpy as jnp\n"
        "from jaxbp import gates\n"
        "x, y = gates.truth_table('or')\n"
        "assert x.dtype == jnp.float32\n"
        "for call in (lambda: gates.truth_table('or', dtype=jnp.float64),\n"
        "             lambda: gates.parity(3, dtype='float64')):\n"
        "    try:\n"
        "        call()\n"
        "    except ValueError as e:\n"
        "        print(e)\n"
    )
    env = {**os.environ, "JAX_ENABLE_X64": "0", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2
    for line, fn in zip(lines, ("truth_table", "parity")):
        assert line.startswith(f"{fn}: float64 requested but jax_enable_x64 is disabled; call "
                               f"jax.config.update('jax_enable_x64', True)")
