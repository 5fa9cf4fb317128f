"""Worked examples from the classic backprop tutorials, as data.

* :func:`mazur` -- Matt Mazur's "A Step by Step Backpropagation Example" (2-2-2 sigmoid
  net, quadratic cost, biases not trained).
* :func:`no_bias_221` -- the 2-2-1 sigmoid net without biases often used in lecture notes.
* :func:`xnor_by_hand` -- XNOR = OR(AND(x1, x2), NOR(x1, x2)) with hand-set weights.

Arrays are float64 when ``jax_enable_x64`` is on, else float32.

**Figures that do not follow from the method.** Mazur's post prints, after one update, a
total error of 0.291027924, and after 10,000 updates 0.0000351085 with outputs
0.015912196 / 0.984065734. Its own method (every gradient from the same forward and
backward pass, then all weights updated: the *standard* method) gives 0.29102777369...
after one update and, after 10,000 updates, 3.5101878e-05 with outputs 0.0159136 /
0.9840643 (float64, correctly rounded: 3.51018778e-05, 0.0159136204, 0.984064274). The
printed figures mix two methods and an off-by-one:

* 0.291027924 and the outputs 0.015912196 / 0.984065734 are those of the *sequential*
  method, which updates the output weights first and then computes the hidden deltas with
  the already-updated weights (0.29102792390 after one update; 0.0159121963 / 0.984065734
  after 10,000). It is named here as a method that reproduces them, not as what the
  author's script did (a check of the committed versions of his script found that they
  divide the error by the number of outputs, and would print half of 0.291027924).
* 0.0000351085 is the *standard* method's error after 9,999 updates (3.51085481e-05), not
  after 10,000, and not the sequential method's (3.50914538e-05 after 9,999, 3.50847863e-05
  after 10,000): the error was printed before the last update.

:func:`train_example` with ``as_published=True`` runs the sequential method: it reproduces
0.291027924 and the two outputs exactly, but not 0.0000351085 (no single method does).

In the 2-2-1 example the exact float64 results are output 0.69028349, E 0.0181039 and
updated output weights [0.27232597, 0.87299836]. The often-quoted 0.272392 / 0.87305 come
from rounding alone: intermediates rounded to four digits in the hand calculation
(0.3 - 0.0406 * 0.68 = 0.272392). They are *output* weights, and the update order cannot
change them (the output layer's gradient does not depend on any other update); the order
(standard or sequential) only changes the hidden weights.

**Nielsen's network2 ``lmbda``.** His cost is C0 + (lmbda / 2n) sum w^2 with n =
``len(training_data)``; jaxbp's is C0 + (l2 / 2) sum W^2, so pass ``l2 = lmbda /
len(training_data)`` (not divided by the mini-batch size). ``l2`` is an L2 term in the
cost, differentiated like the rest of it: it equals weight decay (w <- (1 - eta l2) w -
eta dC0/dw, network2's update) only under plain SGD; with momentum or Adam the L2 term is
rescaled by the optimizer and is not decoupled weight decay (that is
``optax.add_decayed_weights`` / ``optax.adamw``).
"""
from functools import partial
from typing import Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._types import Params
from .network import MLP, feedforward


class Example(NamedTuple):
    """A worked example: architecture, initial parameters, one training pair, the learning
    rate, the cost, and which parameters are trained (a pytree of bools like ``params``)."""
    name: str
    net: MLP
    params: Params
    x: jax.Array
    y: jax.Array
    lr: float
    cost: str
    trainable: Tuple[Dict[str, bool], ...]


def _dtype():
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


def _layer(W, b, trainable_b):
    dtype = _dtype()
    return {"W": jnp.asarray(W, dtype), "b": jnp.asarray(b, dtype)}, {"W": True, "b": trainable_b}


def mazur() -> Example:
    """The 2-2-2 step-by-step example. Our ``W`` is (n_in, n_out): ``W[i, j]`` connects input
    i to unit j, so w1 (i1->h1) is ``W1[0, 0]``, w2 (i2->h1) ``W1[1, 0]``, w3 (i1->h2)
    ``W1[0, 1]``, w4 (i2->h2) ``W1[1, 1]``; likewise w5..w8 in ``W2``."""
    hidden, t1 = _layer([[.15, .25], [.20, .30]], [.35, .35], False)
    output, t2 = _layer([[.40, .50], [.45, .55]], [.60, .60], False)
    dtype = _dtype()
    return Example("mazur", MLP((2, 2, 2), "sigmoid", "sigmoid"), (hidden, output),
                   jnp.asarray([[.05, .10]], dtype), jnp.asarray([[.01, .99]], dtype), 0.5,
                   "quadratic", (t1, t2))


