"""Beyond one device: data-parallel ``fit`` and sharded sweeps on ``jax.sharding`` meshes.

Nothing here is a second implementation of training. The same compiled kernels run; only
the placement of their inputs changes, and ``jit`` inserts the collectives:

* **Data parallel** (:func:`fit`, :func:`fit_epochs`: ``jaxbp.fit`` and
  ``jaxbp.fit_epochs`` with their inputs placed on a mesh): x and y are split by rows over the
  mesh axis ``"data"`` and params are replicated. Every batch sum of backprop -- BP3's
  mean of delta, BP4's ``a.T @ delta`` and the loss mean -- then runs as a partial sum on
  each device followed by an all-reduce, so every device ends each step with the same
  gradient and the same parameters. Results equal the single-device run up to the order
  of floating-point summation.
* **Sharded sweep** (:func:`sharded_sweep`, :func:`shard_runs`): the independent runs of a
  sweep (leading axis of every params leaf, and of a per-run learning rate) are split over
  the devices; x and y are replicated. No communication at all.

Across processes (``jax.distributed.initialize``) the same calls work on a mesh over
``jax.devices()``, which then lists every process's devices: each process passes the same
host data, and builds only its own shards (``jax.make_array_from_callback``).
"""
from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P, Sharding

from . import _checks, train
from . import epochs as epochs_module
from ._types import ArrayLike, Params, PRNGKey, PyTree
from .optim import OptimizerLike
from .costs import CostLike
from .epochs import EpochHistory
from .network import MLP

if TYPE_CHECKING:  # sweep is imported where it is used
    from .sweep import ManyResult

DATA = "data"
RUNS = "runs"


def make_mesh(devices: Union[None, int, Sequence[jax.Device]] = None, axis: str = DATA) -> Mesh:
    """A 1-D mesh with one axis named ``axis`` over ``devices``.

    Args:
      devices: ``None`` for every device (``jax.devices()``: after
        ``jax.distributed.initialize``, every process's devices), an int ``k`` for the
        first ``k`` of them, or a sequence of devices.
      axis: the axis name: ``"data"`` for :func:`jaxbp.fit`, ``"runs"`` for sweeps.

    The axis is ``AxisType.Auto``: ``jit`` decides where the collectives go.
    """
    everything = jax.devices()
    if devices is None:
        devices = everything
    elif isinstance(devices, numbers.Integral) and not isinstance(devices, (bool, np.bool_)):
        if not 1 <= devices <= len(everything):
            raise ValueError(f"make_mesh: devices must be an int in [1, {len(everything)}] "
                             f"(the number of devices), got {devices}")
        devices = everything[:int(devices)]
    else:
        if isinstance(devices, (str, bytes)) or not hasattr(devices, "__iter__"):
            raise TypeError(f"make_mesh: devices must be None, an int or a sequence of jax "
                            f"devices, got {type(devices).__name__}")
        devices = list(np.asarray(devices, dtype=object).flat)
        bad = [d for d in devices if not isinstance(d, jax.Device)]
        if bad or not devices:
            got = type(bad[0]).__name__ if bad else "an empty sequence"
            raise TypeError(f"make_mesh: devices must be jax devices (from jax.devices()), got {got}")
        if len(set(devices)) != len(devices):
            raise ValueError(f"make_mesh: devices must be distinct, got {devices}")
    if not isinstance(axis, str):
        raise TypeError(f"make_mesh: axis must be a str, got {type(axis).__name__}")
    return Mesh(np.asarray(devices, dtype=object), (axis,), axis_types=(AxisType.Auto,))


