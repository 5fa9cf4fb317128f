"""Logic gates as data: exact truth tables for the six classic gates, all 16 Boolean
functions of two inputs, and n-input parity.

Every table has its rows in binary counting order -- for two inputs (0,0), (0,1), (1,0),
(1,1) -- so ``x`` is ``(4, 2)`` and ``y`` is ``(4, 1)``, both floats holding exactly 0.0 and
1.0 (float32 by default; pass ``dtype=jnp.float64`` when ``jax_enable_x64`` is on).

**Truth-table index of a two-input function.** Bit ``k`` of the index is the output on row
``k``, where row ``k`` is the input ``(x1, x2)`` with ``k = 2*x1 + x2``; i.e. the output column
read from the bottom row (1,1) to the top row (0,0) is the index in binary::

    f(x1, x2) = (index >> (2*x1 + x2)) & 1

    AND = 0b1000 = 8     OR = 0b1110 = 14     XOR = 0b0110 = 6
    NAND = 7             NOR = 1              XNOR = 9        FALSE = 0, TRUE = 15

>>> x, y = truth_table("xor")
>>> y[:, 0].tolist()
[0.0, 1.0, 1.0, 0.0]
>>> BOOLEAN_FUNCTIONS[11].formula
'x1 -> x2'
"""
import numbers
from typing import Any, NamedTuple, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks

NAMES = ("and", "or", "nand", "nor", "xor", "xnor")


class BooleanFunction(NamedTuple):
    """One of the 16 Boolean functions of two inputs.

    ``outputs[k]`` is the output on row ``k`` = ``(x1, x2)`` with ``k = 2*x1 + x2``, and
    ``index == sum(outputs[k] << k)``.
    """
    index: int
    name: str
    formula: str
    outputs: Tuple[int, int, int, int]


# index -> (name, formula); the outputs follow from the index.
_FUNCTIONS = (
    ("false", "0"),                                    # contradiction
    ("nor", "NOT (x1 OR x2)"),
    ("converse_nonimplication", "NOT x1 AND x2"),      # x1 <-/- x2
    ("not_x1", "NOT x1"),                              # negation of the first input
    ("nonimplication", "x1 AND NOT x2"),               # x1 -/-> x2
    ("not_x2", "NOT x2"),
    ("xor", "x1 XOR x2"),
    ("nand", "NOT (x1 AND x2)"),
    ("and", "x1 AND x2"),
    ("xnor", "x1 == x2"),
    ("x2", "x2"),                                      # projection onto the second input
    ("implication", "x1 -> x2"),                       # NOT x1 OR x2
    ("x1", "x1"),                                      # projection onto the first input
    ("converse_implication", "x2 -> x1"),              # x1 OR NOT x2
    ("or", "x1 OR x2"),
    ("true", "1"),                                     # tautology
)

BOOLEAN_FUNCTIONS = tuple(
    BooleanFunction(i, name, formula, tuple((i >> k) & 1 for k in range(4)))
    for i, (name, formula) in enumerate(_FUNCTIONS))

_BY_NAME = {f.name: f for f in BOOLEAN_FUNCTIONS}
_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
MAX_PARITY_INPUTS = 20


def _table(fn: str, outputs: Any, dtype: Any) -> Tuple[jax.Array, jax.Array]:
    dtype = _checks.check_float_dtype(fn, dtype)
    return (jnp.asarray(_INPUTS, dtype),
            jnp.asarray(np.asarray(outputs).reshape(4, 1), dtype))


def truth_table(name: str, dtype: Any = jnp.float32) -> Tuple[jax.Array, jax.Array]:
    """The truth table of a gate: ``x`` ``(4, 2)`` and ``y`` ``(4, 1)``, rows (0,0), (0,1),
    (1,0), (1,1).

    ``name`` is one of :data:`NAMES`, exactly as written there (lower case); anything else,
    including ``"XOR"`` or ``"xor "``, raises a ``ValueError`` that lists the valid names and
    suggests the closest one.
    """
    gate = _checks.choose("truth_table", "gate", name, {n: _BY_NAME[n] for n in NAMES})
    return _table("truth_table", gate.outputs, dtype)


def boolean_function(index: Union[int, str],
                     dtype: Any = jnp.float32) -> Tuple[jax.Array, jax.Array]:
    """The truth table ``(x, y)`` of the two-input Boolean function with truth-table
    ``index`` 0..15 (see the module docstring for the bit order), or with its name in
    :data:`BOOLEAN_FUNCTIONS`, e.g. ``"implication"``."""
    if isinstance(index, str):
        f = _checks.choose("boolean_function", "function", index, _BY_NAME)
    elif isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral):
        raise TypeError(f"boolean_function: index must be an int in [0, 15] or a name, "
                        f"got {type(index).__name__}")
    elif not 0 <= index <= 15:
        raise ValueError(f"boolean_function: index must be an int in [0, 15], got {index}")
    else:
        f = BOOLEAN_FUNCTIONS[int(index)]
    return _table("boolean_function", f.outputs, dtype)


def parity(n: int, dtype: Any = jnp.float32) -> Tuple[jax.Array, jax.Array]:
    """n-input parity (XOR of all inputs): ``x`` ``(2**n, n)``, ``y`` ``(2**n, 1)``.

    Rows count in binary with ``x[:, 0]`` the most significant bit, so ``parity(2)`` is
    :func:`truth_table` ``("xor")``. ``n`` must be an int in [2, 20].
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"parity: n must be an int, got {type(n).__name__}")
    if not 2 <= n <= MAX_PARITY_INPUTS:
        raise ValueError(f"parity: n must be an int in [2, {MAX_PARITY_INPUTS}], got {n}")
    dtype = _checks.check_float_dtype("parity", dtype)
    rows = np.arange(2 ** int(n))
    bits = (rows[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1
    return jnp.asarray(bits, dtype), jnp.asarray(bits.sum(axis=1, keepdims=True) % 2, dtype)
