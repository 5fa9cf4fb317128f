"""Rosenblatt's perceptron, and a single sigmoid unit for comparison.

The perceptron is one unit with a step activation, trained by the classic rule::

    prediction = step(w . x + b),     step(z) = 1 if z > 0 else 0     (so step(0) = 0)
    w <- w + lr * (y - prediction) * x
    b <- b + lr * (y - prediction)

applied online, one sample at a time in the order given; one epoch is one pass over the
data. Training starts from ``w = 0, b = 0``. Because the start is zero, every weight is ``lr``
times an integer combination of the inputs, so ``lr`` rescales ``w`` and ``b`` but never
changes a prediction (up to rounding); ``lr = 1`` keeps every number an exact integer on
0/1 inputs. The choice ``step(0) = 0`` matters: with zero initial weights the very first
prediction is made at z = 0, and the learned weights follow from it.

Training stops when an epoch makes no mistake (``converged``: the data are linearly
separable and the weights separate them, by the perceptron convergence theorem). On data
that are not linearly separable it never stops by itself -- by the perceptron cycling
theorem the weights revisit earlier states forever. :func:`fit` therefore compares the
weights after each epoch with those at the start of every earlier epoch and stops with
``cycled=True`` at the first exact repeat: the rule is deterministic, so from there it loops
forever. That way "never converges" is shown, not inferred from running out of epochs.
"""
from functools import partial
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks


class PerceptronResult(NamedTuple):
    """Result of :func:`fit` (every field is a jax array, so :func:`fit` works under
    ``jit``/``vmap``).

    w, b: final weights ``(n_in,)`` and bias ``()``.
    converged: the last epoch made no mistake, so ``predict(w, b, x) == y`` on every row.
    epochs: passes made over the data (including the final mistake-free one).
    cycled: the weights after the last epoch equal those at the start of an earlier epoch,
      ``w_history[epochs] == w_history[cycle_start]``: training would loop forever.
    cycle_start: that earlier epoch (-1 if not cycled). cycle_length: ``epochs -
      cycle_start`` (0 if not cycled).
    w_history, b_history: ``w_history[k]`` is the weights at the start of epoch k
      (``w_history[0]`` = zeros, ``w_history[epochs]`` = final ``w``); shape
      ``(max_epochs + 1, n_in)``, padded past ``epochs`` by repeating the final weights.
    errors: mistakes (= updates) in each epoch, ``(max_epochs,)``; -1 past ``epochs``.
    """
    w: jax.Array
    b: jax.Array
    converged: jax.Array
    epochs: jax.Array
    cycled: jax.Array
    cycle_start: jax.Array
    cycle_length: jax.Array
    w_history: jax.Array
    b_history: jax.Array
    errors: jax.Array


def step(z: jax.Array) -> jax.Array:
    """The perceptron's activation: 1 where ``z > 0``, else 0 (so ``step(0) = 0``)."""
    return (z > 0).astype(z.dtype)


def predict(w: Any, b: Any, x: Any) -> jax.Array:
    """0/1 predictions ``step(x @ w + b)``, shape ``(batch, 1)`` (``(1,)`` for one sample
    ``x`` of shape ``(n_in,)``), in the dtype of ``w`` -- directly comparable with the ``y``
    of :func:`jaxbp.gates.truth_table`."""
    w, b = _check_weights("perceptron.predict", w, b)
    x, one = _prepare_x("perceptron.predict", x, w.shape[0], w.dtype)
    out = step(x @ w + b)[:, None]
    return out[0] if one else out


def fit(x: Any, y: Any, lr: float = 1.0, max_epochs: int = 100,
        detect_cycles: bool = True) -> PerceptronResult:
    """Train a perceptron on ``x`` ``(batch, n_in)`` with labels ``y`` in {0, 1}, shape
    ``(batch, 1)`` or ``(batch,)``; returns a :class:`PerceptronResult`.

    Stops when an epoch makes no mistake (``converged``), when the weights repeat
    (``cycled``, unless ``detect_cycles=False``), or after ``max_epochs``. Integer and
    bool inputs are cast to float32; float inputs keep their dtype. The whole run is one
    compiled ``lax.while_loop`` over epochs with a ``lax.scan`` over the samples.
    """
    fn = "perceptron.fit"
    x, _ = _prepare_x(fn, x, None, _float_dtype(x))
    y = _prepare_labels(fn, y, x.shape[0], x.dtype)
    lr = _check_lr(fn, lr)
    max_epochs = _check_int(fn, "max_epochs", max_epochs)
    return _fit(x, y, jnp.asarray(lr, x.dtype), max_epochs, bool(detect_cycles))


