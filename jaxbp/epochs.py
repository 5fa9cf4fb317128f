"""``fit_epochs``: Nielsen's ``SGD(training_data, epochs, mini_batch_size, eta, test_data)``.

Shuffle, sweep every mini-batch with :func:`jaxbp.make_step`, score the held-out set, print
``Epoch k: correct / total`` -- one compiled program per epoch (a ``lax.scan`` of the step),
looped in Python so that progress shows as it happens.
"""
import time
from functools import partial
from typing import Literal, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._types import ArrayLike, Params, PRNGKey, PyTree, Scalar
from .optim import OptimizerLike
from .errors import NonFiniteError
from .network import MLP, feedforward
from .costs import CostLike, weight_decay
from .shuffle import epoch_order
from .step import Step, build
from .train import _diverged, _key, _rate

TRACES = {"fit_epochs": 0}

__all__ = ["EpochHistory", "fit_epochs"]


class EpochHistory(NamedTuple):
    """What :func:`fit_epochs` records, one entry per epoch run (NumPy arrays).

    ``train_cost[e]``: mean cost of epoch e's mini-batches, each measured before its own
    update and weighted by its size (l2 term included). ``losses[e]``: those per-batch
    costs. ``test_cost[e]`` and ``test_correct[e]``: cost (l2 included) and number of
    correctly classified held-out samples after epoch e, out of ``test_total`` (None without
    ``test``). ``compile_seconds``: time to trace and compile the epoch program (about 0 when
    it was compiled by an earlier call); ``train_seconds``: wall time of all epochs after it.
    """
    train_cost: np.ndarray
    losses: np.ndarray
    test_cost: Optional[np.ndarray]
    test_correct: Optional[np.ndarray]
    test_total: Optional[int]
    compile_seconds: float
    train_seconds: float

    @property
    def test_accuracy(self) -> Optional[np.ndarray]:
        """``test_correct / test_total`` per epoch (None without test data)."""
        return None if self.test_total is None else self.test_correct / self.test_total


def _score(net, cost, params, x, y, l2):
    """Cost and number correct on ``(x, y)``: the largest output names the class (one
    output unit: output and target are both thresholded at 0.5)."""
    zs, activations = feedforward(net, params, x)
    a = activations[-1]
    value = jnp.mean(cost.value(zs[-1], y, net.layers[-1])) + weight_decay(params, l2)
    if a.shape[1] == 1:
        correct = jnp.sum((a[:, 0] > 0.5) == (y[:, 0] > 0.5))
    else:
        correct = jnp.sum(jnp.argmax(a, axis=1) == jnp.argmax(y, axis=1))
    return value, correct


@partial(jax.jit, static_argnames=("net", "cost", "optimizer", "grad", "labels", "l2_const",
                                   "batch_size", "drop_last"))
def _epoch(params, opt_state, x, y, key, epoch, values, l2, x_test, y_test, *, net, cost,
           optimizer, grad, labels, l2_const, batch_size, drop_last):
    """One epoch: ``(params, opt_state, losses, train_cost, test_cost, test_correct)``."""
    TRACES["fit_epochs"] += 1
    l2 = l2 if l2_const is None else l2_const
    step = Step(net, cost, optimizer, values, l2, grad, labels)
    n = x.shape[0]
    per_epoch, rest = divmod(n, batch_size)
    perm = epoch_order(key, epoch, n)

    def body(state, j):
        idx = jax.lax.dynamic_slice_in_dim(perm, j * batch_size, batch_size)
        loss, params, opt_state = step(*state, x[idx], y[idx])
        return (params, opt_state), loss

    state, losses = jax.lax.scan(body, (params, opt_state), jnp.arange(per_epoch))
    sizes = jnp.full((per_epoch,), batch_size, x.dtype)
    if rest and not drop_last:  # the remaining samples as one shorter batch: a second shape
        idx = perm[per_epoch * batch_size:]
        loss, *state = step(*state, x[idx], y[idx])
        losses = jnp.append(losses, loss)
        sizes = jnp.append(sizes, jnp.asarray(rest, x.dtype))
    params, opt_state = state
    train_cost = jnp.sum(losses * sizes) / jnp.sum(sizes)
    if x_test is None:
        return params, opt_state, losses, train_cost, None, None
    return (params, opt_state, losses, train_cost,
            *_score(net, cost, params, x_test, y_test, l2))