def no_bias_221() -> Example:
    """The 2-2-1 example without biases: hidden weights [[0.1, 0.8], [0.4, 0.6]] (one row
    per hidden unit, i.e. the transpose of our ``W1``), output weights [0.3, 0.9]."""
    hidden, t1 = _layer(np.transpose([[0.1, 0.8], [0.4, 0.6]]), [0.0, 0.0], False)
    output, t2 = _layer([[0.3], [0.9]], [0.0], False)
    dtype = _dtype()
    return Example("no_bias_221", MLP((2, 2, 1), "sigmoid", "sigmoid"), (hidden, output),
                   jnp.asarray([[0.35, 0.9]], dtype), jnp.asarray([[0.5]], dtype), 1.0,
                   "quadratic", (t1, t2))


def xnor_by_hand() -> Tuple[MLP, Params]:
    """XNOR from three sigmoid units: hidden AND (bias -30, weights 20, 20) and NOR (10,
    -20, -20), output OR (-10, 20, 20). Returns ``(net, params)``."""
    hidden, _ = _layer([[20., -20.], [20., -20.]], [-30., 10.], True)
    output, _ = _layer([[20.], [20.]], [-10.], True)
    return MLP((2, 2, 1), "sigmoid", "sigmoid"), (hidden, output)


EXAMPLES = {"mazur": mazur, "no_bias_221": no_bias_221}


def train_example(ex: Example, steps: int, as_published: bool = False) -> Tuple[Params, jax.Array]:
    """Train a worked example with plain gradient descent at ``ex.lr`` for ``steps``
    updates, keeping frozen parameters fixed.

    ``as_published=False`` is the method as the tutorials describe it (via
    :func:`jaxbp.fit`). ``as_published=True`` is the sequential method: it updates layer by
    layer from the output down and computes each layer's delta with the weights above it
    *already updated*; it reproduces the post's error after one update and its outputs
    after 10,000 updates, but not its final error (see the module docstring).

    Returns ``(params, errors)``: ``errors[k]`` is the cost after k updates, k = 0..steps.
    """
    steps = int(steps)
    if as_published:
        return _sequential(ex.net, _checks.resolve_cost("train_example", ex.cost, ex.net.output),
                           ex.params, ex.x, ex.y, ex.lr, _static(ex.trainable), steps)
    from .autodiff import loss
    from .train import fit
    params, history = fit(ex.net, ex.params, ex.x, ex.y, ex.cost, ex.lr, steps,
                          trainable=ex.trainable)
    return params, jnp.append(history, loss(ex.net, params, ex.x, ex.y, ex.cost))


def _static(trainable):
    return tuple((bool(t["W"]), bool(t["b"])) for t in trainable)


@partial(jax.jit, static_argnums=(0, 1, 6, 7))
def _sequential(net, cost, params, x, y, lr, trainable, steps):
    sigma, n = net.layers, x.shape[0]

    def error(params):
        zs, _ = feedforward(net, params, x)
        return jnp.mean(cost.value(zs[-1], y, sigma[-1]))

    def step(params, _):
        zs, activations = feedforward(net, params, x)
        params = list(params)
        delta = cost.delta(zs[-1], y, sigma[-1])
        for l in reversed(range(len(params))):
            train_W, train_b = trainable[l]
            W = params[l]["W"] - lr * train_W * (activations[l].T @ delta / n)
            b = params[l]["b"] - lr * train_b * jnp.mean(delta, axis=0)
            params[l] = {"W": W, "b": b}
            if l:  # the delta below is computed with the weights just updated
                delta = (delta @ W.T) * sigma[l - 1].prime(zs[l - 1])
        params = tuple(params)
        return params, error(params)

    final, errors = jax.lax.scan(step, params, None, length=steps)
    return final, jnp.concatenate([error(params)[None], errors])
