"""Training: the whole run is one compiled program (``lax.scan`` over the steps).

State is threaded explicitly: ``(params, opt_state)`` in, ``(params, opt_state)`` out, one
step at a time; the Python code runs once, when the run is traced.
"""
import numbers
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _checks
from .autodiff import _value_and_grad
from .backprop import _trace

GRADS = ("manual", "autodiff")


def _manual(net, cost, params, x, y, l2):
    tr = _trace(net, cost, params, x, y, l2)
    return tr.loss, tr.grads


_GRAD_FNS = {"manual": _manual, "autodiff": _value_and_grad}


def check_learning_rate(fn, lr):
    """A finite float > 0, or a schedule (callable) (E29)."""
    if callable(lr):
        return lr
    if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, (numbers.Real, np.ndarray, jax.Array)) \
            or np.ndim(lr) != 0:
        raise TypeError(f"{fn}: learning_rate must be a finite float > 0, got {lr!r}")
    if not (np.isfinite(float(lr)) and float(lr) > 0):
        raise ValueError(f"{fn}: learning_rate must be a finite float > 0, got {float(lr)}")
    return float(lr)


def check_positive_int(fn, name, value, upper=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{fn}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0 or (upper is not None and value > upper):
        rng = f"in [1, {upper}]" if upper is not None else "> 0"
        raise ValueError(f"{fn}: {name} must be an int {rng}, got {value}")
    return int(value)


def _labels(fn, params, trainable):
    """The static label tree for ``optax.multi_transform``: "train" or "freeze" per leaf."""
    if trainable is None:
        return None
    try:
        full = jax.tree_util.tree_map(lambda t, _: bool(t), trainable, params)
    except ValueError as e:
        raise ValueError(f"fit: trainable must have the structure of params (or a prefix of it): {e}") from None
    return tuple(tuple(sorted((k, "train" if v else "freeze") for k, v in layer.items())) for layer in full)


def _transform(optimizer, labels):
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.0) if optimizer == "sgd" else optimizer
    if labels is None:
        return tx
    tree = tuple(dict(layer) for layer in labels)
    return optax.multi_transform({"train": tx, "freeze": optax.set_to_zero()}, tree)


def fit(net, params, x, y, cost, optimizer, steps, batch_size=None, grad="manual", key=None,
        l2=0.0, trainable=None, on_diverge="raise"):
    """Train ``params`` for ``steps`` optimizer steps; returns ``(params, history)``.

    Args:
      optimizer: an ``optax.GradientTransformation``, or a number: plain SGD at that
        learning rate (the rate is then a traced value, so changing it does not recompile).
      steps: number of updates. ``history[i]`` is the loss of the batch used at step i,
        before that step's update.
      batch_size: None for full batch; otherwise mini-batches drawn without replacement
        from a fresh permutation each epoch (seeded by ``key``). When it does not divide n,
        the last ``n % batch_size`` samples of each epoch's permutation are dropped.
      grad: ``"manual"`` (BP1-BP4) or ``"autodiff"`` (``jax.grad``).
      trainable: optional pytree of bools like ``params`` (or a prefix, e.g.
        ``({"W": True, "b": False},) * n_layers``); frozen leaves are never updated.
      on_diverge: ``"raise"`` (default) raises :class:`jaxbp.NonFiniteError` when the loss
        becomes NaN or inf, carrying the step, the history and the last parameters whose loss
        was finite; ``"return"`` returns those instead. Under ``jit``/``vmap`` it cannot raise:
        the parameters freeze at the last finite ones and the history is NaN from then on.
    """
    cost, x, y, l2 = _checks.prepare("fit", net, params, x, y, cost, l2)
    steps = check_positive_int("fit", "steps", steps)
    if batch_size is not None:
        batch_size = check_positive_int("fit", "batch_size", batch_size, upper=x.shape[0])
        if key is None:
            raise ValueError(f"fit: batch_size={batch_size} shuffles mini-batches and needs "
                             f"key=jax.random.key(seed); got key=None")
    key = jax.random.key(0) if key is None else _checks.check_key("fit", key)
    if grad not in GRADS:
        _checks.choose("fit", "grad", grad, dict.fromkeys(GRADS))
    if on_diverge not in ("raise", "return"):
        raise ValueError(f"fit: on_diverge must be 'raise' or 'return', got {on_diverge!r}")
    if isinstance(optimizer, optax.GradientTransformation):
        lr, static_opt = None, optimizer
    else:
        lr, static_opt = check_learning_rate("fit", optimizer), "sgd"
        lr = jnp.asarray(lr, x.dtype)
    labels = _labels("fit", params, trainable)
    new_params, history, bad_step = _run(params, x, y, key, l2, lr, net=net, cost=cost,
                                         optimizer=static_opt, labels=labels, steps=steps,
                                         batch_size=batch_size, grad=grad)
    if _checks.is_concrete(bad_step) and int(bad_step) < steps:
        k = int(bad_step)
        last = f"last finite loss {float(history[k - 1]):.4g}" if k else "no finite loss"
        rate = f"learning_rate={float(lr)}" if lr is not None else f"optimizer {optimizer}"
        message = (f"fit: non-finite loss at step {k} ({rate}); {last}. "
                   f"Try a smaller learning rate.")
        if on_diverge == "raise":
            raise _checks.NonFiniteError(message, step=k, params=new_params, history=history)
    return new_params, history


@partial(jax.jit, static_argnames=("net", "cost", "optimizer", "labels", "steps", "batch_size", "grad"))
def _run(params, x, y, key, l2, lr, *, net, cost, optimizer, labels, steps, batch_size, grad):
    """The unchecked training kernel. Returns ``(params, history, first_bad_step)``."""
    tx = _transform(optimizer, labels)
    opt_state = tx.init(params)
    if lr is not None:
        inner = opt_state.inner_states["train"].inner_state if labels else opt_state
        inner.hyperparams["learning_rate"] = lr
    value_and_grad = _GRAD_FNS[grad]
    n = x.shape[0]
    if batch_size is not None:
        per_epoch = n // batch_size
        epochs = -(-steps // per_epoch)
        perms = jax.vmap(lambda k: jax.random.permutation(k, n))(
            jax.random.split(key, epochs))

    def step(carry, i):
        params, opt_state, last_finite, bad_step = carry
        if batch_size is None:
            xb, yb = x, y
        else:
            idx = jax.lax.dynamic_slice(perms[i // per_epoch], ((i % per_epoch) * batch_size,),
                                        (batch_size,))
            xb, yb = x[idx], y[idx]
        loss, grads = value_and_grad(net, cost, params, xb, yb, l2)
        updates, new_opt_state = tx.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        ok = jnp.isfinite(loss) & (bad_step == steps)
        pick = lambda a, b: jax.tree_util.tree_map(lambda u, v: jnp.where(ok, u, v), a, b)
        carry = (pick(new_params, params), pick(new_opt_state, opt_state), pick(params, last_finite),
                 jnp.where(ok | (bad_step < steps), bad_step, i))
        return carry, jnp.where(ok, loss, jnp.nan)

    init = (params, opt_state, params, jnp.asarray(steps))
    (params, _, last_finite, bad_step), history = jax.lax.scan(step, init, jnp.arange(steps))
    diverged = bad_step < steps
    params = jax.tree_util.tree_map(lambda a, b: jnp.where(diverged, a, b), last_finite, params)
    return params, history, bad_step
