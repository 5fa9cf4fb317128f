"""jaxbp as users call it: ``jaxbp.fit`` (manual BP1-BP4 or its autodiff twin) with a number
as the optimizer (the eager call), and with ``optax.sgd`` inside the user's own
``jax.jit``; for the sweep W2 both as ``jax.jit(jax.vmap(fit))``, and ``sweep.train_many``.

Every timed call is the public function, validation included, blocked until the result
(params and the loss history) is ready and copied to NumPy.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxbp

from .workloads import USER_PATHS, n_train


def _net(w):
    return jaxbp.MLP(w.sizes, hidden="sigmoid", output=w.output)


def _params(params0):
    return tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in params0)


def _numpy(params):
    return [(np.asarray(layer["W"]), np.asarray(layer["b"])) for layer in params]


def _fit_kwargs(w):
    kwargs = {}
    if w.batch:
        kwargs.update(batch_size=w.batch, key=jax.random.key(w.seed))
    if w.frozen_biases:
        kwargs["trainable"] = ({"W": True, "b": False},) * (len(w.sizes) - 1)
    return kwargs


def fit_permutations(w):
    """The permutations ``jaxbp.fit`` draws for ``w``, by the scheme its docstring documents:
    epoch e visits the samples in the order ``jaxbp.shuffle.epoch_order(key, e, n)``. Every
    peer trains on the same mini-batches; :func:`check_permutations` verifies the replica
    against ``fit``."""
    key = jax.random.key(w.seed)
    epochs = -(-w.steps // w.per_epoch)
    return np.stack([np.asarray(jaxbp.shuffle.epoch_order(key, e, n_train(w)))
                     for e in range(epochs)])


def check_permutations(w, params0, data, perms):
    """Does ``fit``'s first recorded loss equal the loss of the replica's first batch?"""
    net, params = _net(w), _params(params0)
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    _, history = jaxbp.fit(net, params, x, y, w.cost, w.lr, min(w.steps, w.per_epoch),
                           **_fit_kwargs(w))
    first = perms[0, :w.batch]
    expected = jaxbp.loss(net, params, x[first], y[first], w.cost)
    return bool(np.isclose(float(history[0]), float(expected), rtol=1e-5))


def fit_runner(grad, optax_sgd=False):
    """``fit`` as users call it. With a number as the optimizer: the eager call (W2:
    ``jax.jit(jax.vmap(fit))``). With ``optax_sgd``: ``fit(..., optax.sgd(lr), ...)`` inside
    the user's own ``jax.jit`` (W2: ``jax.jit(jax.vmap(fit))``), x and y its arguments (W2:
    closed over, as a sweep over XOR would). Every call returns ``(params, history)``."""
    def build(w, params0, data, batches):
        net, params = _net(w), _params(params0)
        x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
        optimizer = optax.sgd(w.lr) if optax_sgd else w.lr   # one object: one compilation
        kwargs = _fit_kwargs(w)
        if w.wid == "W2":
            many = jax.jit(jax.vmap(lambda p: jaxbp.fit(net, p, x, y, w.cost, optimizer, w.steps,
                                                         grad=grad)))
            return lambda: _numpy(_ready(many(params)))
        if optax_sgd:
            key = kwargs.pop("key", None)
            jitted = jax.jit(lambda p, x, y, key: jaxbp.fit(
                net, p, x, y, w.cost, optimizer, w.steps, grad=grad, key=key, **kwargs))
            return lambda: _numpy(_ready(jitted(params, x, y, key)))

        def run():
            return _numpy(_ready(jaxbp.fit(net, params, x, y, w.cost, optimizer, w.steps,
                                           grad=grad, **kwargs)))
        return run
    return build


def _ready(out):
    """Block on ``(params, history)`` and copy the history to NumPy; the params."""
    params, history = jax.block_until_ready(out)
    np.asarray(history)
    return params


def train_many_runner(w, params0, data, batches):
    net, params = _net(w), _params(params0)
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])

    def run():
        res = jaxbp.sweep.train_many(net, params, x, y, w.cost, w.lr, w.steps)
        return _numpy(jax.block_until_ready(res.params))
    return run


def variants():
    """name -> (label, {workload id: builder}, slow ids); a builder returns run()."""
    all5 = ("W1", "W2", "W3", "W4", "W5")
    out = {
        "jaxbp-manual": ("jaxbp manual (`fit`, lr a number)", dict.fromkeys(all5, fit_runner("manual")),
                         set()),
        "jaxbp-autodiff": ("jaxbp autodiff twin (`fit`, lr a number)",
                           dict.fromkeys(all5, fit_runner("autodiff")), set()),
        "jaxbp-optax-manual": ("jaxbp manual (`fit`, `optax.sgd`, in `jit`)",
                               dict.fromkeys(USER_PATHS, fit_runner("manual", True)), set()),
        "jaxbp-optax-autodiff": ("jaxbp autodiff twin (`fit`, `optax.sgd`, in `jit`)",
                                 dict.fromkeys(USER_PATHS, fit_runner("autodiff", True)), set()),
    }
    try:
        jaxbp.sweep.train_many
    except AttributeError:
        pass
    else:
        out["jaxbp-train_many"] = ("jaxbp `sweep.train_many` (manual)", {"W2": train_many_runner}, set())
    return out
