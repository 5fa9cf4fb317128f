"""``fit``: ``steps`` optimizer updates as one compiled ``lax.scan`` of :func:`jaxbp.make_step`.

State is threaded explicitly, ``(params, opt_state) -> (params, opt_state)``, and the loop
carries nothing but the step's own work (and, with mini-batches, the epoch's permutation).
A compiled program depends on the architecture, the cost, the *kind* of optimizer, the
``trainable`` mask, ``steps``/``batch_size``, a Python ``l2`` and the shapes and dtype of
the arrays -- not on the values of the data, the parameters, the key, or the learning rate
and other numbers of a float or :func:`jaxbp.optimizer` optimizer, which are traced (G8).

Mini-batches: epoch ``e`` visits the samples in the order
``jaxbp.shuffle.epoch_order(key, e, n)``, ``batch_size`` at a time, so every sample is used
once per epoch; when ``batch_size`` does not divide n, the last ``n % batch_size`` samples
of each epoch's permutation sit that epoch out.

Divergence is checked after the loop, from the loss history (module function
:func:`diverged_at`), never inside it.
"""
import os
from functools import partial
from typing import Literal, Optional, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, runs_last
from ._types import ArrayLike, Params, PRNGKey, PyTree, Scalar
from .costs import CostLike
from .network import MLP
from .progress import Reporter, reporter, scan
from .errors import NonFiniteError
from .optim import Optimizer, OptimizerLike, describe_rate
from .shuffle import epoch_order, next_batch
from .step import Step, build

# How many times fit's kernel has been traced (= compiled); for tests and the curious.
TRACES = {"fit": 0}
MAX_STEPS = 2**31 - 1  # the step counter is an int32

__all__ = ["diverged_at", "fit"]


def diverged_at(history: ArrayLike) -> jax.Array:
    """The first step whose loss is not finite, per run: an int array of the shape of
    ``history`` without its last axis, -1 where every loss is finite.

    Works on a history from :func:`fit` under ``jax.jit``/``jax.vmap`` (runs on leading
    axes), where nothing can be raised: there a run that diverged at step k has a history
    that is NaN from step k on, and its returned params are whatever the updates made of
    them (usually NaN). Call ``fit`` outside ``jit``/``vmap`` -- or with ``steps=k - 1`` --
    to get its last finite params.
    """
    bad = ~jnp.isfinite(jnp.asarray(history))
    return jnp.where(jnp.any(bad, axis=-1), jnp.argmax(bad, axis=-1), -1)


def _nan_from_first_bad(history):
    """``history`` with NaN from its first non-finite entry on (along the last axis)."""
    steps = jnp.arange(history.shape[-1])
    first = jnp.min(jnp.where(jnp.isfinite(history), history.shape[-1], steps), axis=-1,
                    keepdims=True)
    return jnp.where(steps >= first, jnp.nan, history)


@partial(jax.jit, static_argnames=("net", "cost", "optimizer", "grad", "labels", "l2_const",
                                   "steps", "batch_size", "report", "watch"))
def _run(params, x, y, key, values, l2, *, net, cost, optimizer, grad, labels, l2_const, steps,
         batch_size, report=None, watch=False):
    """The unchecked kernel of :func:`fit`: ``(params, history)``. ``l2_const`` is a
    Python l2 (then ``l2`` is None), else ``l2`` is traced. ``report``: see
    :func:`jaxbp.progress.scan`. With ``watch`` (the failure path only) the history is
    ``(losses, whether each step's params were all finite)``."""
    TRACES["fit"] += 1

    def loop(params, x, y, key, values, l2):
        step = Step(net, cost, optimizer, values, l2 if l2_const is None else l2_const, grad,
                    labels)
        n = x.shape[0]

        def body(carry, i):
            params, opt_state, perm = carry
            if batch_size is None:
                xb, yb = x, y
            else:
                order = lambda epoch: epoch_order(key, epoch, n)
                idx, perm = next_batch(order, i, batch_size, n, perm)
                xb, yb = x[idx], y[idx]
            loss, new_params, opt_state = step(params, opt_state, xb, yb)
            return (new_params, opt_state, perm), (loss, _finite(params)) if watch else loss

        perm = None if batch_size is None else jnp.zeros((n,), jnp.int32)
        (params, _, _), history = scan(body, (params, step.init(params), perm), steps, report)
        return params, history

    if not watch:  # jax.vmap of fit runs this loop with the runs on the last axis (runs_last)
        loop = runs_last.attach(loop, net=net, cost=cost, optimizer=optimizer, grad=grad,
                                labels=labels, l2_const=l2_const, steps=steps,
                                batch_size=batch_size, report=report)
    return loop(params, x, y, key, values, l2)


