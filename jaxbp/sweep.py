"""Many training runs as one compiled program: how often does gradient descent solve XOR?

* :func:`init_batch` draws R initialisations at once (a leading run axis on every leaf).
* :func:`train_many` trains all R runs with full-batch gradient descent and hand-written
  backprop and returns per-run results: final params and loss, whether and when the run
  was solved, and how it failed otherwise. It is ``jax.vmap`` of one run's loop -- a
  ``lax.scan`` of :func:`jaxbp.make_step`'s step that also checks the outputs before every
  update (:func:`run_one`) -- so, like ``jax.vmap(jaxbp.fit)``, it runs with the runs on the
  last axis (:mod:`jaxbp.runs_last`) when that kernel covers the net.
* :func:`wilson_interval` gives the 95% confidence interval of a success rate.

The ``jaxbp sweep`` demo (a grid of settings, printed as a table) is ``demos/sweep_grid.py``.

**Success criterion** (``train_many``): every output of every sample lies strictly on the
same side of ``threshold`` (0.5) as its target. It is checked after every update, so
``steps_to_solve`` is exact: the number of updates after which the run was solved for the
first time (0 = solved by the initial weights; -1 = never within the budget).

**Failure modes** of runs that are not solved at the end (``MODES``):

=============  ==============================================================================
``solved``     not a failure: every output on the right side at the end.
``undecided``  some outputs stuck within 0.1 of the threshold, all others right: on XOR the
               most common local minimum of a 2-2-1 net, two patterns learned and two at 0.5.
``one-wrong``  three samples right and one clearly wrong (outputs near 0 / 2/3 / 2/3 / 2/3):
               the other classic XOR local minimum.
``plateau``    every output still within 0.1 of the threshold: the net has not committed to
               an answer yet (a small initialisation near the saddle at 0, a small rate).
``diverged``   the loss or a parameter became NaN/inf.
``other``      anything else, e.g. two samples clearly wrong.
=============  ==============================================================================
"""
import math
from functools import partial
from typing import Dict, Literal, NamedTuple, Optional, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, runs_last
from ._checks import check_positive_int
from ._types import ArrayLike, DTypeLike, Params, PRNGKey, Scalar
from .optim import StaticLike
from .backprop import kernel as backprop_kernel
from .costs import Cost, CostLike
from .network import MLP, feedforward
from .step import Step, make_step

MODES = ("solved", "undecided", "one-wrong", "plateau", "diverged", "other")
INITS = {  # name -> (scale, distribution) for MLP.init; scale None is net.init's default
    "normal": (1.0, "normal"),     # N(0, 1) for every weight and bias
    "uniform": (1.0, "uniform"),   # U(-1, 1)
    "small": (0.12, "uniform"),    # U(-0.12, 0.12)
    "default": (None, "normal"),   # N(0, 1/n_in) weights, N(0, 1) biases
}
PLATEAU_BAND = 0.1


class ManyResult(NamedTuple):
    """Per-run results of :func:`train_many`; every field has the run axis R first.

    ``params``: final parameters. ``loss``: final cost. ``outputs``: final network outputs
    ``(R, batch, n_out)``. ``solved``: bool, solved at the end. ``steps_to_solve``: updates
    until first solved (-1: never). ``mode``: index into :data:`MODES`.
    """
    params: Params
    loss: jax.Array
    outputs: jax.Array
    solved: jax.Array
    steps_to_solve: jax.Array
    mode: jax.Array