def check_mesh(fn: str, mesh: Mesh, axis: str) -> Mesh:
    """``mesh`` as a Mesh with Auto axes, after checking that it has the axis ``axis``.

    Meshes from ``jax.make_mesh`` have Explicit axes by default; the same devices are used
    with Auto axes, so that ``jit`` places the collectives of the unchanged kernels.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"{fn}: mesh must be a jax.sharding.Mesh (e.g. "
                        f"jaxbp.parallel.make_mesh(axis={axis!r})), got {type(mesh).__name__}")
    if axis not in mesh.axis_names:
        raise ValueError(f"{fn}: mesh must have an axis named {axis!r}, got axes "
                         f"{tuple(mesh.axis_names)}; use jaxbp.parallel.make_mesh(axis={axis!r})")
    if all(t == AxisType.Auto for t in mesh.axis_types):
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))


def put(a: ArrayLike, sharding: Sharding) -> jax.Array:
    """``a`` as a global array with ``sharding``.

    On one process this is ``jax.device_put``. When the mesh spans other processes' devices,
    ``a`` must be the same host data on every process, and each process builds only the
    shards on its own devices with ``jax.make_array_from_callback``. Arrays that are global
    already are resharded; traced values (``fit`` under ``jit``) get a sharding constraint.
    """
    if isinstance(a, jax.core.Tracer):
        return jax.lax.with_sharding_constraint(a, sharding)
    if isinstance(a, jax.Array) and not a.is_fully_addressable:
        return a if a.sharding.is_equivalent_to(sharding, a.ndim) else jax.device_put(a, sharding)
    if sharding.is_fully_addressable:
        return jax.device_put(a, sharding)
    host = np.asarray(a)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _most_devices(rows, d):
    """The largest device count <= d that divides ``rows``."""
    return max(k for k in range(1, d + 1) if rows % k == 0)


def _full_batch_hint(n, d):
    """Ways out when a full batch of n rows cannot be split evenly over d devices."""
    options = [f"drop {n % d} row(s) (n = {n - n % d})", f"pass batch_size={d * (n // d)}"] if n >= d else []
    if _most_devices(n, d) > 1:
        options.append(f"use jaxbp.parallel.make_mesh({_most_devices(n, d)})")
    return "; ".join(options) or "use jaxbp.parallel.make_mesh(1)"


def _batch_hint(batch_size, n, d):
    """Ways out when a mini-batch of ``batch_size`` rows cannot be split evenly over d devices."""
    multiples = dict.fromkeys((d * (batch_size // d), d * -(-batch_size // d)))
    options = [f"batch_size={b}" for b in multiples if d <= b <= n]
    if options:
        return "use " + " or ".join(options)
    return f"use jaxbp.parallel.make_mesh({_most_devices(batch_size, d)})"


def place_for_fit(fn: str, mesh: Mesh, params: Params, x: jax.Array, y: jax.Array,
                  batch_size: Optional[int]) -> Tuple[Params, jax.Array, jax.Array]:
    """Put validated ``fit`` arguments on ``mesh`` for data-parallel training.

    ``mesh`` has an axis named ``"data"`` (other axes, if any, hold replicas); ``params``
    are replicated on every device; x and y (2-D, already checked and cast) are split by
    rows over ``"data"`` (``NamedSharding(mesh, P("data"))``), or replicated when n itself
    is not divisible by the number of devices d (possible only with mini-batches).
    ``batch_size`` (rows per step, None for the full batch) must be divisible by d, so that
    every device gets the same number of rows of every batch. Returns ``(params, x, y)``.
    """
    mesh = check_mesh(fn, mesh, DATA)
    d = mesh.shape[DATA]
    n = x.shape[0]
    if batch_size is None and n % d:
        raise ValueError(f"{fn}: the full batch of {n} rows must be divisible by the {d} "
                         f"devices on mesh axis 'data', got {n} % {d} = {n % d}; "
                         f"{_full_batch_hint(n, d)}")
    if batch_size is not None and batch_size % d:
        raise ValueError(f"{fn}: batch_size must be divisible by the {d} devices on mesh "
                         f"axis 'data', got batch_size={batch_size}; {_batch_hint(batch_size, n, d)}")
    data_sharding = NamedSharding(mesh, P(DATA) if n % d == 0 else P())
    replicated = NamedSharding(mesh, P())
    params = jax.tree_util.tree_map(lambda leaf: put(leaf, replicated), tuple(params))
    return params, put(x, data_sharding), put(y, data_sharding)


def fit(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
        optimizer: OptimizerLike, steps: int, *, mesh: Mesh, batch_size: Optional[int] = None,
        **kwargs) -> Tuple[Params, jax.Array]:
    """:func:`jaxbp.fit`, data parallel: the same compiled loop, its inputs placed on ``mesh``
    by :func:`place_for_fit` (rows of x and y split over ``"data"``, params replicated).
    Results equal the one-device run up to the order of floating-point summation."""
    cost, xc, yc, _ = _checks.prepare("fit", net, params, x, y, cost, kwargs.get("l2", 0.0))
    params, xc, yc = place_for_fit("fit", mesh, params, xc, yc, batch_size)
    return train.fit(net, params, xc, yc, cost, optimizer, steps, batch_size=batch_size, **kwargs)


def fit_epochs(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
               optimizer: OptimizerLike, epochs: int, batch_size: int, key: PRNGKey, *,
               mesh: Mesh, **kwargs) -> Tuple[Params, EpochHistory]:
    """:func:`jaxbp.fit_epochs`, data parallel, as :func:`fit`."""
    cost, xc, yc, _ = _checks.prepare("fit_epochs", net, params, x, y, cost, kwargs.get("l2", 0.0))
    params, xc, yc = place_for_fit("fit_epochs", mesh, params, xc, yc, batch_size)
    return epochs_module.fit_epochs(net, params, xc, yc, cost, optimizer, epochs, batch_size, key,
                                    **kwargs)


def shard_runs(tree: PyTree, mesh: Mesh, axis: str = RUNS) -> PyTree:
    """Split the leading (run) axis of every leaf of ``tree`` over the mesh axis ``axis``.

    ``tree`` is e.g. a batch of params (every leaf ``(runs, ...)``) or a per-run learning
    rate ``(runs,)``. The number of runs must be divisible by the number of devices on
    ``axis``; :func:`sharded_sweep` pads it for you.
    """
    mesh = check_mesh("shard_runs", mesh, axis)
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError("shard_runs: expected a pytree of arrays with a leading run axis, "
                         "got no arrays")
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in leaves}
    if None in sizes or len(sizes) != 1:
        raise ValueError(f"shard_runs: every leaf must have the same leading (run) axis, got "
                         f"shapes {[tuple(np.shape(leaf)) for leaf in leaves]}")
    runs, d = sizes.pop(), mesh.shape[axis]
    if runs % d:
        raise ValueError(f"shard_runs: the number of runs must be divisible by the {d} devices "
                         f"on mesh axis {axis!r}, got {runs} runs; use {d * -(-runs // d)} runs, "
                         f"or sharded_sweep, which pads them")
    sharding = NamedSharding(mesh, P(axis))
    return jax.tree_util.tree_map(lambda leaf: put(leaf, sharding), tree)


def _pad_runs(a, padded):
    """Repeat the last run so that the leading axis has ``padded`` entries."""
    extra = padded - a.shape[0]
    return a if extra == 0 else jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)], axis=0)


def sharded_sweep(net: MLP, params_batch: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
                  lr: ArrayLike, steps: int, mesh: Optional[Mesh] = None, axis: str = RUNS,
                  **kwargs) -> ManyResult:
    """:func:`jaxbp.sweep.train_many` with its runs split over the devices of ``mesh``.

    Same arguments and result (a ``ManyResult`` whose every field has the run axis first)
    as ``train_many``; ``lr`` is one number or one per run. ``mesh`` defaults to
    ``make_mesh(axis=axis)``, every device. When the number of runs R is not divisible by
    the number of devices d, the last run is repeated up to the next multiple of d and the
    copies are dropped from the result. Every run is computed by the same code as on one
    device, with no cross-device reduction, so the result equals ``train_many``'s (bit for
    bit in the float64 tests; XLA may vectorise R/d runs differently from R, so float32
    results can differ in the last bit).

    Across processes the result is split over them too; read it everywhere with
    ``jax.experimental.multihost_utils.process_allgather(result, tiled=True)``.
    """
    from .sweep import _check_batch, train_many
    mesh = make_mesh(axis=axis) if mesh is None else check_mesh("sharded_sweep", mesh, axis)
    runs, _ = _check_batch("sharded_sweep", net, params_batch)
    padded = mesh.shape[axis] * -(-runs // mesh.shape[axis])
    if np.ndim(lr) == 1 and np.shape(lr)[0] == runs:
        lr = _pad_runs(np.asarray(lr), padded)
    params_batch = shard_runs(jax.tree_util.tree_map(lambda a: _pad_runs(jnp.asarray(a), padded),
                                                     params_batch), mesh, axis)
    replicated = NamedSharding(mesh, P())
    x, y = (put(a, replicated) if isinstance(a, (jax.Array, np.ndarray)) else a for a in (x, y))
    result = train_many(net, params_batch, x, y, cost, lr, steps, **kwargs)
    if padded == runs:
        return result
    return jax.tree_util.tree_map(lambda a: a[:runs], result)