def fit_epochs(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
               optimizer: OptimizerLike, epochs: int, batch_size: int, key: PRNGKey, *,
               test: Optional[Tuple[ArrayLike, ArrayLike]] = None, l2: Scalar = 0.0,
               grad: Literal["manual", "autodiff"] = "manual", trainable: Optional[PyTree] = None,
               drop_last: bool = False, progress: bool = False,
               on_diverge: Literal["raise", "return"] = "raise") -> Tuple[Params, EpochHistory]:
    """Nielsen's ``SGD(training_data, epochs, mini_batch_size, eta, test_data)``.

    Each epoch shuffles the training set, takes one :func:`jaxbp.make_step` update per
    mini-batch, then scores ``test``. Returns ``(params, history)`` with an
    :class:`EpochHistory`. One epoch is one compiled program (compiled once per shapes and
    dtype, and timed: ``history.compile_seconds``); the epochs loop in Python. This is a
    Python driver, not something to ``jax.jit`` or ``jax.vmap``: for many runs, vmap
    :func:`jaxbp.fit`.

    Args:
      net, params, x, y, cost, optimizer, grad, l2, trainable: as for :func:`jaxbp.fit`.
      epochs: number of passes over the training set, an int > 0.
      batch_size: mini-batch size, an int in [1, n].
      key: PRNG key for the shuffling (epoch e visits the samples in the order
        ``jaxbp.shuffle.epoch_order(key, e, n)``, as :func:`jaxbp.fit`).
      test: optional ``(x_test, y_test)``, scored after every epoch. A sample is correct
        when the largest output is at the target's largest entry (one output unit: output
        and target on the same side of 0.5).
      drop_last: when ``batch_size`` does not divide n, False (default, like Nielsen's
        code) trains on the remaining ``n % batch_size`` samples as one shorter last batch;
        True leaves them out -- then ``fit_epochs`` and :func:`jaxbp.fit` with
        ``steps = epochs * (n // batch_size)`` take exactly the same steps.
      progress: print ``Epoch k: correct / total`` after each epoch (``Epoch k complete``
        without ``test``), like the book.
      on_diverge: ``"raise"`` (default) raises :class:`jaxbp.NonFiniteError` at the first
        non-finite loss, with the last finite params; ``"return"`` returns them, with the
        history of the epochs run so far (the failing epoch's costs are NaN from the
        failing batch on).
    """
    fn = "fit_epochs"
    if on_diverge not in ("raise", "return"):
        raise ValueError(f"{fn}: on_diverge must be 'raise' or 'return', got {on_diverge!r}")
    cost, x, y, _ = _checks.prepare(fn, net, params, x, y, cost, l2)
    step = build(fn, net, cost, optimizer, l2, grad, trainable)
    params = tuple(params)
    n = x.shape[0]
    epochs = _checks.check_positive_int(fn, "epochs", epochs)
    batch_size = _checks.check_positive_int(fn, "batch_size", batch_size, upper=n)
    key = _key(fn, key, batch_size)
    if not isinstance(drop_last, (bool, np.bool_)):
        raise TypeError(f"{fn}: drop_last must be a bool, got {type(drop_last).__name__}")
    x_test = y_test = None
    if test is not None:
        if not isinstance(test, (tuple, list)) or len(test) != 2:
            raise TypeError(f"{fn}: test must be a pair (x_test, y_test), "
                            f"got {type(test).__name__}")
        _, x_test, y_test, _ = _checks.prepare(f"{fn} (test data)", net, params, *test, cost)
    if not _checks.is_concrete((params, x, y)):
        raise TypeError(f"{fn}: params, x and y must be concrete arrays, got traced values; "
                        f"{fn} loops over epochs in Python and cannot run inside jax.jit or "
                        f"jax.vmap (vmap jaxbp.fit instead)")

    static_l2 = isinstance(step.l2, float)
    values = {k: jnp.asarray(v, x.dtype) for k, v in step.values.items()}
    static = dict(net=net, cost=cost, optimizer=step.optimizer, grad=grad, labels=step.labels,
                  l2_const=step.l2 if static_l2 else None, batch_size=batch_size,
                  drop_last=bool(drop_last))
    l2_in = None if static_l2 else step.l2
    opt_state = step.init(params)
    args = lambda e: (params, opt_state, x, y, key, jnp.asarray(e, jnp.int32), values, l2_in,
                      x_test, y_test)
    start = time.perf_counter()
    _epoch.lower(*args(0), **static).compile()  # cached: the calls below reuse it
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    records, bad, before = [], -1, None
    for e in range(epochs):
        earlier, before = before, (params, opt_state)
        params, opt_state, *record = _epoch(*args(e), **static)
        records.append(jax.device_get(record))
        losses = np.asarray(records[-1][0])
        if progress:
            correct = records[-1][-1]
            print(f"Epoch {e}: {int(correct)} / {x_test.shape[0]}" if test is not None
                  else f"Epoch {e} complete", flush=True)
        if not np.isfinite(losses).all():  # divergence, found after the epoch ran
            j = int(np.flatnonzero(~np.isfinite(losses))[0])
            bad = sum(len(r[0]) for r in records[:-1]) + j
            if j > 0 or earlier is None:  # the last finite params: after step bad - 1
                params = _replay(step, *before, x, y, key, e, batch_size, j - 1)
            else:
                params = _replay(step, *earlier, x, y, key, e - 1, batch_size, losses.size - 1)
            records[-1][0] = np.where(np.arange(losses.size) >= j, np.nan, losses)
            break
    train_seconds = time.perf_counter() - start
    losses, train_cost, test_cost, correct = (np.stack(r) if r[0] is not None else None
                                              for r in zip(*records))
    history = EpochHistory(train_cost, losses, test_cost,
                           None if correct is None else correct.astype(np.int64),
                           None if x_test is None else int(x_test.shape[0]),
                           compile_seconds, train_seconds)
    if bad >= 0 and on_diverge == "raise":
        message = _diverged(fn, bad, bad + 1, losses.reshape(-1), _rate(optimizer),
                            f" (epoch {len(records) - 1})")
        raise NonFiniteError(message, step=bad, params=params, history=history)
    return params, history


def _replay(step, params, opt_state, x, y, key, epoch, batch_size, count):
    """The params after the first ``count`` steps of ``epoch`` (the failure path only):
    the last ones whose loss was finite."""
    perm = epoch_order(key, epoch, x.shape[0])
    update = jax.jit(step)
    for j in range(max(count, 0)):
        idx = perm[j * batch_size:(j + 1) * batch_size]
        _, params, opt_state = update(params, opt_state, x[idx], y[idx])
    return params