def init_batch(net: MLP, key: PRNGKey, runs: int,
               init: Literal["normal", "uniform", "small", "default"] = "uniform",
               dtype: DTypeLike = jnp.float32) -> Params:
    """``runs`` random initialisations of ``net`` stacked on a leading axis.

    ``init``: ``"normal"`` (every weight and bias N(0, 1)), ``"uniform"`` (U(-1, 1)),
    ``"small"`` (U(-0.12, 0.12)) or ``"default"`` (``net.init``'s default). Run r uses
    ``jax.random.split(key, runs)[r]``, so it equals ``net.init(that_key, ...)``.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"init_batch: net must be a jaxbp.MLP, got {type(net).__name__}")
    key = _checks.check_key("init_batch", key)
    runs = check_positive_int("init_batch", "runs", runs)
    scale, distribution = _checks.choose("init_batch", "init", init, INITS)
    dtype = _checks.check_float_dtype("init_batch", dtype)
    keys = jax.random.split(key, runs)     # eager vmap: bit-identical to net.init per key
    return jax.vmap(lambda k: net.init(k, scale=scale, dtype=dtype, distribution=distribution))(keys)


def wilson_interval(k: Union[int, jax.Array], n: Union[int, jax.Array], z: float = 1.959963984540054
                    ) -> Tuple[float, float]:
    """The Wilson score interval ``(low, high)`` for k successes in n trials (95% by default).

    ``center = (k + z^2/2) / (n + z^2)``, ``half = z sqrt(k (n - k) / n + z^2/4) / (n + z^2)``.
    Unlike ``p +- z sqrt(p (1-p) / n)`` it stays inside [0, 1] and is not empty at k = 0 or n.
    """
    for name, v in (("k", k), ("n", n)):
        if hasattr(v, "ndim") and v.ndim == 0 and jnp.issubdtype(v.dtype, jnp.integer):
            v = int(v)  # e.g. res.solved.sum()
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"wilson_interval: {name} must be an int, got {type(v).__name__}")
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"wilson_interval: expected 0 <= k <= n and n > 0, got k={k}, n={n}")
    k, n, z2 = float(k), float(n), z * z
    center = (k + z2 / 2) / (n + z2)
    half = z * math.sqrt(k * (n - k) / n + z2 / 4) / (n + z2)
    return max(0.0, center - half), min(1.0, center + half)


def _check_batch(fn, net, params_batch):
    """The run count R, and the per-run parameter shapes (for :func:`_checks.prepare`)."""
    leaves = jax.tree_util.tree_leaves(params_batch)
    if not leaves or any(not hasattr(a, "shape") or a.ndim == 0 for a in leaves):
        raise ValueError(f"{fn}: params_batch must be a params pytree whose every leaf has a "
                         f"leading run axis, e.g. from jaxbp.sweep.init_batch")
    runs = leaves[0].shape[0]
    for a in leaves:
        if a.shape[0] != runs:
            raise ValueError(f"{fn}: every leaf of params_batch must have the same leading run "
                             f"axis; got {runs} and {a.shape[0]}")
    one = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), params_batch)
    return runs, one


def _check_lr(fn, lr, runs, dtype):
    lr_arr = np.asarray(lr) if not isinstance(lr, jax.core.Tracer) else lr
    if not jnp.issubdtype(lr_arr.dtype, jnp.floating) and not jnp.issubdtype(lr_arr.dtype, jnp.integer) \
            or lr_arr.dtype == np.bool_:
        raise TypeError(f"{fn}: lr must be a float or an array of shape ({runs},), got {lr!r}")
    if lr_arr.ndim == 0:
        lr_arr = jnp.broadcast_to(lr_arr, (runs,))
    if lr_arr.shape != (runs,):
        raise ValueError(f"{fn}: lr must be a scalar or have shape ({runs},) (one per run), "
                         f"got shape {tuple(lr_arr.shape)}")
    if _checks.is_concrete(lr_arr):
        bad = ~(np.isfinite(np.asarray(lr_arr, np.float64)) & (np.asarray(lr_arr, np.float64) > 0))
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{fn}: lr must be finite and > 0, got {float(np.asarray(lr_arr)[r])} "
                             f"for run {r}")
    return jnp.asarray(lr_arr, dtype)


def train_many(net: MLP, params_batch: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
               lr: ArrayLike, steps: int, threshold: float = 0.5) -> ManyResult:
    """Train R runs at once with full-batch gradient descent and manual backprop.

    Every run does ``params <- params - lr * grads`` for ``steps`` updates, with grads from
    BP1-BP4 on the whole batch (``jaxbp.make_step(net, cost, lr)``'s step); all runs are one
    compiled call, ``jax.vmap`` of :func:`run_one` (the run axis may be sharded across
    devices, see :func:`jaxbp.parallel.sharded_sweep`).

    Args:
      net: the :class:`jaxbp.MLP`.
      params_batch: params whose every leaf has a leading run axis R (see :func:`init_batch`).
      x, y: the training set, shared by all runs (e.g. ``jaxbp.gates.truth_table("xor")``).
      cost: a cost name or :class:`jaxbp.Cost`.
      lr: learning rate, a scalar or one per run, shape ``(R,)``.
      steps: number of updates.
      threshold: the success criterion's boundary (0.5 for sigmoid outputs, 0/1 targets).

    Returns:
      :class:`ManyResult`. Runs are independent: run r's params equal ``jaxbp.fit`` on run
      r alone (``fit(net, params_r, x, y, cost, lr_r, steps)``), up to floating-point
      rounding. Parameters that are not finite are allowed (such a run is ``diverged``).
    """
    if not isinstance(net, MLP):
        raise TypeError(f"train_many: net must be a jaxbp.MLP, got {type(net).__name__}")
    runs, one = _check_batch("train_many", net, params_batch)
    zeros = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), one)  # shapes only
    cost, x, y, _ = _checks.prepare("train_many", net, zeros, x, y, cost)
    steps = check_positive_int("train_many", "steps", steps)
    lr = _check_lr("train_many", lr, runs, x.dtype)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
        raise TypeError(f"train_many: threshold must be a finite float, got {threshold!r}")
    if not math.isfinite(threshold):
        raise ValueError(f"train_many: threshold must be a finite float, got {threshold!r}")
    return _train_many(tuple(params_batch), x, y, lr, net=net, cost=cost, steps=steps,
                       threshold=float(threshold))


def _is_solved(outputs, y, threshold):
    return jnp.all((outputs > threshold) == (y > threshold))


def run_one(params: Params, x: jax.Array, y: jax.Array, key: Optional[PRNGKey],
            values: Dict[str, jax.Array], l2: Optional[Scalar], *, net: MLP, cost: Cost,
            optimizer: StaticLike, steps: int, threshold: float) -> Tuple[Params, jax.Array]:
    """One run of :func:`train_many`, unchecked: ``(params, solved)`` after ``steps``
    updates of ``Step(net, cost, optimizer, values)``, where ``solved[i]`` says whether
    the outputs met the criterion before update i (i.e. after i updates).

    The signature is that of ``jaxbp.fit``'s loop (``key`` and ``l2`` are None), so that
    :func:`jaxbp.runs_last.attach` gives it the same runs-last ``jax.vmap``.
    """
    step = Step(net, cost, optimizer, values, 0.0, "manual")

    def body(carry, _):
        params, opt_state = carry
        outputs = feedforward(net, params, x)[1][-1]
        _, params, opt_state = step(params, opt_state, x, y)
        return (params, opt_state), _is_solved(outputs, y, threshold)

    (params, _), solved = jax.lax.scan(body, (params, step.init(params)), None, length=steps)
    return params, solved


def _finish(net, cost, params, solved, x, y, threshold):
    """One run's :class:`ManyResult` from its final params and its per-step ``solved``."""
    tr = backprop_kernel(net, cost, params, x, y, 0.0)
    outputs = tr.activations[-1]
    solved_now = _is_solved(outputs, y, threshold)
    first = jnp.where(jnp.any(solved), jnp.argmax(solved),
                      jnp.where(solved_now, solved.shape[0], -1))
    finite = jnp.isfinite(tr.loss) & jnp.all(jnp.array(
        [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(params)]))
    near = jnp.any(jnp.abs(outputs - threshold) < PLATEAU_BAND, axis=-1)       # per sample
    wrong = jnp.any((outputs > threshold) != (y > threshold), axis=-1) & ~near
    n_near, n_wrong = jnp.sum(near), jnp.sum(wrong)
    mode = jnp.select([solved_now, ~finite, n_near == near.shape[0],
                       (n_wrong == 0) & (n_near > 0), (n_wrong == 1) & (n_near == 0)],
                      [0, 4, 3, 1, 2], 5)
    return ManyResult(params, tr.loss, outputs, solved_now, first.astype(jnp.int32), mode)


@partial(jax.jit, static_argnames=("net", "cost", "steps", "threshold"))
def _train_many(params_batch, x, y, lr, *, net, cost, steps, threshold):
    optimizer = make_step(net, cost, 1.0).optimizer   # plain SGD; the rate is a traced value
    loop = runs_last.attach(
        partial(run_one, net=net, cost=cost, optimizer=optimizer, steps=steps,
                threshold=threshold),
        net=net, cost=cost, optimizer=optimizer, grad="manual", labels=None, l2_const=0.0,
        steps=steps, batch_size=None,
        record=lambda loss, outputs, y: _is_solved(outputs, y, threshold))
    params, solved = jax.vmap(
        lambda p, rate: loop(p, x, y, None, {"lr": rate}, None))(params_batch, lr)
    return jax.vmap(partial(_finish, net, cost, x=x, y=y, threshold=threshold))(params, solved)
