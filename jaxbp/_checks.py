"""Validation at the public boundary (RELIABILITY.md E1-E22, E33, E40).

Every check here is plain Python on shapes, dtypes and -- for concrete arrays only -- values.
They run in the public wrappers, before any tracing; under ``jit``/``vmap`` the shape and
dtype checks still run (shapes are static) and the value checks are skipped, because the
values are not known. The compiled kernels behind the wrappers are unchecked.

Every message starts with the public function's name, says what was expected and what was
given, and gives the layer index when a layer is involved.

Inputs ``x`` and ``y`` of any real dtype (int, bool, uint8, another float) are cast to the
params dtype here, at the boundary: kernels see one dtype per params dtype, so a float64 ``x``
with float32 params neither upcasts the result nor retraces (E17, E18).
"""
import difflib
import numbers
import operator
import weakref
from typing import Any, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .activations import ACTIVATIONS, Activation
from .costs import COSTS, Cost

X64_HINT = ("float64 requested but jax_enable_x64 is disabled; call "
            "jax.config.update('jax_enable_x64', True) at program start")


def is_concrete(*xs):
    """True when none of ``xs`` (arrays or pytrees of arrays) is a tracer."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(xs))


def require_concrete(fn, what, *xs):
    """``fn`` needs actual values (it returns Python numbers or touches files)."""
    if not is_concrete(*xs):
        raise TypeError(f"{fn}: {what} must be concrete arrays, got traced values; {fn} "
                        f"cannot run inside jax.jit/vmap/grad, call it outside the transform")


def x64_enabled():
    """Whether float64 arrays can exist right now (honours ``with jax.enable_x64(...)``)."""
    return bool(jax.config.jax_enable_x64)


def choose(fn, what, name, choices):
    """Look ``name`` up in the dict ``choices``, or raise a ValueError with a close match."""
    if not isinstance(name, str):
        raise TypeError(f"{fn}: {what} must be a name (str), got {type(name).__name__}")
    if name in choices:
        return choices[name]
    names = sorted(choices)
    close = difflib.get_close_matches(name.strip().lower(), names, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ValueError(f"{fn}: unknown {what} '{name}'; expected one of {names}{hint}")


def check_activation_names(fn, activations):
    """Per-layer activation names: a sequence of str, never a bare str."""
    if isinstance(activations, (str, bytes)) or not hasattr(activations, "__len__"):
        raise TypeError(f"{fn}: activations must be a sequence of names, one per layer, such "
                        f"as ('tanh', 'sigmoid'), got {type(activations).__name__} {activations!r}")
    return tuple(activation_name(fn, a, f"activations[{i}]") for i, a in enumerate(activations))


def activation_name(fn, act, where):
    """Normalise an activation given by name; returns the name."""
    if isinstance(act, Activation):
        raise TypeError(f"{fn}: {where}: give activations by name, one of {sorted(ACTIVATIONS)}")
    choose(fn, "activation", act, ACTIVATIONS)
    return act


def check_sizes(fn, sizes):
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"{fn}: sizes must be a sequence of ints such as (2, 3, 1), "
                        f"got {type(sizes).__name__}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"{fn}: sizes must have at least 2 entries (input and output), got {sizes}")
    out = []
    for i, n in enumerate(sizes):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
            raise TypeError(f"{fn}: sizes[{i}] must be an int, got {type(n).__name__}")
        if n <= 0:
            raise ValueError(f"{fn}: sizes[{i}] must be a positive int, got {n}")
        out.append(operator.index(n))
    return tuple(out)


def check_layer_activations(fn, sizes, names):
    n_layers = len(sizes) - 1
    if len(names) != n_layers:
        raise ValueError(f"{fn}: got {len(names)} activations for {n_layers} layers")
    for l, name in enumerate(names):
        if name != "softmax":
            continue
        if l != n_layers - 1:
            raise ValueError(f"{fn}: softmax is only valid on the output layer with >= 2 units "
                             f"(layer {l} is a hidden layer)")
        if sizes[-1] < 2:
            raise ValueError(f"{fn}: softmax is only valid on the output layer with >= 2 units "
                             f"(layer {l} has {sizes[-1]} unit)")


def resolve_cost(fn: str, cost: Any, output: str) -> Cost:
    """The Cost for ``cost`` (a name or a Cost), checked against the output activation."""
    if not isinstance(cost, Cost):
        cost = choose(fn, "cost", cost, COSTS)
    if cost.output is not None and cost.output != output:
        raise ValueError(f"{fn}: cost '{cost.name}' requires a '{cost.output}' output layer, "
                         f"got '{output}'")
    if cost.output is None and ACTIVATIONS[output].prime is None:
        raise ValueError(f"{fn}: cost '{cost.name}' cannot follow a '{output}' output layer "
                         f"(it has no elementwise derivative for BP1); use "
                         f"'softmax_cross_entropy'")
    return cost


def check_number(fn, name, value, rule, ok):
    """A real scalar (Python, numpy or jax) for which ``ok(float(value))`` holds, as a float;
    ``rule`` says what is expected (``"a finite float > 0"``). Traced values pass unchecked."""
    if isinstance(value, jax.core.Tracer):
        return value
    if isinstance(value, (bool, np.bool_)) or \
            not isinstance(value, (numbers.Real, np.ndarray, np.generic, jax.Array)) \
            or np.ndim(value) != 0 or not np.issubdtype(np.asarray(value).dtype, np.number) \
            or np.iscomplexobj(value):
        raise TypeError(f"{fn}: {name} must be {rule}, got {type(value).__name__} {value!r}")
    if not ok(float(value)):
        raise ValueError(f"{fn}: {name} must be {rule}, got {float(value)}")
    return float(value)


POSITIVE = ("a finite float > 0", lambda v: np.isfinite(v) and v > 0)
NON_NEGATIVE = ("a finite float >= 0", lambda v: np.isfinite(v) and v >= 0)


def check_positive_int(fn, name, value, upper=None):
    """An int in [1, upper] (``bool`` is not an int here)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{fn}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0 or (upper is not None and value > upper):
        rng = f"in [1, {upper}]" if upper is not None else "> 0"
        raise ValueError(f"{fn}: {name} must be an int {rng}, got {value}")
    return int(value)


