"""jaxbp as a user would call it: ``jaxbp.fit`` (manual BP1-BP4 or its autodiff twin), and
for the sweep W2 also ``jax.jit(jax.vmap(fit))`` and ``jaxbp.sweep.train_many``.

Every timed call is the public function, validation included, blocked until the result
is ready and copied to NumPy.
"""
import jax
import jax.numpy as jnp
import numpy as np

import jaxbp

from .workloads import n_train


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


def fit_runner(grad):
    def build(w, params0, data, batches):
        net, params = _net(w), _params(params0)
        x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
        if w.wid == "W2":
            many = jax.jit(jax.vmap(lambda p: jaxbp.fit(net, p, x, y, w.cost, w.lr, w.steps,
                                                         grad=grad)[0]))
            return lambda: _numpy(jax.block_until_ready(many(params)))
        kwargs = _fit_kwargs(w)

        def run():
            new, _ = jaxbp.fit(net, params, x, y, w.cost, w.lr, w.steps, grad=grad, **kwargs)
            return _numpy(jax.block_until_ready(new))
        return run
    return build


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
        "jaxbp-manual": ("jaxbp manual (`fit`, BP1-BP4)", dict.fromkeys(all5, fit_runner("manual")),
                         set()),
        "jaxbp-autodiff": ("jaxbp autodiff twin (`fit`, jax.grad)",
                           dict.fromkeys(all5, fit_runner("autodiff")), set()),
    }
    try:
        jaxbp.sweep.train_many
    except AttributeError:
        pass
    else:
        out["jaxbp-train_many"] = ("jaxbp `sweep.train_many` (manual)", {"W2": train_many_runner}, set())
    return out