def fit(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
        optimizer: OptimizerLike, steps: int, *, batch_size: Optional[int] = None,
        grad: Literal["manual", "autodiff"] = "manual", key: Optional[PRNGKey] = None,
        l2: Scalar = 0.0, trainable: Optional[PyTree] = None,
        on_diverge: Literal["raise", "return"] = "raise",
        progress: Union[bool, Reporter, None] = None, debug: bool = False
        ) -> Tuple[Params, jax.Array]:
    """Train ``params`` for ``steps`` optimizer updates; returns ``(params, history)``.

    ``history[i]`` is the loss (l2 term included) of the batch used at step i, before that
    step's update: ``steps`` full-batch updates equal ``steps`` calls of
    ``make_step(net, cost, optimizer, l2=l2, grad=grad)``, and ``history`` is their losses.

    Args:
      net, params, x, y, cost: as for :func:`jaxbp.backprop` (x and y are cast to the params
        dtype).
      optimizer: a number (plain SGD at that learning rate), a schedule (callable), a
        :func:`jaxbp.optimizer`, or any ``optax.GradientTransformation``. The numbers of the
        first three are traced inputs: a new learning rate reuses the compiled program, and
        ``jax.vmap`` over it works. An optax object is a static argument (hashed by
        identity): each new object -- each ``optax.sgd(0.5)`` call -- compiles anew.
      steps: number of updates, an int in [1, 2**31 - 1].
      batch_size: None for full batch; otherwise shuffled mini-batches (module docstring).
      grad: ``"manual"`` (BP1-BP4) or ``"autodiff"`` (``jax.grad``).
      key: PRNG key for the mini-batch order; required with ``batch_size``, else ignored.
      l2: an L2 term ``0.5 * l2 * sum ||W||^2`` in the cost (weights only); it acts as
        weight decay only under plain SGD. Nielsen's network2 ``lmbda`` is
        ``l2 = lmbda / len(training_data)``. A Python number is compiled in (each value its
        own program; zero drops the term); an array is traced.
      trainable: optional pytree of bools like ``params``, or a prefix of it. Frozen leaves
        come back bit-identical and get no optimizer state.
      on_diverge: when a loss becomes NaN or inf (or the last update makes the parameters
        non-finite): ``"raise"`` (default) raises :class:`jaxbp.NonFiniteError` carrying
        ``.step``, ``.history`` and ``.params`` (the last parameters whose loss was
        finite); ``"return"`` returns those parameters and the history. The history is NaN
        from the failing step on. Under ``jax.jit``/``jax.vmap`` nothing can be raised:
        see :func:`diverged_at`.
      progress: ``True`` prints how many steps are done, every fifth of the run,
        from inside the compiled loop (also under ``jit``/``vmap``: once for all runs); a
        callable ``progress(done, steps)`` is called instead. See :mod:`jaxbp.progress`.
      debug: run under ``jax.debug_nans``: the first operation that makes a NaN raises
        ``FloatingPointError`` naming it (slow; for finding where a NaN comes from).

    The loop is a plain ``lax.scan`` of the step; ``jax.vmap(fit)`` runs it with the runs
    on the last axis for small nets (:mod:`jaxbp.runs_last`, whose one rule says when).
    Divergence is found afterwards, in the history; only then are the last finite
    parameters recovered, by running the steps before the failing one again (a second
    program, on the failure path only).
    """
    if debug:
        with jax.debug_nans(True):
            return fit(net, params, x, y, cost, optimizer, steps, batch_size=batch_size,
                       grad=grad, key=key, l2=l2, trainable=trainable, on_diverge=on_diverge,
                       progress=progress)
    fn = "fit"
    if on_diverge not in ("raise", "return"):
        raise ValueError(f"{fn}: on_diverge must be 'raise' or 'return', got {on_diverge!r}")
    report = reporter(fn, progress)
    cost, x, y, _ = _checks.prepare(fn, net, params, x, y, cost, l2)
    step = build(fn, net, cost, optimizer, l2, grad, trainable)
    params = tuple(params)
    steps = _check_steps(fn, steps, x.dtype)
    if batch_size is not None:
        batch_size = _checks.check_positive_int(fn, "batch_size", batch_size, upper=x.shape[0])
        key = _key(fn, key, batch_size)
    else:
        key = None  # unused: one compiled program whatever was passed
    static_l2 = isinstance(step.l2, float)
    values = {k: jnp.asarray(v, x.dtype) for k, v in step.values.items()}
    run = partial(_run, x=x, y=y, key=key, values=values, l2=None if static_l2 else step.l2,
                  net=net, cost=cost, optimizer=step.optimizer, grad=grad, labels=step.labels,
                  l2_const=step.l2 if static_l2 else None, batch_size=batch_size)
    new_params, history = run(params, steps=steps, report=report)
    if not _checks.is_concrete((new_params, history)):
        return new_params, _nan_from_first_bad(history)
    losses = np.asarray(history)
    if np.isfinite(losses).all() and _finite(new_params):
        return new_params, history
    # The failure path: the first step whose loss or params are not finite (inf weights can
    # hide behind a saturated, finite loss), then the params of the step before it.
    _, (_, finite) = run(params, steps=steps, watch=True)
    bad = np.flatnonzero(~(np.isfinite(losses) & np.asarray(finite)))
    k = int(bad[0]) if bad.size else steps
    last = params if k <= 1 else run(params, steps=k - 1)[0]
    history = jnp.asarray(history).at[k:].set(jnp.nan)
    if on_diverge == "raise":
        raise NonFiniteError(_diverged(fn, k, steps, losses, _rate(optimizer)), step=k,
                             params=last, history=history)
    return last, history