def check_l2(fn, l2):
    return check_number(fn, "l2", l2, *NON_NEGATIVE)


def check_float_dtype(fn: str, dtype: Any) -> np.dtype:
    """A floating dtype that jax can actually hold (E40)."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{fn}: dtype must be a floating dtype such as jnp.float32, "
                        f"got {dtype!r}") from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{fn}: dtype must be a floating dtype such as jnp.float32, got {dtype}")
    if dtype == np.float64 and not x64_enabled():
        raise ValueError(f"{fn}: {X64_HINT}")
    return dtype


def check_key(fn: str, key: Any) -> jax.Array:
    """A single PRNG key: new-style ``jax.random.key(seed)`` or legacy uint32[2] (E33)."""
    if isinstance(key, (jax.Array, jax.core.Tracer, np.ndarray)):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
            return key
        if key.dtype == np.uint32 and key.shape == (2,):
            return jnp.asarray(key)
    raise TypeError(f"{fn}: key must be a PRNG key from jax.random.key(seed) or "
                    f"jax.random.PRNGKey(seed), got {_describe(key)}")


def _describe(a):
    if hasattr(a, "shape") and hasattr(a, "dtype"):
        return f"{type(a).__name__} {a.dtype} {tuple(a.shape)}"
    return type(a).__name__


def check_params(fn: str, net: Any, params: Any) -> np.dtype:
    """Structure, shapes and one floating dtype for ``params``; returns that dtype."""
    n_layers = len(net.sizes) - 1
    if not isinstance(params, (tuple, list)):
        raise TypeError(f"{fn}: params must be a tuple with one dict per layer, "
                        f"got {type(params).__name__}")
    if len(params) != n_layers:
        raise ValueError(f"{fn}: params has {len(params)} layers, expected {n_layers} "
                         f"for sizes {list(net.sizes)}")
    dtype = None
    for l, layer in enumerate(params):
        if not isinstance(layer, dict) or set(layer) != {"W", "b"}:
            got = sorted(layer) if isinstance(layer, dict) else type(layer).__name__
            raise ValueError(f"{fn}: params[{l}] must be a dict with keys ['W', 'b'], got {got}")
        expected = {"W": (net.sizes[l], net.sizes[l + 1]), "b": (net.sizes[l + 1],)}
        for name in ("W", "b"):
            leaf = layer[name]
            if not hasattr(leaf, "shape") or not hasattr(leaf, "dtype"):
                raise TypeError(f"{fn}: params[{l}]['{name}'] must be an array, "
                                f"got {type(leaf).__name__}")
            if tuple(leaf.shape) != expected[name]:
                raise ValueError(f"{fn}: layer {l}: {name} has shape {tuple(leaf.shape)}, "
                                 f"expected {expected[name]} for sizes {list(net.sizes)}")
            if not jnp.issubdtype(leaf.dtype, jnp.floating):
                raise TypeError(f"{fn}: params[{l}]['{name}'] must be floating point, "
                                f"got {leaf.dtype}")
            if leaf.dtype == np.float64 and not x64_enabled():
                raise ValueError(f"{fn}: params[{l}]['{name}'] is float64: {X64_HINT}")
            if dtype is None:
                dtype = np.dtype(leaf.dtype)
            elif leaf.dtype != dtype:
                raise TypeError(f"{fn}: params[{l}]['{name}'] has dtype {leaf.dtype} but "
                                f"params[0]['W'] has {dtype}; all leaves must share one dtype")
    return dtype


def _real_dtype(fn, name, a):
    dtype = getattr(a, "dtype", None)
    if dtype is None or not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
                             or jnp.issubdtype(dtype, jnp.bool_)):
        raise TypeError(f"{fn}: {name} must have a real numeric dtype, got {dtype or type(a).__name__}")


def as_real_array(fn, name, a):
    """``a`` as an array (numpy or jax) of real numbers -- float, int or bool -- else a TypeError."""
    if isinstance(a, (jax.Array, np.ndarray)):
        _real_dtype(fn, name, a)
        return a
    try:
        a = np.asarray(a)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{fn}: {name} must be an array of real numbers, got {type(a).__name__}") from e
    _real_dtype(fn, name, a)
    return a


def _cast(a, dtype):
    """``a`` as a jax array of ``dtype``; out-of-range values become inf quietly (numpy would
    warn), and :func:`_check_finite` then reports them."""
    if isinstance(a, np.ndarray):
        with np.errstate(over="ignore", invalid="ignore"):
            a = a.astype(dtype)
    return jnp.asarray(a, dtype)


def _host_readable(a):
    """False for a global array spread over several processes (``jax.distributed``): its
    values cannot be fetched here, so value checks use a compiled global reduction."""
    return not isinstance(a, jax.Array) or a.is_fully_addressable


@jax.jit
def _global_counts(a, low, high):
    """(non-finite entries, entries outside [low, high], rows not summing to 1 or with a
    negative entry) -- the same numbers on every process."""
    a = a.astype(jnp.float32) if not jnp.issubdtype(a.dtype, jnp.floating) else a
    rows = jnp.any(a < 0, axis=-1) | (jnp.abs(jnp.sum(a, axis=-1) - 1) > 1e-5 * a.shape[-1])
    return jnp.sum(~jnp.isfinite(a)), jnp.sum((a < low) | (a > high)), jnp.sum(rows)


def _check_global(fn, name, a, low=-np.inf, high=np.inf, rows_sum_to_one=False, what=""):
    bad, out, rows = (int(c) for c in _global_counts(a, low, high))
    if bad:
        raise ValueError(f"{fn}: {name} contains {bad} non-finite value(s) (in a global array)")
    if out:
        raise ValueError(f"{fn}: {what} ({out} value(s) outside [{low}, {high}] in a global array)")
    if rows_sum_to_one and rows:
        raise ValueError(f"{fn}: softmax cross-entropy targets must be non-negative and sum to "
                         f"1 per row; {rows} row(s) do not (in a global array)")


# Concrete jax arrays already found finite, by id (with a weak reference, so an id is
# forgotten when its array is freed). A jax array is immutable, so the answer cannot
# change: calling fit again on the same data skips a full pass over it.
_FINITE = {}


def _known_finite(a):
    ref = _FINITE.get(id(a))
    return ref is not None and ref() is a


def _remember_finite(a):
    if isinstance(a, jax.Array):
        key = id(a)
        _FINITE[key] = weakref.ref(a, lambda _, key=key: _FINITE.pop(key, None))


def _check_finite(fn, name, a, original):
    """E15: no NaN/inf in the (already cast) ``a``; ``original`` is what the user passed,
    to tell a value that overflowed in the cast (E18) from one that was there already."""
    if not isinstance(a, (jax.Array, np.ndarray)) or not is_concrete(a) or _known_finite(a):
        return  # traced, a shape-only stand-in, or already known to be finite
    if not _host_readable(a):
        return _check_global(fn, name, a)
    bad = ~np.isfinite(np.asarray(a))
    if bad.any():
        first = np.argwhere(bad)[0]
        where = f"row {first[0]}, column {first[1]}" if len(first) == 2 else f"index {first[0]}"
        was_finite = np.isfinite(np.asarray(original, np.float64).reshape(a.shape)[tuple(first)])
        why = f" after the cast to the params dtype {a.dtype} (out of its range)" if was_finite else ""
        raise ValueError(f"{fn}: {name} contains {int(bad.sum())} non-finite value(s){why} "
                         f"(first at {where})")
    _remember_finite(a)


def as_batch(fn, x, dtype, n_features=None, mismatch=None):
    """x as a (batch, features) array of ``dtype``, checked: real dtype (E16), 1-D is one
    sample and anything but 1-D/2-D an error (E11), ``n_features`` columns (E10, with the
    message ``mismatch``), not empty (E14), finite after the cast (E15, E18)."""
    x = as_real_array(fn, "x", x)
    if x.ndim not in (1, 2):
        raise ValueError(f"{fn}: x must be 1-D (one sample) or 2-D (batch, features), "
                         f"got shape {tuple(x.shape)}")
    x2 = x.reshape(1, -1) if x.ndim == 1 else x
    if n_features is not None and x2.shape[1] != n_features:
        raise ValueError(f"{fn}: {mismatch}, got x with shape {tuple(x.shape)}")
    if x2.shape[0] == 0:
        raise ValueError(f"{fn}: empty batch: x has 0 rows")
    cast = _cast(x2, dtype)
    _check_finite(fn, "x", cast, x2)
    return cast


def prepare_x(fn: str, net: Any, x: Any, dtype: np.dtype) -> jax.Array:
    """x as a (batch, n_in) array of ``dtype``; 1-D is one sample (a batch of one)."""
    return as_batch(fn, x, dtype, net.sizes[0], f"layer 0 expects {net.sizes[0]} input features")


def prepare_y(fn, net, cost, y, x_was_1d, n, dtype):
    """y as a (batch, n_out) array of ``dtype``, checked against the cost (E12, E13, E19-E22).

    With softmax cross-entropy, integer labels of shape (n,) are one-hot encoded here.
    """
    y = as_real_array(fn, "y", y)
    k = net.sizes[-1]
    # E22: integer (n,) -> sparse labels; (n, k) -> dense targets. For a single sample (1-D x)
    # a label may be a scalar or a length-1 vector (k >= 2, so it cannot be one-hot).
    integer = not jnp.issubdtype(y.dtype, jnp.floating)
    sparse = cost.name == "softmax_cross_entropy" and integer and (
        (y.ndim == 0 and x_was_1d) or (y.ndim == 1 and not (x_was_1d and y.shape[0] == k)))
    if sparse:
        y = y.reshape(-1)
        if y.shape[0] != n:
            raise ValueError(f"{fn}: x has {n} rows but y has {y.shape[0]}")
        if is_concrete(y) and not _host_readable(y):
            _check_global(fn, "y", y, 0, k - 1, what=f"labels must be integers in [0, {k})")
        elif is_concrete(y):
            labels = np.asarray(y).astype(np.int64)
            bad = np.flatnonzero((labels < 0) | (labels >= k))
            if bad.size:
                raise ValueError(f"{fn}: labels must be integers in [0, {k}); "
                                 f"got {labels[bad[0]]} at index {bad[0]}")
        return jax.nn.one_hot(jnp.asarray(y), k, dtype=dtype)
    if x_was_1d and y.ndim == 1:
        y = y.reshape(1, -1)
    if cost.name == "softmax_cross_entropy" and (y.ndim != 2 or y.shape[1] != k):
        raise ValueError(f"{fn}: expected integer labels of shape (n,) or one-hot targets of "
                         f"shape (n, {k}), got {y.dtype} {tuple(y.shape)}")
    if y.ndim == 2 and y.shape[0] != n and y.shape[1] == k:
        raise ValueError(f"{fn}: x has {n} rows but y has {y.shape[0]}")
    if tuple(y.shape) != (n, k):
        raise ValueError(f"{fn}: y shape {tuple(y.shape)} does not match network output "
                         f"shape {(n, k)}")
    cast = _cast(y, dtype)
    _check_finite(fn, "y", cast, y)
    if is_concrete(y) and not _host_readable(y):
        if cost.name == "cross_entropy":
            _check_global(fn, "y", y, 0, 1, what="binary cross-entropy targets must lie in [0, 1]")
        elif cost.name == "softmax_cross_entropy":
            _check_global(fn, "y", y, rows_sum_to_one=True)
    elif is_concrete(y):
        yv = np.asarray(y, dtype=np.float64)
        if cost.name == "cross_entropy" and ((yv < 0) | (yv > 1)).any():
            bad = yv[(yv < 0) | (yv > 1)][0]
            raise ValueError(f"{fn}: binary cross-entropy targets must lie in [0, 1]; found {float(bad)}")
        if cost.name == "softmax_cross_entropy":
            tol = 1e-6 * k if dtype != np.float32 else 1e-5 * k
            sums = yv.sum(axis=1)
            rows = np.flatnonzero((yv < 0).any(axis=1) | (np.abs(sums - 1) > tol))
            if rows.size:
                r = rows[0]
                raise ValueError(f"{fn}: softmax cross-entropy targets must be non-negative and "
                                 f"sum to 1 per row; row {r} sums to {round(float(sums[r]), 6)}"
                                 + (" and has a negative entry" if (yv[r] < 0).any() else ""))
    return cast


def prepare(fn: str, net: Any, params: Any, x: Any, y: Any, cost: Any, l2: Any = 0.0
            ) -> Tuple[Cost, jax.Array, jax.Array, jax.Array]:
    """Check and convert the arguments shared by every gradient function.

    Returns ``(cost, x, y, l2)`` with x and y 2-D in the params dtype (int, bool and other
    float dtypes are cast there, never upcast) and l2 a scalar of that dtype.
    """
    if not hasattr(net, "sizes") or not hasattr(net, "activations"):
        raise TypeError(f"{fn}: net must be a jaxbp.MLP, got {type(net).__name__}")
    dtype = check_params(fn, net, params)
    for l, layer in enumerate(params):
        for name in ("W", "b"):
            _check_finite(fn, f"params[{l}]['{name}']", layer[name], layer[name])
    cost = resolve_cost(fn, cost, net.activations[-1])
    l2 = check_l2(fn, l2)
    x = as_real_array(fn, "x", x)
    x_was_1d = x.ndim == 1
    x = prepare_x(fn, net, x, dtype)
    y = prepare_y(fn, net, cost, y, x_was_1d, x.shape[0], dtype)
    return cost, x, y, jnp.asarray(l2, dtype)
