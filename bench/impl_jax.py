"""The plain JAX peers: the training loop a JAX user writes without jaxbp.

The same sigmoid net and quadratic cost, ``optax.sgd`` and a ``lax.scan`` over the steps,
returning ``(params, losses)`` as ``jaxbp.fit`` returns ``(params, history)``:

* ``jax-autodiff``: the gradient by ``jax.value_and_grad`` of the cost (the 15-line loop);
* ``jax-manual``: the same loop with BP1-BP4 written plainly in it (no jaxbp).

Timed on W2, ``jax.jit(jax.vmap(lambda p: train(p, x, y, ...)))`` over the 1,024 inits
(x and y closed over, as jaxbp's W2 row calls ``fit``), and W5, one ``jax.jit`` of the loop
with x, y and the mini-batch indices its arguments; the indices are the rows the bench
hands every implementation (the permutations ``fit`` draws), gathered as ``x[idx]``.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .workloads import USER_PATHS


def forward(params, x):
    activations = [x]
    for layer in params:
        activations.append(jax.nn.sigmoid(activations[-1] @ layer["W"] + layer["b"]))
    return activations


def cost(params, x, y):
    a = forward(params, x)[-1]
    return jnp.mean(0.5 * jnp.sum((a - y) ** 2, axis=-1))


def manual_value_and_grad(params, x, y):
    """The cost and its gradient by Nielsen's four equations, written plainly."""
    activations = forward(params, x)
    a, n = activations[-1], x.shape[0]
    loss = jnp.mean(0.5 * jnp.sum((a - y) ** 2, axis=-1))
    delta = (a - y) * a * (1 - a)                                                   # BP1
    grads = [None] * len(params)
    for l in reversed(range(len(params))):
        grads[l] = {"W": activations[l].T @ delta / n,                             # BP4
                    "b": jnp.mean(delta, axis=0)}                                   # BP3
        if l:
            a = activations[l]
            delta = (delta @ params[l]["W"].T) * a * (1 - a)                         # BP2
    return loss, tuple(grads)


VALUE_AND_GRAD = {"autodiff": jax.value_and_grad(cost), "manual": manual_value_and_grad}


def train(params, x, y, batches, *, grad, tx, steps):
    """``steps`` updates of ``tx``; ``batches`` is None (full batch) or ``(steps, batch)``."""
    value_and_grad = VALUE_AND_GRAD[grad]

    def step(carry, idx):
        params, opt_state = carry
        xb, yb = (x, y) if idx is None else (x[idx], y[idx])
        loss, grads = value_and_grad(params, xb, yb)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), batches, length=steps)
    return params, losses


def _numpy(params):
    return [(np.asarray(layer["W"]), np.asarray(layer["b"])) for layer in params]


def runner(grad):
    def build(w, params0, data, batches):
        assert (w.output, w.cost, w.frozen_biases) == ("sigmoid", "quadratic", False), w
        params = tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in params0)
        x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
        idx = None if batches is None else jnp.asarray(batches, jnp.int32)
        tx = optax.sgd(w.lr)

        if w.wid == "W2":   # as jaxbp's W2 row calls fit: x and y closed over
            many = jax.jit(jax.vmap(lambda p: train(p, x, y, None, grad=grad, tx=tx,
                                                    steps=w.steps)))
            call = lambda: many(params)  # noqa: E731
        else:
            one = jax.jit(lambda p, x, y, idx: train(p, x, y, idx, grad=grad, tx=tx,
                                                     steps=w.steps))
            call = lambda: one(params, x, y, idx)  # noqa: E731

        def run():
            new, losses = jax.block_until_ready(call())
            np.asarray(losses)
            return _numpy(new)
        return run
    return build


def variants():
    return {
        "jax-autodiff": ("plain JAX: `value_and_grad` + `optax.sgd` + `lax.scan` (peer)",
                         dict.fromkeys(USER_PATHS, runner("autodiff")), set()),
        "jax-manual": ("plain JAX: BP1-BP4 by hand + `optax.sgd` + `lax.scan` (peer)",
                       dict.fromkeys(USER_PATHS, runner("manual")), set()),
    }