def _check_steps(fn, steps, dtype):
    steps = _checks.check_positive_int(fn, "steps", steps)
    if steps > MAX_STEPS:
        raise ValueError(f"{fn}: steps must be at most {MAX_STEPS} (the step counter is an "
                         f"int32), got {steps}; call fit several times, passing params on")
    memory = _physical_memory()
    if memory and steps * np.dtype(dtype).itemsize > memory // 2:
        raise ValueError(f"{fn}: a history of {steps} losses ({steps * np.dtype(dtype).itemsize} "
                         f"bytes) does not fit in half of this machine's {memory} bytes of "
                         f"memory; call fit several times with fewer steps, passing params on")
    return steps


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _key(fn, key, batch_size):
    if key is None:
        raise ValueError(f"{fn}: batch_size={batch_size} shuffles mini-batches and needs "
                         f"key=jax.random.key(seed); got key=None")
    key = _checks.check_key(fn, key)
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    return key if typed else jax.random.wrap_key_data(key)  # one trace for both key styles


def _finite(tree):
    """Whether every leaf of ``tree`` is finite (a traced bool inside a trace)."""
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in leaves]))


def _rate(optimizer):
    """The learning rate (or what stands for it) of ``fit``'s ``optimizer``, for messages."""
    if isinstance(optimizer, Optimizer):
        return describe_rate(optimizer.lr, optimizer.static)
    return describe_rate(optimizer if not hasattr(optimizer, "update") else None, optimizer)


def _diverged(fn, k, steps, losses, rate, where=""):
    last = f"last finite loss {float(losses[k - 1]):.4g}" if k > 0 else "no finite loss"
    what = (f"non-finite loss at step {k}{where}" if k < steps
            else f"non-finite parameters after the last step{where}")
    return f"{fn}: {what} ({rate}); {last}. Try a smaller learning rate."