@partial(jax.jit, static_argnums=(3, 4))
def _fit(x, y, lr, max_epochs, detect_cycles):
    """The unchecked kernel: x ``(n, d)`` float, y ``(n,)`` of 0/1 in x's dtype."""
    n_in, dtype = x.shape[1], x.dtype
    slots = jnp.arange(max_epochs + 1)

    def one_epoch(w, b):
        def one_sample(wb, xy):
            w, b = wb
            xi, yi = xy
            update = lr * (yi - step(xi @ w + b))
            return (w + update * xi, b + update), update != 0
        (w, b), wrong = jax.lax.scan(one_sample, (w, b), (x, y))
        return w, b, jnp.sum(wrong)

    def not_done(s):
        epoch, converged, cycled = s[0], s[1], s[2]
        return (epoch < max_epochs) & ~converged & ~cycled

    def body(s):
        epoch, _, _, _, w_hist, b_hist, errors = s
        w, b, mistakes = one_epoch(w_hist[epoch], b_hist[epoch])
        epoch = epoch + 1
        later = slots >= epoch  # pad the history with the newest weights
        w_hist = jnp.where(later[:, None], w[None, :], w_hist)
        b_hist = jnp.where(later, b, b_hist)
        errors = errors.at[epoch - 1].set(mistakes)
        converged = mistakes == 0
        seen = jnp.all(w_hist == w[None, :], axis=1) & (b_hist == b) & (slots < epoch)
        cycled = jnp.any(seen) & ~converged & detect_cycles
        cycle_start = jnp.where(cycled, jnp.argmax(seen), -1)
        return epoch, converged, cycled, cycle_start, w_hist, b_hist, errors

    init = (jnp.asarray(0), jnp.asarray(False), jnp.asarray(False), jnp.asarray(-1),
            jnp.zeros((max_epochs + 1, n_in), dtype), jnp.zeros((max_epochs + 1,), dtype),
            jnp.full((max_epochs,), -1))
    epoch, converged, cycled, start, w_hist, b_hist, errors = jax.lax.while_loop(
        not_done, body, init)
    length = jnp.where(cycled, epoch - start, 0)
    return PerceptronResult(w_hist[epoch], b_hist[epoch], converged, epoch, cycled, start,
                            length, w_hist, b_hist, errors)


class SigmoidUnit(NamedTuple):
    """Result of :func:`fit_sigmoid_unit`: weights ``(n_in,)``, bias ``()``, the unit's
    outputs on the training inputs ``(batch, 1)`` and the loss before each step."""
    w: jax.Array
    b: jax.Array
    outputs: jax.Array
    history: jax.Array


def fit_sigmoid_unit(x: Any, y: Any, lr: float = 1.0, steps: int = 1000,
                     key: Optional[jax.Array] = None) -> SigmoidUnit:
    """Logistic regression: one sigmoid unit ``sigmoid(x @ w + b)`` trained by full-batch
    gradient descent on the binary cross-entropy, with manual backprop (:func:`jaxbp.fit`
    on ``MLP((n_in, 1))``).

    It starts from the default random initialisation drawn with ``key`` (default
    ``jax.random.key(0)``). Like the perceptron it can only draw one line; unlike the
    perceptron it then settles on the best smooth compromise -- on XOR every output goes
    to 0.5.
    """
    from .network import MLP
    from .train import fit as fit_mlp
    fn = "perceptron.fit_sigmoid_unit"
    x, _ = _prepare_x(fn, x, None, _float_dtype(x))
    y = jnp.reshape(y, (-1, 1)) if jnp.ndim(y) == 1 else y
    lr = _check_lr(fn, lr)
    steps = _check_int(fn, "steps", steps)
    key = jax.random.key(0) if key is None else _checks.check_key(fn, key)
    net = MLP((x.shape[1], 1), output="sigmoid")
    params = net.init(key, dtype=x.dtype)
    params, history = fit_mlp(net, params, x, y, "cross_entropy", lr, steps)
    w, b = params[0]["W"][:, 0], params[0]["b"][0]
    return SigmoidUnit(w, b, net.apply(params, x), history)


# ---- validation (plain Python on shapes, dtypes and concrete values) -------------------

def _float_dtype(x):
    """x's float dtype as jax holds it (float64 only with x64 on), else float32."""
    dtype = getattr(x, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jnp.floating):
        return jax.dtypes.canonicalize_dtype(dtype)
    return np.dtype(np.float32)


def _check_weights(fn, w, b):
    w, b = jnp.asarray(w), jnp.asarray(b)
    if w.ndim != 1 or not jnp.issubdtype(w.dtype, jnp.floating):
        raise ValueError(f"{fn}: w must be a 1-D float array (n_in,), got {w.dtype} "
                         f"{tuple(w.shape)}")
    if b.size != 1 or b.ndim > 1:
        raise ValueError(f"{fn}: b must be a scalar (shape () or (1,)), got shape {tuple(b.shape)}")
    return w, b.reshape(()).astype(w.dtype)


def _prepare_x(fn, x, n_in, dtype):
    """x as a (batch, n_in) array of ``dtype``, and whether it was one sample (1-D)."""
    one = np.ndim(x) == 1
    x2 = _checks.as_batch(fn, x, dtype, n_in, f"w has {n_in} weights")
    if x2.shape[1] == 0:
        raise ValueError(f"{fn}: x has no features, shape {tuple(np.shape(x))}")
    return x2, one


def _prepare_labels(fn, y, n, dtype):
    y = _checks.as_real_array(fn, "y", y)
    if tuple(y.shape) not in ((n,), (n, 1)):
        raise ValueError(f"{fn}: y must have shape ({n}, 1) or ({n},) to match x's {n} rows, "
                         f"got {tuple(y.shape)}")
    if _checks.is_concrete(y):
        values = np.asarray(y, dtype=np.float64).reshape(-1)
        bad = values[(values != 0) & (values != 1)]
        if bad.size:
            raise ValueError(f"{fn}: perceptron labels must be in {{0, 1}}, got {bad[0]:g}"
                             + (" (for -1/+1 labels pass (y + 1) / 2)" if bad[0] == -1 else ""))
    return jnp.asarray(y, dtype).reshape(-1)


def _check_lr(fn, lr):
    return _checks.check_number(fn, "lr", lr, *_checks.POSITIVE)


def _check_int(fn, name, value):
    return _checks.check_positive_int(fn, name, value)
